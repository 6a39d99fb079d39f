"""What the emulator answers a user turn with: a :class:`ReplyPlan`, and the tokens it counts.

A plan comes from the script's turn (:func:`reply_plan`: audio decoded to
24 kHz, call ids generated like the real server's) or, past the script, from
:func:`default_plan`, which is honest about being an emulator: it echoes the
caller's audio, or says what text arrived. :func:`usage` counts a turn's
tokens for its ``usageMetadata``: about 25 a second of audio, one per 4
characters of text, 258 a video frame the turn covers, unless the script
gives the counts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

from rawlive.servers.emulator.faults import Misplay
from rawlive.servers.emulator.script import Reply, Script
from rawlive.wire import types as t

__all__ = [
    "TOKENS_PER_AUDIO_SECOND",
    "TOKENS_PER_VIDEO_FRAME",
    "ReplyPlan",
    "default_plan",
    "filler_plan",
    "reply_plan",
    "silent",
    "usage",
]

TOKENS_PER_AUDIO_SECOND = 25
#: A video frame's prompt tokens: PROTOCOL.md gives no figure; 258 is what
#: Google's token guide gives an image or video frame at the default media
#: resolution (the emulator's choice, like the audio rate above).
TOKENS_PER_VIDEO_FRAME = 258


@dataclasses.dataclass
class ReplyPlan:
    """What the emulator does for one user turn, whatever its source.

    ``audio`` is 24 kHz s16le PCM. ``tool_calls`` are sent first; once every
    one has a response, ``after_tool`` is played (with its own fields).
    """

    text: str | None = None
    audio: bytes | None = None
    input_transcription: str | None = None
    output_transcription: str | None = None
    delay_ms: float = 0.0
    tool_calls: list[t.FunctionCall] = dataclasses.field(default_factory=list)
    after_tool: ReplyPlan | None = None
    #: What extended thinking says while its calls run (``None``: :func:`filler_plan`'s).
    filler: ReplyPlan | None = None
    prompt_tokens: int | None = None
    response_tokens: int | None = None
    #: How this attempt goes wrong (a script's turn faults), ``None``: as planned.
    misplay: Misplay | None = None


def reply_plan(script: Script, turn: int, *, call_ids: Iterator[int]) -> ReplyPlan | None:
    """The emulator's plan for user turn ``turn`` (from 1); ``None``: the default reply.

    Audio is decoded to 24 kHz s16le (files) or synthesised (``tone_ms``);
    calls without an id get ``function-call-<next(call_ids)>``; the turn's
    ``usage`` goes on the plan that ends the turn (``after_tool`` when there
    are tool calls).
    """
    spec = script.turn(turn)
    if spec is None:
        return None
    plan = _plan(spec)
    plan.input_transcription = spec.input_transcription
    plan.tool_calls = [
        t.FunctionCall(
            id=call.id if call.id is not None else f"function-call-{next(call_ids)}",
            name=call.name,
            args=dict(call.args),
        )
        for call in spec.tool_calls
    ]
    last = plan
    if spec.tool_calls:
        last = plan.after_tool = _plan(spec.after_tool or Reply())
        if spec.filler is not None:
            plan.filler = _plan(spec.filler)
    if spec.usage is not None:
        last.prompt_tokens = spec.usage.prompt_tokens
        last.response_tokens = spec.usage.response_tokens
    return plan


def _plan(reply: Reply) -> ReplyPlan:
    from rawlive.media.audio import OUTPUT_RATE, iter_pcm, tone

    audio: bytes | None = None
    if reply.audio is not None:
        audio = b"".join(iter_pcm(reply.audio, rate=OUTPUT_RATE))
    elif reply.tone_ms is not None:
        audio = tone(reply.tone_ms)
    return ReplyPlan(
        text=reply.text,
        audio=audio,
        output_transcription=reply.output_transcription,
        delay_ms=float(reply.delay_ms),
    )


def fill_frames(plan: ReplyPlan, frames: int, last: tuple[int, int] | None) -> None:
    """Say the turn's video in ``plan``: ``{frames}``, ``{last_width}``, ``{last_height}``.

    Only these placeholders are replaced (other braces stay as written);
    without a frame the size is ``0``. The reply after tool calls and the
    filler say them too.
    """
    width, height = last or (0, 0)
    values = {"frames": frames, "last_width": width, "last_height": height}

    def fill(text: str | None) -> str | None:
        if text is None or "{" not in text:
            return text
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        return text

    for each in (plan, plan.after_tool, plan.filler):
        if each is not None:
            each.text = fill(each.text)
            each.output_transcription = fill(each.output_transcription)


def default_plan(text_only: bool, text: str | None, user_audio: bytes) -> ReplyPlan:
    """Without a script: echo the caller's audio at 24 kHz; say what text arrived."""
    if user_audio:
        from rawlive.media.audio import PcmResampler

        resampler = PcmResampler(16_000, 24_000)
        echo = resampler.feed_pcm(user_audio) + resampler.flush()
        return ReplyPlan(audio=echo)
    said = f"[rawlive emulator] received: {text or ''}"
    if text_only:
        return ReplyPlan(text=said)
    from rawlive.media.audio import tone

    # An honest, short beep: the emulator cannot speak the answer.
    return ReplyPlan(audio=tone(300), text=said)


def filler_plan(text: str, duration_ms: int) -> ReplyPlan:
    """A filler turn (PROTOCOL.md §10.7): a short tone, transcribed as ``text``.

    On the wire a filler is an ordinary spoken turn; the emulator cannot
    speak, so the audio is a tone and the words are its transcription.
    """
    from rawlive.media.audio import tone

    return ReplyPlan(audio=tone(duration_ms), text=text, output_transcription=text)


def silent(plan: ReplyPlan) -> ReplyPlan:
    """``plan`` with nothing said: a function response with ``scheduling: SILENT`` (§10.5).

    The result only joins the context: the turn that follows says nothing
    and counts no response tokens; the script's prompt count stays.
    """
    return ReplyPlan(prompt_tokens=plan.prompt_tokens, response_tokens=0)


def _audio_tokens(pcm_bytes: int, rate: int) -> int:
    return round(pcm_bytes / 2 / rate * TOKENS_PER_AUDIO_SECOND)


def _text_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def usage(
    plan: ReplyPlan,
    *,
    prompt_audio_bytes: int,
    user_text: Iterable[str],
    text_only: bool,
    prompt_video_frames: int = 0,
) -> t.UsageMetadata:
    """The ``usageMetadata`` of a turn: the user's 16 kHz audio, text and the video
    frames its turn covers (``turnCoverage``), the reply's.

    The script's counts, when the plan has them, replace the computed totals;
    the per-modality details are always the computed ones.
    """
    prompt_audio = _audio_tokens(prompt_audio_bytes, 16_000)
    prompt_text = sum(_text_tokens(x) for x in user_text)
    response_audio = 0 if text_only else _audio_tokens(len(plan.audio or b""), 24_000)
    response_text = _text_tokens(plan.text or "") if text_only else 0
    prompt_video = prompt_video_frames * TOKENS_PER_VIDEO_FRAME
    computed = prompt_audio + prompt_text + prompt_video
    prompt = plan.prompt_tokens if plan.prompt_tokens is not None else computed
    response = (
        plan.response_tokens if plan.response_tokens is not None else response_audio + response_text
    )
    prompt_details = [
        t.ModalityTokenCount(modality=m, token_count=n)
        for m, n in (("AUDIO", prompt_audio), ("TEXT", prompt_text), ("VIDEO", prompt_video))
        if n
    ]
    response_details = [
        t.ModalityTokenCount(modality=m, token_count=n)
        for m, n in (("AUDIO", response_audio), ("TEXT", response_text))
        if n
    ]
    return t.UsageMetadata(
        prompt_token_count=prompt,
        response_token_count=response,
        total_token_count=prompt + response,
        prompt_tokens_details=prompt_details or None,
        response_tokens_details=response_details or None,
    )
