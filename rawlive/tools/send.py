"""``rawlive send`` as a library: stream an audio file as the user's turn and collect the reply.

:func:`stream_file` does the work on a connected session, reporting each
:class:`Event` as it happens and a :class:`Summary` at the end (the README's
"Stream a file" describes both). The rules:

1. The file goes out as 16 kHz chunks paced by ``speed``, and the user's turn
   ends with ``audioStreamEnd`` (``activityStart``/``activityEnd`` with
   manual activity detection).
2. Only PCM audio goes into the reply WAV, at 24 kHz. ``inlineData`` whose
   MIME type is not ``audio/...`` (a Vertex live avatar's fragmented MP4,
   ``PROTOCOL.md`` §10.10) goes to the ``video`` file when there is one, its
   parts concatenated as they arrive; the first such MIME type fixes the
   file's (§10.16 leaves the avatar's ``mimeType`` open, so any non-audio type
   is taken), and parts of another type, or with no ``video`` file, are
   counted as skipped, as is audio in another codec.
3. Tool calls are answered from a :class:`ToolBook`'s canned responses.
4. The run ends after the last complete interaction and ``settle`` seconds
   of quiet (with manual detection: at the one complete interaction); a
   server silent for ``timeout`` is a :class:`ReplyTimeout`. An interaction
   is complete at a ``turnComplete`` whose ``interactionStatus`` is ``IDLE``
   when the field is there, else at any ``turnComplete`` (``PROTOCOL.md``
   §10.6, :func:`rawlive.core.models.interaction_complete`): an
   extended-thinking model's filler turn (``turnComplete`` +
   ``IN_PROGRESS``) does not end the run.
5. Token counts are the session's totals (:attr:`Session.usage
   <rawlive.client.session.Session.usage>`), not a second sum.
6. A Transcribe Live model (a row of kind ``TRANSCRIBE``, ``PROTOCOL.md``
   §10.8) answers in text: ``build_config`` asks for the row's response
   modalities (``["TEXT"]``) and input transcription only; each
   ``interimInputTranscription`` (the whole utterance so far) is an
   ``interim_transcription`` event and each ``inputTranscription`` (the
   utterance's final text, once) a ``transcript`` event and a line of
   :attr:`Summary.transcript`. No ``turnComplete`` comes: an utterance ends at
   its ``generationComplete``, and the run at the one after the upload (with
   manual activity detection) or ``settle`` seconds after it; when none comes
   (a silent tail), the end of the upload plus :data:`IDLE_GRACE` seconds
   with no message ends it. No reply audio exists.
7. The session resumes through its latest handle by default (``session_resumption``
   in :func:`build_config`); each stall the session's watchdog found
   (:class:`~rawlive.client.session.Stalled`) and each resume are an event
   and are counted in the summary.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from rawlive import files
from rawlive.client.session import Session, SessionResumed, Stalled
from rawlive.core import models
from rawlive.errors import ConfigError, LiveConnectionClosed, ReplyTimeout
from rawlive.media import audio, container
from rawlive.wire import codec
from rawlive.wire import types as t

__all__ = [
    "Event",
    "FramesSent",
    "ReplyTimeout",
    "SavedVideo",
    "StallNote",
    "Summary",
    "ToolBook",
    "Uploaded",
    "build_config",
    "load_tools",
    "send_media",
    "stream_file",
    "transcribes",
]

IN_MIME = "audio/pcm;rate=16000"

_json = msgspec.json.Encoder(enc_hook=str)


#: Seconds to wait for a reply to the last words when the model was already
#: idle as the upload ended (the real server answers within about a second).
IDLE_GRACE = 3.0


class Event(msgspec.Struct):
    """Something that happened, for live output: ``kind`` and its fields.

    Kinds: ``input_transcription``, ``output_transcription``, ``text``,
    ``tool_call``, ``tool_response``, ``interrupted``, ``turn_complete``,
    ``go_away``, ``stalled``, ``resumed``, ``progress``, ``audio_sent``,
    ``frame`` (a picture sent: ``at``, its time in the file, ``bytes``,
    ``width``, ``height``, ``mime_type``; ``image``: the file of a still), ``video`` (a
    part written to the video file: ``mime_type``, ``bytes``), ``skipped``
    (``inlineData`` written nowhere: its ``mime_type`` and ``bytes``); with a
    Transcribe Live model ``interim_transcription`` (``text``: the utterance
    so far, replacing the previous one), ``transcript`` (``text``, the
    utterance's final, and its ``language_code``) and ``generation_complete``.
    """

    kind: str
    #: Seconds since the session was opened.
    time: float
    fields: dict[str, Any] = msgspec.field(default_factory=dict)

    def to_builtins(self) -> dict[str, Any]:
        """One ``--json`` line as plain objects: ``{"event": kind, "t": time, **fields}``."""
        fields = msgspec.to_builtins(self.fields, enc_hook=str)
        return {"event": self.kind, "t": round(self.time, 4), **fields}

    def to_json(self) -> str:
        return _json.encode(self.to_builtins()).decode("utf-8")


class StallNote(msgspec.Struct, kw_only=True):
    """One stall the watchdog found (:class:`~rawlive.client.session.Stalled`), in the summary."""

    #: ``no-reply``, ``reply-stopped`` or ``no-pong``.
    kind: str
    #: Seconds waited before the session gave up on the connection.
    waited: float
    #: What made the reply due (``speech-end``, ``resume``...; ``None``: a reply under way).
    reason: str | None = None

    def to_json(self) -> str:
        return _json.encode(self).decode("utf-8")


class SavedVideo(msgspec.Struct, kw_only=True):
    """The video file of a run (``--save-video``): the parts concatenated as they came."""

    path: str
    bytes: int = 0
    parts: int = 0
    #: The MIME type of the parts in the file (``None``: none came).
    mime_type: str | None = None

    def to_json(self) -> str:
        return _json.encode(self).decode("utf-8")


class FramesSent(msgspec.Struct, kw_only=True):
    """The pictures sent as ``realtimeInput.video``: the video's frames and ``--image``."""

    count: int = 0
    bytes: int = 0
    #: The largest one, in bytes.
    max_bytes: int = 0
    #: How many of each ``WIDTHxHEIGHT``.
    sizes: dict[str, int] = msgspec.field(default_factory=dict)

    def to_json(self) -> str:
        return _json.encode(self).decode("utf-8")


class Summary(msgspec.Struct, kw_only=True, tag_field="event", tag="summary"):
    """What a run of :func:`stream_file` measured (the last line of ``rawlive send --json``)."""

    setup_seconds: float = 0.0
    audio_sent_seconds: float = 0.0
    #: Frames and images sent (``realtimeInput.video``, ``PROTOCOL.md`` §2.3).
    frames: FramesSent = msgspec.field(default_factory=FramesSent)
    #: From the end of the user's audio to the first reply audio.
    first_reply_latency: float | None = None
    reply_seconds: float = 0.0
    turns: int = 0
    #: The session's token totals (:attr:`rawlive.client.session.Session.usage`)
    #: by modality, ``MODALITY_UNSPECIFIED`` for a count without one.
    prompt_tokens: dict[str, int] = msgspec.field(default_factory=dict)
    response_tokens: dict[str, int] = msgspec.field(default_factory=dict)
    total_tokens: int = 0
    close_code: int | None = 1000
    close_reason: str = ""
    reply_path: str | None = None
    pacing_p99_late_ms: float | None = None
    #: ``inlineData`` written nowhere (neither PCM audio for the WAV nor a part
    #: of the video file), by MIME type: ``{"image/jpeg": {"parts": 2, "bytes": 20480}}``.
    skipped: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)
    #: The video file, when one was given (``PROTOCOL.md`` §10.10).
    video: SavedVideo | None = None
    #: Non-audio parts that went to no video file (there was none, or their
    #: MIME type was not the file's): counted in :attr:`skipped` too.
    video_parts_not_saved: int = 0
    #: A Transcribe Live model's final transcripts, one per utterance
    #: (``PROTOCOL.md`` §10.8); ``None`` for a model that answers in audio.
    transcript: list[str] | None = None
    #: The stalls the session's watchdog found, in order, and the resumes (any reason).
    stalls: list[StallNote] = msgspec.field(default_factory=list)
    resumes: int = 0

    def to_builtins(self) -> dict[str, Any]:
        """The summary as plain objects, ``"event": "summary"`` first."""
        shape: dict[str, Any] = msgspec.to_builtins(self)
        return shape

    def to_json(self) -> str:
        return _json.encode(self).decode("utf-8")

    def lines(self) -> list[str]:
        """The summary as a person reads it."""
        latency = (
            f"{self.first_reply_latency * 1000:.0f} ms"
            if self.first_reply_latency is not None
            else "no reply audio"
        )

        def tokens(by: dict[str, int]) -> str:
            return ", ".join(f"{k.lower()} {v}" for k, v in sorted(by.items())) or "none"

        if self.transcript is not None:
            reply = [
                f"transcript               {len(self.transcript)} utterance(s)",
                "reply audio              none: a transcribe model answers in text, "
                "no reply WAV written",
            ]
        else:
            reply = [
                f"first reply audio after  {latency} (from the end of your audio)",
                f"reply audio              {self.reply_seconds:.2f} s"
                + (f" -> {self.reply_path}" if self.reply_path else ""),
                f"turns                    {self.turns}",
            ]
        video = self.video
        if video is not None:
            kind = f"{video.mime_type}, " if video.mime_type else ""
            reply.append(
                f"video                    {video.bytes} bytes ({kind}{video.parts} parts)"
                f" -> {video.path}"
            )
        if self.video_parts_not_saved:
            reply.append(
                f"video                    {self.video_parts_not_saved} video parts not saved"
                + (": use --save-video" if video is None else " (another MIME type)")
            )
        out = [
            f"setupComplete after      {self.setup_seconds * 1000:.0f} ms",
            f"audio sent               {self.audio_sent_seconds:.2f} s",
            *self.frame_lines(),
            *reply,
            f"tokens                   prompt: {tokens(self.prompt_tokens)}; "
            f"response: {tokens(self.response_tokens)}; total {self.total_tokens}",
            f"close                    {self.close_code}"
            + (f" {self.close_reason}" if self.close_reason else ""),
        ]
        if self.skipped:
            out.append(
                "skipped (not audio)      "
                + "; ".join(
                    f"{mime}: {n['parts']} parts, {n['bytes']} bytes"
                    for mime, n in self.skipped.items()
                )
            )
        if self.stalls:
            out.append(
                f"stalls                   {len(self.stalls)}"
                + "".join(f"; {stall.kind} after {stall.waited:.1f} s" for stall in self.stalls[:5])
                + f" (resumed {self.resumes} times)"
            )
        return out

    def frame_lines(self) -> list[str]:
        """The frames-sent line, when any were."""
        frames = self.frames
        if not frames.count:
            return []
        sizes = ", ".join(f"{n} at {size}" for size, n in sorted(frames.sizes.items()))
        return [
            f"frames sent              {frames.count} ({frames.bytes / 1024:.1f} KiB, "
            f"largest {frames.max_bytes / 1024:.1f} KiB; {sizes})"
        ]


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


def transcribes(model: str | None) -> bool:
    """Whether ``model``'s row is a Transcribe Live model (kind ``TRANSCRIBE``, §10.8)."""
    row = models.find(model)
    return row is not None and row.kind is models.Kind.TRANSCRIBE


def build_config(
    *,
    system: str | None = None,
    voice: str | None = None,
    manual_vad: bool = False,
    tools: ToolBook | None = None,
    transcribe: bool = True,
    model: str | None = None,
    target_language: str | None = None,
    resume: bool = True,
) -> dict[str, Any]:
    """The session config ``rawlive send`` uses (an SDK-shaped dict).

    For ``model``'s row of kind ``TRANSCRIBE`` the response modalities are
    the row's (``["TEXT"]``, ``PROTOCOL.md`` §10.8) and only the input is
    transcribed (the transcript *is* the answer; ``transcribe`` does not
    turn it off); with no speech to give, ``voice`` is not used. Any other
    model answers in ``AUDIO``. A translation model (kind ``TRANSLATE``,
    ``PROTOCOL.md`` §10.9) translates into ``target_language`` (a BCP-47
    code: ``generationConfig.translationConfig.targetLanguageCode``, which
    its row requires) and refuses a system instruction and tools: a
    :class:`ConfigError` says so before anything is sent. ``resume`` asks
    for session resumption: the session then resumes through its latest
    handle after a drop, a ``goAway`` or a stall.
    """
    row = models.find(model)
    if row is not None and row.kind is models.Kind.TRANSCRIBE:
        config: dict[str, Any] = {
            "response_modalities": sorted(row.modalities),
            "input_audio_transcription": {},
        }
    else:
        config = {"response_modalities": ["AUDIO"]}
        if transcribe:
            config["input_audio_transcription"] = {}
            config["output_audio_transcription"] = {}
    if resume:
        config["session_resumption"] = {}
    if row is not None and row.kind is models.Kind.TRANSLATE:
        if not target_language:
            raise ConfigError(
                f"{row.id} translates speech into another language: give the target "
                "language as a BCP-47 code (--target-language pl)"
            )
        if system or tools is not None:
            raise ConfigError(
                f"{row.id} takes no system instruction or tools (PROTOCOL.md §10.9): "
                "remove --system/--tools"
            )
        config["translation_config"] = {"target_language_code": target_language}
    elif target_language:
        raise ConfigError(
            f"a target language goes with a translation model "
            f"(--model gemini-3.5-live-translate-preview), not {model}"
        )
    if system:
        config["system_instruction"] = system
    if voice and "AUDIO" in config["response_modalities"]:
        config["speech_config"] = {"voice_config": {"prebuilt_voice_config": {"voice_name": voice}}}
    if manual_vad:
        config["realtime_input_config"] = {"automatic_activity_detection": {"disabled": True}}
    if tools is not None:
        config["tools"] = [t.Tool(function_declarations=tools.declarations)]
    return config


async def stream_file(
    session: Session,
    path: str | os.PathLike[str],
    *,
    reply: audio.WavWriter | None = None,
    video: files.AppendFile | None = None,
    transcribe: bool = False,
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
    fps: float = container.DEFAULT_FPS,
    max_size: int = container.DEFAULT_MAX_SIZE,
    video_frames: bool = True,
    images: Sequence[container.Frame] = (),
) -> Summary:
    """Stream ``path`` as the user's turn and collect the reply until its ``turnComplete``.

    ``speed`` paces the upload (1.0 real time; ``None`` or 0 unpaced).
    ``path`` is any media file (:mod:`rawlive.media.container`): a video's
    frames go out picked at ``fps``, fitted to ``max_size`` (``video_frames``
    False: its audio only), and ``images``
    (:func:`rawlive.media.container.load_images`) before the audio or at
    their times, all on the audio's clock (rule 8).
    Non-audio ``inlineData`` (avatar video) is appended to ``video`` when
    given. ``transcribe`` (see :func:`transcribes`) reads the session as
    Transcribe Live's (rule 6 of the module docstring).
    ``timeout`` bounds how long the server may stay silent once the audio is
    sent. With automatic activity detection one file may hold several turns:
    the run ends once a ``turnComplete`` is followed by ``settle`` seconds
    with no more model output.
    Raises :class:`~rawlive.media.audio.AudioFileError` for an unreadable file
    (check it with :func:`rawlive.media.container.media_info` before connecting) and
    :class:`~rawlive.LiveConnectionClosed` if the session ends abnormally
    (:class:`~rawlive.SessionStalled` when its watchdog gave up on a stall).
    """
    run = _Run(
        session,
        reply=reply,
        video=video,
        transcribe=transcribe,
        tools=tools,
        manual_vad=manual_vad,
        timeout=timeout,
        settle=settle,
        on_event=on_event,
        setup_seconds=setup_seconds,
    )
    sender = asyncio.create_task(
        run.upload(
            path,
            chunk_ms=chunk_ms,
            speed=speed,
            tail_silence=tail_silence,
            prompt=prompt,
            fps=fps,
            max_size=max_size,
            video=video_frames,
            images=images,
        ),
        name="rawlive-send-audio",
    )
    try:
        await run.receive(sender)
    except LiveConnectionClosed as exc:
        run.summary.close_code, run.summary.close_reason = exc.code, exc.reason
        raise
    finally:
        run.flush_audio()
        if not sender.done():
            sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    if not sender.cancelled() and sender.exception() is not None:
        raise sender.exception()  # type: ignore[misc]
    return run.finish()


class Uploaded(msgspec.Struct, kw_only=True):
    """What :func:`send_media` sent: the audio's seconds and how late the pacing was."""

    #: Seconds of audio sent (tail silence included).
    seconds: float = 0.0
    #: Whether the file had an audio track.
    has_audio: bool = True
    #: The pacer's 99th-percentile lateness (``None``: unpaced).
    pacing_p99_late_ms: float | None = None


async def send_media(
    session: Session,
    path: str | os.PathLike[str],
    *,
    chunk_ms: float = 40.0,
    speed: float | None = 1.0,
    tail_silence: float = 0.0,
    manual_vad: bool = False,
    fps: float = container.DEFAULT_FPS,
    max_size: int = container.DEFAULT_MAX_SIZE,
    video: bool = True,
    images: Sequence[container.Frame] = (),
    info: container.MediaInfo | None = None,
    on_frame: Callable[[container.Frame], None] | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Uploaded:
    """Send one media file as one user turn, paced by ``speed``, and end the turn.

    The one upload loop of :func:`stream_file` and of the scenario runner
    (:mod:`rawlive.tools.scenario`): ``activityStart`` first with
    ``manual_vad``, then the file's audio chunks (16 kHz PCM) and frames on
    the audio's clock (:func:`rawlive.media.container.timeline`), then the
    turn's end: ``activityEnd`` with ``manual_vad``, else ``audioStreamEnd``.
    ``on_frame`` is told each picture sent, ``on_progress`` the file position
    reached after each audio chunk (seconds).
    """
    if manual_vad:
        await session.send_realtime_input(activity_start=t.ActivityStart())
    if info is None:
        info = container.media_info(path)
    pacer = audio.Pacer(speed)
    sent = 0.0
    items = container.timeline(
        path,
        chunk_ms=chunk_ms,
        tail_silence_s=tail_silence,
        fps=fps,
        max_size=max_size,
        video=video,
        images=images,
        info=info,
    )
    for item in items:
        await pacer.wait(item.t)
        if isinstance(item, container.Frame):
            await session.send_realtime_input(
                video=t.Blob(data=item.data, mime_type=item.mime_type)
            )
            if on_frame is not None:
                on_frame(item)
            continue
        await session.send_realtime_input(audio=t.Blob(data=item.data, mime_type=IN_MIME))
        sent += item.seconds
        if on_progress is not None:
            on_progress(item.t + item.seconds)
    if manual_vad:
        await session.send_realtime_input(activity_end=t.ActivityEnd())
    else:
        await session.send_realtime_input(audio_stream_end=True)
    late = round(pacer.stats().p99 * 1000, 3) if pacer.paced else None
    return Uploaded(seconds=sent, has_audio=info.has_audio, pacing_p99_late_ms=late)


class _Run:
    """One run of :func:`stream_file`: the upload, the replies, the reply WAV and the events.

    When it ends: with automatic activity detection the server may take
    several turns from one file, and a ``turnComplete`` can close an earlier
    one. The run ends once the upload is over and the model has been idle (a
    ``turnComplete``, no tool call pending, no output since) for ``settle``
    seconds; if it was already idle when the upload ended, a reply may still
    be coming for the last words, so it waits :data:`IDLE_GRACE` seconds
    instead. With manual detection there is exactly one turn: its
    ``turnComplete`` ends the run. The timeout counts from the last message,
    so a long file's many replies never trip it. With a watchdog on the
    session the run also waits while a reply is owed (the end of speech in
    the audio sent, rule 11 of :mod:`rawlive.core.state`): a stalled reply
    is resumed, not given up on.
    """

    def __init__(
        self,
        session: Session,
        *,
        reply: audio.WavWriter | None,
        video: files.AppendFile | None,
        transcribe: bool,
        tools: ToolBook | None,
        manual_vad: bool,
        timeout: float | None,
        settle: float,
        on_event: Callable[[Event], None] | None,
        setup_seconds: float,
    ) -> None:
        self.session = session
        self.reply = reply
        self.video = video
        self.transcribe = transcribe
        self.tools = tools
        self.manual_vad = manual_vad
        self.timeout = timeout
        self.settle = 0.0 if manual_vad else settle
        self.on_event = on_event
        self.summary = Summary(
            setup_seconds=setup_seconds,
            reply_path=None if reply is None else str(reply.path),
            video=None if video is None else SavedVideo(path=video.path),
            transcript=[] if transcribe else None,
        )
        self.loop = asyncio.get_running_loop()
        #: When the session was opened (monotonic): events count from there.
        self.opened = time.monotonic() - setup_seconds
        self.audio_done = asyncio.Event()
        #: When the end of the user's audio was sent (monotonic).
        self.audio_end: float | None = None
        #: When the first reply audio after it came (monotonic).
        self.first_reply: float | None = None
        # Loop times: the upload's end, the latest message, since when the model is idle.
        self.upload_end: float | None = None
        self.last_message = self.loop.time()
        self.idle_since: float | None = None
        #: The file has no audio track (a video's pictures only): no reply is owed.
        self.no_speech = False
        self.to_output = _ToOutputRate()

    def event(self, kind: str, /, **fields: Any) -> None:
        if self.on_event is not None:
            self.on_event(Event(kind, time.monotonic() - self.opened, fields))

    # -- the upload -------------------------------------------------------------

    async def upload(
        self,
        path: str | os.PathLike[str],
        *,
        chunk_ms: float,
        speed: float | None,
        tail_silence: float,
        prompt: str | None,
        fps: float = container.DEFAULT_FPS,
        max_size: int = container.DEFAULT_MAX_SIZE,
        video: bool = True,
        images: Sequence[container.Frame] = (),
    ) -> None:
        """Send the prompt, then the file's audio and frames paced by ``speed``, then
        the turn's end (rule 8: a frame at ``t`` goes out with the audio of ``t``)."""
        session = self.session
        if prompt:
            await session.send_client_content(
                turns=t.Content(role="user", parts=[t.Part(text=prompt)]), turn_complete=False
            )
        info = container.media_info(path)
        # Pictures alone owe no reply: the run ends IDLE_GRACE after them if none comes.
        self.no_speech = not info.has_audio
        total = round(info.duration + tail_silence, 3)

        def progress(at: float) -> None:
            self.event("progress", sent=round(at, 3), total=total)

        uploaded = await send_media(
            session,
            path,
            chunk_ms=chunk_ms,
            speed=speed,
            tail_silence=tail_silence,
            manual_vad=self.manual_vad,
            fps=fps,
            max_size=max_size,
            video=video,
            images=images,
            info=info,
            on_frame=self.frame_sent,
            on_progress=progress,
        )
        sent = uploaded.seconds
        self.summary.audio_sent_seconds = sent
        self.audio_end = time.monotonic()
        self.upload_end = self.loop.time()
        self.summary.pacing_p99_late_ms = uploaded.pacing_p99_late_ms
        self.event("audio_sent", seconds=round(sent, 3))
        self.audio_done.set()

    def frame_sent(self, frame: container.Frame) -> None:
        """Count a frame (or ``--image``) sent, and say so."""
        frames = self.summary.frames
        frames.count += 1
        frames.bytes += len(frame.data)
        frames.max_bytes = max(frames.max_bytes, len(frame.data))
        size = f"{frame.width}x{frame.height}"
        frames.sizes[size] = frames.sizes.get(size, 0) + 1
        fields: dict[str, Any] = {
            "at": frame.t,
            "bytes": len(frame.data),
            "width": frame.width,
            "height": frame.height,
            "mime_type": frame.mime_type,
        }
        if frame.source is not None:
            fields["image"] = frame.source
        self.event("frame", **fields)

    # -- the replies ------------------------------------------------------------

    async def receive(self, sender: asyncio.Task[None]) -> None:
        """Take the server's messages until the run is over (see the class docstring)."""
        async for message in _messages(self.session, sender, self.deadline, self.quiet):
            self.last_message = self.loop.time()
            if _has_output(message):
                self.idle_since = None  # the model is talking
            if isinstance(message, Stalled):
                note = StallNote(kind=message.kind, waited=message.waited, reason=message.reason)
                self.summary.stalls.append(note)
                self.event(
                    "stalled",
                    kind=message.kind,
                    waited=message.waited,
                    threshold=message.threshold,
                    reason=message.reason,
                )
                continue
            if isinstance(message, SessionResumed):
                self.summary.resumes += 1
                self.event("resumed", reason=message.reason, replayed=message.replayed)
                continue
            content = message.server_content
            if content is not None:
                self.content(content)
            if message.tool_call is not None:
                await self.answer(message.tool_call)
            if message.go_away is not None:
                left = message.go_away.time_left
                self.event("go_away", time_left=left.total_seconds() if left else None)
            if content is not None and self.ends_interaction(content):
                if self.audio_done.is_set() and self.settle <= 0:
                    return  # manual activity detection: the one turn is over
                self.idle_since = self.loop.time()

    def ends_interaction(self, content: t.LiveServerContent) -> bool:
        """Whether ``content`` leaves the model idle: a complete interaction's
        ``turnComplete``, or with Transcribe Live an utterance's ``generationComplete``."""
        if self.transcribe:
            # No turnComplete on Transcribe Live: generationComplete follows the final (§10.8).
            return bool(content.generation_complete)
        return (
            bool(content.turn_complete)
            # An extended-thinking filler turn ends IN_PROGRESS: more is coming (§10.6).
            and models.interaction_complete(content.interaction_status)
            and not self.session.tool_calls
        )

    def deadline(self) -> float | None:
        """When the server's silence becomes a :class:`ReplyTimeout` (loop time)."""
        if self.timeout is None or self.audio_end is None:
            return None
        return self.last_message + self.timeout

    def quiet(self) -> float | None:
        """When the run is over if nothing more comes (loop time; ``None``: not yet)."""
        silent = self.transcribe or self.no_speech
        if silent and self.upload_end is not None and self.idle_since is None:
            # No generationComplete since the last words (silence gives none, §10.8),
            # or a video with no audio track: the end of the input plus a quiet period.
            return max(self.upload_end, self.last_message) + max(self.settle, IDLE_GRACE)
        if self.upload_end is None or self.idle_since is None or self.session.tool_calls:
            return None
        if self.session.watchdog is not None and self.session.awaiting_reply:
            return None  # a reply is owed: the watchdog bounds the wait
        if self.idle_since >= self.upload_end:
            return self.idle_since + self.settle
        return self.upload_end + max(self.settle, IDLE_GRACE)

    def content(self, content: t.LiveServerContent) -> None:
        """Transcripts, text and reply audio, and the turn's end."""
        if self.transcribe:
            self.transcription(content)
        elif content.input_transcription and content.input_transcription.text:
            self.event("input_transcription", text=content.input_transcription.text)
        if content.output_transcription and content.output_transcription.text:
            self.event("output_transcription", text=content.output_transcription.text)
        for part in content.model_turn.parts or () if content.model_turn else ():
            if part.text and not part.thought:
                self.event("text", text=part.text)
            if part.inline_data and part.inline_data.data:
                self.write_audio(part.inline_data)
        if content.interrupted:
            self.event("interrupted")
        if content.turn_complete:
            self.summary.turns += 1
            status = content.interaction_status
            if status:
                self.event("turn_complete", turns=self.summary.turns, interaction_status=status)
            else:
                self.event("turn_complete", turns=self.summary.turns)

    def transcription(self, content: t.LiveServerContent) -> None:
        """Transcribe Live's interim snapshots, finals and utterance ends (§10.8)."""
        interim = content.interim_input_transcription
        if interim is not None and interim.text:
            self.idle_since = None  # an utterance is being transcribed
            self.event("interim_transcription", text=interim.text)
        final = content.input_transcription
        if final is not None and final.text:
            self.idle_since = None
            assert self.summary.transcript is not None
            self.summary.transcript.append(final.text)
            self.event("transcript", text=final.text, language_code=final.language_code)
        if content.generation_complete:
            self.event("generation_complete")

    async def answer(self, tool_call: t.LiveServerToolCall) -> None:
        """Show the calls, and answer them from the tools file when there is one."""
        calls = tool_call.function_calls or []
        for call in calls:
            self.event("tool_call", id=call.id, name=call.name, args=call.args)
        if self.tools is None:
            return
        responses = [self.tools.respond(call) for call in calls]
        for response in responses:
            self.event(
                "tool_response", id=response.id, name=response.name, response=response.response
            )
        await self.session.send_tool_response(function_responses=responses)

    # -- the reply WAV ----------------------------------------------------------

    def write_audio(self, blob: t.Blob) -> None:
        """A reply part's PCM into the WAV at 24 kHz, video into the video file;
        anything else counted as skipped."""
        mime, data = blob.mime_type, bytes(blob.data or b"")
        rate = _pcm_rate(mime)
        if rate is None:
            if not _audio(mime):
                if self.write_video(mime, data):
                    return
                self.summary.video_parts_not_saved += 1
            skipped = self.summary.skipped.setdefault(mime or "(none)", {"parts": 0, "bytes": 0})
            skipped["parts"] += 1
            skipped["bytes"] += len(data)
            self.event("skipped", mime_type=mime, bytes=len(data))
            return
        if self.first_reply is None and self.audio_done.is_set():
            self.first_reply = time.monotonic()
        self.summary.reply_seconds += len(data) / 2 / rate
        if self.reply is not None:
            self.reply.write(self.to_output.feed(rate, data))

    def write_video(self, mime: str | None, data: bytes) -> bool:
        """Append a non-audio part to the video file; whether it went there.

        The first part's MIME type (without parameters) is the file's: a part
        of another type would not continue the stream (§10.10: fragmented MP4).
        """
        saved = self.summary.video
        if self.video is None or saved is None:
            return False
        if saved.mime_type is not None and _base(saved.mime_type) != _base(mime):
            return False
        self.video.write(data)
        if saved.mime_type is None:
            saved.mime_type = mime or "(none)"
        saved.parts += 1
        saved.bytes += len(data)
        self.event("video", mime_type=mime, bytes=len(data))
        return True

    def flush_audio(self) -> None:
        """Write what the resampler still holds (the WAV stays open: the caller's)."""
        if self.reply is not None and not self.reply.closed:
            self.reply.write(self.to_output.flush())

    # -- the end ----------------------------------------------------------------

    def finish(self) -> Summary:
        """The summary, with the latency and the session's token totals."""
        summary = self.summary
        if self.first_reply is not None and self.audio_end is not None:
            summary.first_reply_latency = max(0.0, self.first_reply - self.audio_end)
        usage = self.session.usage
        summary.prompt_tokens = dict(usage.prompt_by_modality)
        summary.response_tokens = dict(usage.response_by_modality)
        summary.total_tokens = usage.total_tokens
        return summary


def _base(mime: str | None) -> str:
    """A MIME type without its parameters, lower case (``audio/pcm;rate=24000``: ``audio/pcm``)."""
    return (mime or "").partition(";")[0].strip().lower()


def _audio(mime: str | None) -> bool:
    """Whether a part is audio (in any codec): an ``audio/...`` MIME type."""
    return _base(mime).startswith("audio/")


def _pcm_rate(mime: str | None) -> int | None:
    """The sample rate of a reply part that is PCM audio; ``None`` for anything else.

    ``audio/pcm`` with no rate is the 24 kHz output audio (Vertex AI says no
    rate); an image, a video, audio in another codec or at an unusable rate
    does not belong in the reply WAV.
    """
    if _base(mime) != "audio/pcm":
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
