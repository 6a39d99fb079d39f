"""The word error rate of a transcription against the text it should say, through jiwer.

A scenario's user turn that says what it speaks can check the server's
input transcription against it. The counting is jiwer's (the maintained
WER library, the ``scenario`` extra: ``pip install 'rawlive[scenario]'``);
what is counted is this module's :func:`normalize`, applied to both texts
first, so that a transcript is not marked wrong for its spelling of the
same words:

1. Unicode NFC, then lower case.
2. Apostrophes (``'``, ``’``, ``ʼ``, ``‘``, `````) are removed: ``what's``
   and ``whats`` are one word.
3. Every other punctuation character (Unicode category ``P*``) becomes a
   space, except between two digits: ``3.5``, ``1,000`` and ``10:30`` stay
   whole. Numbers are otherwise left alone: ``3`` and ``three`` differ.
4. White space is collapsed and the ends stripped; words are what is left
   between spaces.

The rate is (substitutions + deletions + insertions) / words of the
reference: 0 is perfect, 1 is as many errors as words, and it can pass 1
when the transcript adds words. A reference without a word has no rate
(:class:`ConfigError`); an empty transcript against one has 1.0.
"""

from __future__ import annotations

import importlib
import unicodedata
from typing import Any

import msgspec

from rawlive.errors import ConfigError, WerMissing

__all__ = ["EXTRA_HINT", "WerDetails", "WerMissing", "normalize", "wer_details", "word_error_rate"]

EXTRA_HINT = "pip install 'rawlive[scenario]'"

_APOSTROPHES = frozenset("'’ʼ‘`")


class WerDetails(msgspec.Struct, kw_only=True):
    """How a transcript differs from its reference, word by word (after :func:`normalize`)."""

    #: (substitutions + deletions + insertions) / reference_words.
    wer: float
    hits: int
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int
    #: The two texts as compared (normalised).
    reference: str
    hypothesis: str
    #: The alignment on one line: words that match as they are, ``[ref->hyp]``
    #: a substitution, ``[-ref]`` a deletion, ``[+hyp]`` an insertion.
    diff: str

    def to_json(self) -> str:
        return msgspec.json.encode(self).decode("utf-8")

    def summary(self) -> str:
        """One line for a failure message: the rate, the counts, the diff."""
        return (
            f"WER {self.wer:.2f} ({self.substitutions} substituted, {self.deletions} deleted, "
            f"{self.insertions} inserted of {self.reference_words} words): {self.diff}"
        )


def normalize(text: str) -> str:
    """``text`` as the word error rate compares it (the module's rules 1 to 4)."""
    if not isinstance(text, str):
        raise ConfigError(f"a text to compare must be a string, not {type(text).__name__}")
    text = unicodedata.normalize("NFC", text).lower()
    out: list[str] = []
    last = len(text) - 1
    for i, char in enumerate(text):
        if char in _APOSTROPHES:
            continue
        if unicodedata.category(char).startswith("P"):
            between_digits = 0 < i < last and text[i - 1].isdigit() and text[i + 1].isdigit()
            out.append(char if between_digits else " ")
        else:
            out.append(char)
    return " ".join("".join(out).split())


def _jiwer() -> Any:
    try:
        return importlib.import_module("jiwer")
    except ImportError:
        raise WerMissing(
            f"the word error rate needs jiwer, the scenario extra: {EXTRA_HINT}"
        ) from None


def wer_details(reference: str, hypothesis: str) -> WerDetails:
    """The word error rate of ``hypothesis`` against ``reference``, with its counts and diff.

    :class:`WerMissing` when jiwer is not installed; :class:`ConfigError`
    when the reference has no word once normalised.
    """
    jiwer = _jiwer()
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        raise ConfigError(f"the reference text {reference!r} has no words to compare with")
    ref_words, hyp_words = ref.split(), hyp.split()
    output = jiwer.process_words(ref, hyp)
    diff: list[str] = []
    for chunk in output.alignments[0]:
        refs = ref_words[chunk.ref_start_idx : chunk.ref_end_idx]
        hyps = hyp_words[chunk.hyp_start_idx : chunk.hyp_end_idx]
        if chunk.type == "equal":
            diff.extend(refs)
        elif chunk.type == "substitute":
            diff.extend(f"[{r}->{h}]" for r, h in zip(refs, hyps, strict=True))
        elif chunk.type == "delete":
            diff.extend(f"[-{word}]" for word in refs)
        else:  # "insert"
            diff.extend(f"[+{word}]" for word in hyps)
    return WerDetails(
        wer=float(output.wer),
        hits=int(output.hits),
        substitutions=int(output.substitutions),
        deletions=int(output.deletions),
        insertions=int(output.insertions),
        reference_words=len(ref_words),
        reference=ref,
        hypothesis=hyp,
        diff=" ".join(diff),
    )


def word_error_rate(reference: str, hypothesis: str) -> float:
    """The word error rate of ``hypothesis`` against ``reference``: 0 perfect (module docs)."""
    return wer_details(reference, hypothesis).wer
