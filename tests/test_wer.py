"""The word error rate of a transcript (issue 18): rawlive.tools.wer on pairs counted by hand."""

from __future__ import annotations

import sys

import pytest

from rawlive.errors import ConfigError, WerMissing
from rawlive.tools import wer
from rawlive.tools.wer import normalize, wer_details, word_error_rate


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("What's the weather like in Paris today?", "whats the weather like in paris today"),
        ("WHAT’S   the\tweather…\n", "whats the weather"),
        ("Well-known, i.e. famous!", "well known i e famous"),
        ("It's 3.5 degrees, 1,000 people, at 10:30.", "its 3.5 degrees 1,000 people at 10:30"),
        ("3 or three (or 3.)", "3 or three or 3"),
        ("« Ça va ? » — oui", "ça va oui"),
        ("$5 and 20%", "$5 and 20"),
        ("", ""),
        ("?!", ""),
    ],
)
def test_normalisation(text: str, normalised: str) -> None:
    assert normalize(text) == normalised


# Each pair's counts worked out by hand: (reference, hypothesis, S, D, I, reference words, diff).
PAIRS = [
    # Only the spelling differs: no error.
    ("What's the weather like in Paris today?", "whats the weather like in paris today",
     0, 0, 0, 7, "whats the weather like in paris today"),
    ("the cat sat down", "the bat sat down", 1, 0, 0, 4, "the [cat->bat] sat down"),
    ("turn on the lights", "turn the lights", 0, 1, 0, 4, "turn [-on] the lights"),
    ("call mom", "please call mom", 0, 0, 1, 2, "[+please] call mom"),
    ("book a table for four", "book table for four please",
     0, 1, 1, 5, "book [-a] table for four [+please]"),
    ("it is 3 degrees", "it is three degrees", 1, 0, 0, 4, "it is [3->three] degrees"),
    ("yes", "oh yes indeed", 0, 0, 2, 1, "[+oh] yes [+indeed]"),
    ("red green blue", "", 0, 3, 0, 3, "[-red] [-green] [-blue]"),
    ("red green blue", "...", 0, 3, 0, 3, "[-red] [-green] [-blue]"),
]  # fmt: skip


@pytest.mark.parametrize(("ref", "hyp", "s", "d", "i", "n", "diff"), PAIRS)
def test_known_pairs(ref: str, hyp: str, s: int, d: int, i: int, n: int, diff: str) -> None:
    details = wer_details(ref, hyp)
    assert (details.substitutions, details.deletions, details.insertions) == (s, d, i)
    assert details.reference_words == n
    assert details.hits == n - s - d
    assert details.wer == pytest.approx((s + d + i) / n)
    assert word_error_rate(ref, hyp) == details.wer
    assert details.diff == diff
    assert details.reference == normalize(ref) and details.hypothesis == normalize(hyp)


def test_details_for_a_failure_message_and_as_json() -> None:
    details = wer_details("What's the weather like in Paris today?", "What's the whether like in")
    assert details.summary() == (
        "WER 0.43 (1 substituted, 2 deleted, 0 inserted of 7 words): "
        "whats the [weather->whether] like in [-paris] [-today]"
    )
    assert details.to_json() == (
        '{"wer":0.42857142857142855,"hits":4,"substitutions":1,"deletions":2,"insertions":0,'
        '"reference_words":7,"reference":"whats the weather like in paris today",'
        '"hypothesis":"whats the whether like in",'
        '"diff":"whats the [weather->whether] like in [-paris] [-today]"}'
    )


def test_a_reference_without_words_has_no_rate() -> None:
    with pytest.raises(ConfigError, match=r"the reference text '\?!' has no words"):
        word_error_rate("?!", "hello")
    with pytest.raises(ConfigError, match="must be a string"):
        word_error_rate(None, "hello")  # type: ignore[arg-type]


def test_without_jiwer_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jiwer", None)  # import jiwer now raises ImportError
    with pytest.raises(WerMissing) as caught:
        word_error_rate("a", "a")
    assert str(caught.value) == (
        "the word error rate needs jiwer, the scenario extra: pip install 'rawlive[scenario]'"
    )
    assert wer.EXTRA_HINT == "pip install 'rawlive[scenario]'"
