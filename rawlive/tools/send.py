"""Stream an audio file through a Live session and collect the spoken reply.

This is the main job of ``rawlive send``, as a library: :func:`stream_file`
sends a file's audio as 16 kHz chunks paced in real time (or faster), ends the
user's turn (``audioStreamEnd``, or ``activityStart``/``activityEnd`` with
manual activity detection), answers tool calls from canned responses, writes
the reply audio to a WAV that is valid at every moment, and reports every
event as it happens (:class:`Event`) and a :class:`Summary` at the end: time
to ``setupComplete``, time from the end of the user's audio to the first
reply audio, reply seconds, turns, tokens by modality and the close code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from rawlive.client.session import Session, SessionResumed
from rawlive.errors import ConfigError, LiveConnectionClosed, ReplyTimeout
from rawlive.media import audio
from rawlive.wire import codec
from rawlive.wire import types as t

__all__ = [
    "Event",
    "ReplyTimeout",
    "Summary",
    "ToolBook",
    "build_config",
    "load_tools",
    "stream_file",
]

IN_MIME = "audio/pcm;rate=16000"


#: Seconds to wait for a reply to the last words when the model was already
#: idle as the upload ended (the real server answers within about a second).
IDLE_GRACE = 3.0


@dataclasses.dataclass
class Event:
    """Something that happened, for live output: ``kind`` and its fields.

    Kinds: ``input_transcription``, ``output_transcription``, ``text``,
    ``tool_call``, ``tool_response``, ``interrupted``, ``turn_complete``,
    ``go_away``, ``resumed``, ``progress``, ``audio_sent``, ``skipped``
    (``inlineData`` that is not audio: its ``mime_type`` and ``bytes``).
    """

    kind: str
    time: float  # seconds since the session was opened
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_builtins(self) -> dict[str, Any]:
        """The event as one line of ``send --json`` holds it (plain objects)."""
        return {"event": self.kind, "t": round(self.time, 4), **self.fields}


@dataclasses.dataclass
class Summary:
    """What a run of :func:`stream_file` measured."""

    setup_seconds: float = 0.0
    audio_sent_seconds: float = 0.0
    first_reply_latency: float | None = None  # end of user audio -> first reply audio
    reply_seconds: float = 0.0
    turns: int = 0
    prompt_tokens: dict[str, int] = dataclasses.field(default_factory=dict)
    response_tokens: dict[str, int] = dataclasses.field(default_factory=dict)
    total_tokens: int = 0
    close_code: int | None = 1000
    close_reason: str = ""
    reply_path: str | None = None
    pacing_p99_late_ms: float | None = None
    #: ``inlineData`` left out of the reply audio (not PCM audio), by MIME type:
    #: ``{"image/jpeg": {"parts": 2, "bytes": 20480}}``.
    skipped: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)

    def to_builtins(self) -> dict[str, Any]:
        """The summary as the last line of ``send --json`` holds it (plain objects)."""
        return {"event": "summary", **dataclasses.asdict(self)}

    def lines(self) -> list[str]:
        """The summary as a person reads it."""
        latency = (
            f"{self.first_reply_latency * 1000:.0f} ms"
            if self.first_reply_latency is not None
            else "no reply audio"
        )

        def tokens(by: dict[str, int]) -> str:
            return ", ".join(f"{k.lower()} {v}" for k, v in sorted(by.items())) or "none"

        return [
            f"setupComplete after      {self.setup_seconds * 1000:.0f} ms",
            f"audio sent               {self.audio_sent_seconds:.2f} s",
            f"first reply audio after  {latency} (from the end of your audio)",
            f"reply audio              {self.reply_seconds:.2f} s"
            + (f" -> {self.reply_path}" if self.reply_path else ""),
            f"turns                    {self.turns}",
            f"tokens                   prompt: {tokens(self.prompt_tokens)}; "
            f"response: {tokens(self.response_tokens)}; total {self.total_tokens}",
            f"close                    {self.close_code}"
            + (f" {self.close_reason}" if self.close_reason else ""),
        ] + (
            [
                "skipped (not audio)      "
                + "; ".join(
                    f"{mime}: {n['parts']} parts, {n['bytes']} bytes"
                    for mime, n in self.skipped.items()
                )
            ]
            if self.skipped
            else []
        )


@dataclasses.dataclass
class ToolBook:
    """Function declarations and the canned response each one returns."""

    declarations: list[t.FunctionDeclaration]
    responses: dict[str, Any]

    def respond(self, call: t.FunctionCall) -> t.FunctionResponse:
        name = call.name or ""
        if name in self.responses:
            response = self.responses[name]
            payload = response if isinstance(response, dict) else {"output": response}
        else:
            payload = {"error": f"no canned response for {name!r} in the tools file"}
        return t.FunctionResponse(id=call.id, name=call.name, response=payload)


def load_tools(path: str | os.PathLike[str]) -> ToolBook:
    """Read a tools file: ``{"function_declarations": [...], "responses": {name: value}}``.

    Declarations are the SDK's shape (snake_case or camelCase keys). A
    response is a JSON object (sent as the function's ``response``) or any
    other value (sent as ``{"output": value}``).
    """
    name = os.fspath(path)
    try:
        raw = json.loads(Path(name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such tools file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{name}: not a JSON tools file ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: expected a JSON object with function_declarations")
    declarations = raw.get("function_declarations", raw.get("functionDeclarations"))
    if not isinstance(declarations, list) or not declarations:
        raise ConfigError(f"{name}: function_declarations must be a non-empty list")
    try:
        parsed = [codec.convert(d, t.FunctionDeclaration, strict=True) for d in declarations]
    except Exception as exc:  # DecodeError names the field
        raise ConfigError(f"{name}: {exc}") from None
    for declaration in parsed:
        if not declaration.name:
            raise ConfigError(f"{name}: every function declaration needs a name")
    responses = raw.get("responses", {})
    if not isinstance(responses, dict):
        raise ConfigError(f"{name}: responses must be an object mapping names to values")
    return ToolBook(parsed, responses)


def build_config(
    *,
    system: str | None = None,
    voice: str | None = None,
    manual_vad: bool = False,
    tools: ToolBook | None = None,
    transcribe: bool = True,
) -> dict[str, Any]:
    """The session config ``rawlive send`` uses (an SDK-shaped dict)."""
    config: dict[str, Any] = {"response_modalities": ["AUDIO"]}
    if transcribe:
        config["input_audio_transcription"] = {}
        config["output_audio_transcription"] = {}
    if system:
        config["system_instruction"] = system
    if voice:
        config["speech_config"] = {"voice_config": {"prebuilt_voice_config": {"voice_name": voice}}}
    if manual_vad:
        config["realtime_input_config"] = {"automatic_activity_detection": {"disabled": True}}
    if tools is not None:
        config["tools"] = [t.Tool(function_declarations=tools.declarations)]
    return config


def _modalities(details: list[t.ModalityTokenCount] | None, into: dict[str, int]) -> None:
    for entry in details or ():
        key = entry.modality or "MODALITY_UNSPECIFIED"
        into[key] = into.get(key, 0) + (entry.token_count or 0)


async def stream_file(
    session: Session,
    path: str | os.PathLike[str],
    *,
    reply: audio.WavWriter | None = None,
    chunk_ms: float = 40.0,
    speed: float | None = 1.0,
    manual_vad: bool = False,
    tail_silence: float = 0.0,
    prompt: str | None = None,
    tools: ToolBook | None = None,
    timeout: float | None = 60.0,
    settle: float = 1.0,
    on_event: Callable[[Event], None] | None = None,
    setup_seconds: float = 0.0,
) -> Summary:
    """Stream ``path`` as the user's turn and collect the reply until its ``turnComplete``.

    ``speed`` paces the upload (1.0 real time; ``None`` or 0 unpaced).
    ``timeout`` bounds how long the server may stay silent once the audio is
    sent. With automatic activity detection one file may hold several turns:
    the run ends once a ``turnComplete`` is followed by ``settle`` seconds
    with no more model output.
    Raises :class:`~rawlive.media.audio.AudioFileError` for an unreadable file
    (check it with :func:`rawlive.media.audio.file_info` before connecting) and
    :class:`~rawlive.LiveConnectionClosed` if the session ends abnormally.
    """
    loop = asyncio.get_running_loop()
    opened = time.monotonic() - setup_seconds
    summary = Summary(setup_seconds=setup_seconds)
    if reply is not None:
        summary.reply_path = str(reply.path)
    emit = on_event or (lambda event: None)

    def event(kind: str, **fields: Any) -> None:
        emit(Event(kind, time.monotonic() - opened, fields))

    audio_done = asyncio.Event()
    sent_at: list[float] = []
    pacer = audio.Pacer(speed)

    async def send() -> None:
        if prompt:
            await session.send_client_content(
                turns=t.Content(role="user", parts=[t.Part(text=prompt)]), turn_complete=False
            )
        if manual_vad:
            await session.send_realtime_input(activity_start=t.ActivityStart())
        info = audio.file_info(path)
        sent = 0.0
        blocks = audio.iter_pcm(path, rate=audio.INPUT_RATE)
        for chunk in audio.chunks(blocks, chunk_ms=chunk_ms, tail_silence_s=tail_silence):
            await pacer.wait(sent)
            await session.send_realtime_input(audio=t.Blob(data=chunk, mime_type=IN_MIME))
            sent += len(chunk) / 2 / audio.INPUT_RATE
            event("progress", sent=round(sent, 3), total=round(info.duration + tail_silence, 3))
        if manual_vad:
            await session.send_realtime_input(activity_end=t.ActivityEnd())
        else:
            await session.send_realtime_input(audio_stream_end=True)
        summary.audio_sent_seconds = sent
        sent_at.append(time.monotonic())
        upload_end.append(loop.time())
        summary.pacing_p99_late_ms = round(pacer.stats().p99 * 1000, 3) if pacer.paced else None
        event("audio_sent", seconds=round(sent, 3))
        audio_done.set()

    sender = asyncio.create_task(send(), name="rawlive-send-audio")
    first_reply: float | None = None
    to_output = _ToOutputRate()

    # With automatic activity detection the server may take several turns from
    # one file, and a turnComplete can close an earlier one. The run ends once
    # the upload is over and the model has been idle (a turnComplete, no tool
    # call pending, no output since) for ``settle`` seconds; if it was already
    # idle when the upload ended, a reply may still be coming for the last
    # words, so it waits ``IDLE_GRACE`` seconds instead. With manual detection
    # there is exactly one turn: its turnComplete ends the run. The timeout
    # counts from the last message, so a long file's many replies never trip it.
    settle_for = 0.0 if manual_vad else settle
    last_message = [loop.time()]
    idle_since: list[float] = []  # loop time the model became idle, if it is
    upload_end: list[float] = []  # loop time the upload ended

    def deadline() -> float | None:
        if timeout is None or not sent_at:
            return None
        return last_message[0] + timeout

    def quiet() -> float | None:
        if not upload_end or not idle_since or session.tool_calls:
            return None
        if idle_since[0] >= upload_end[0]:
            return idle_since[0] + settle_for
        return upload_end[0] + max(settle_for, IDLE_GRACE)

    try:
        async for message in _messages(session, sender, deadline, quiet):
            last_message[0] = loop.time()
            if _has_output(message):
                idle_since.clear()  # the model is talking
            if isinstance(message, SessionResumed):
                event("resumed", reason=message.reason, replayed=message.replayed)
                continue
            content = message.server_content
            if content is not None:
                if content.input_transcription and content.input_transcription.text:
                    event("input_transcription", text=content.input_transcription.text)
                if content.output_transcription and content.output_transcription.text:
                    event("output_transcription", text=content.output_transcription.text)
                for part in content.model_turn.parts or () if content.model_turn else ():
                    if part.text and not part.thought:
                        event("text", text=part.text)
                    if part.inline_data and part.inline_data.data:
                        mime = part.inline_data.mime_type
                        data = bytes(part.inline_data.data)
                        rate = _pcm_rate(mime)
                        if rate is None:
                            skipped = summary.skipped.setdefault(
                                mime or "(none)", {"parts": 0, "bytes": 0}
                            )
                            skipped["parts"] += 1
                            skipped["bytes"] += len(data)
                            event("skipped", mime_type=mime, bytes=len(data))
                            continue
                        if first_reply is None and audio_done.is_set():
                            first_reply = time.monotonic()
                        summary.reply_seconds += len(data) / 2 / rate
                        if reply is not None:
                            reply.write(to_output.feed(rate, data))
                if content.interrupted:
                    event("interrupted")
                if content.turn_complete:
                    summary.turns += 1
                    event("turn_complete", turns=summary.turns)
            if message.usage_metadata is not None:
                usage = message.usage_metadata
                _modalities(usage.prompt_tokens_details, summary.prompt_tokens)
                _modalities(
                    usage.response_tokens_details or usage.candidates_tokens_details,
                    summary.response_tokens,
                )
                summary.total_tokens += usage.total_token_count or 0
            if message.tool_call is not None:
                calls = message.tool_call.function_calls or []
                for call in calls:
                    event("tool_call", id=call.id, name=call.name, args=call.args)
            if message.tool_call is not None and tools is not None:
                responses = [tools.respond(call) for call in calls]
                for response in responses:
                    event(
                        "tool_response",
                        id=response.id,
                        name=response.name,
                        response=response.response,
                    )
                await session.send_tool_response(function_responses=responses)
            if message.go_away is not None:
                left = message.go_away.time_left
                event("go_away", time_left=left.total_seconds() if left else None)
            if content is not None and content.turn_complete and not session.tool_calls:
                if audio_done.is_set() and settle_for <= 0:
                    break  # manual activity detection: the one turn is over
                idle_since[:] = [loop.time()]
    except LiveConnectionClosed as exc:
        summary.close_code, summary.close_reason = exc.code, exc.reason
        raise
    finally:
        if reply is not None and not reply.closed:
            reply.write(to_output.flush())
        if not sender.done():
            sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    if sender.done() and not sender.cancelled() and sender.exception() is not None:
        raise sender.exception()  # type: ignore[misc]
    if first_reply is not None and sent_at:
        summary.first_reply_latency = max(0.0, first_reply - sent_at[0])
    return summary


def _pcm_rate(mime: str | None) -> int | None:
    """The sample rate of a reply part that is PCM audio; ``None`` for anything else.

    ``audio/pcm`` with no rate is the 24 kHz output audio (Vertex AI says no
    rate); an image, a video, audio in another codec or at an unusable rate
    does not belong in the reply WAV.
    """
    if (mime or "").partition(";")[0].strip().lower() != "audio/pcm":
        return None
    rate = codec.mime_rate(mime)
    if rate is None:
        return audio.OUTPUT_RATE
    return rate if audio.MIN_SAMPLE_RATE <= rate <= audio.MAX_SAMPLE_RATE else None


class _ToOutputRate:
    """Reply audio at any rate as 24 kHz PCM, for one WAV (soxr's state kept across parts)."""

    def __init__(self) -> None:
        self._resampler: audio.PcmResampler | None = None

    def feed(self, rate: int, pcm: bytes) -> bytes:
        head = b""
        if self._resampler is None or self._resampler.in_rate != rate:
            head = self.flush()  # the end of the audio at the previous rate
            self._resampler = audio.PcmResampler(rate, audio.OUTPUT_RATE)
        return head + self._resampler.feed_pcm(pcm)

    def flush(self) -> bytes:
        """What the resampler still holds (at the end, or when the rate changes)."""
        return b"" if self._resampler is None else self._resampler.flush()


def _has_output(message: t.LiveServerMessage) -> bool:
    """Whether the model said or did something (not just bookkeeping)."""
    content = message.server_content
    return message.tool_call is not None or (
        content is not None
        and (content.model_turn is not None or content.output_transcription is not None)
    )


async def _messages(
    session: Session,
    sender: asyncio.Task[None],
    deadline: Callable[[], float | None],
    quiet: Callable[[], float | None],
) -> AsyncIterator[t.LiveServerMessage]:
    """``session.receive()`` until it ends, the session has been ``quiet()`` long enough
    (loop time), or the sender fails (its error is raised by the caller); raises
    :class:`ReplyTimeout` when ``deadline()`` passes first."""
    loop = asyncio.get_running_loop()
    stream = session.receive().__aiter__()
    next_message: asyncio.Future[t.LiveServerMessage] | None = None
    try:
        while True:
            if next_message is None:
                next_message = asyncio.ensure_future(stream.__anext__())
            waiters: set[asyncio.Future[Any]] = {next_message}
            if not sender.done():
                waiters.add(sender)
            limits = [x for x in (deadline(), quiet()) if x is not None]
            wait = None if not limits else max(0.0, min(limits) - loop.time())
            done, _ = await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                settled = quiet()
                if settled is not None and settled <= loop.time():
                    return
                raise ReplyTimeout("no complete reply: the server has said nothing for a while")
            if next_message in done:
                finished, next_message = next_message, None
                try:
                    yield finished.result()
                except StopAsyncIteration:
                    return
            elif sender.exception() is not None:
                return
    finally:
        if next_message is not None:
            next_message.cancel()
