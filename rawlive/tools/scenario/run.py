"""Running a scenario: its turns sent in real time, the replies collected turn by turn.

:func:`run_scenario` connects to a Live API (Gemini with a key, any
``endpoint``, the in-process emulator, or a cassette through the replay
server), plays the scenario's turns and returns a :class:`ScenarioRun`
whose :meth:`ScenarioRun.turn` and :meth:`ScenarioRun.expect_no_findings`
are the expectations of :mod:`rawlive.tools.scenario.expect`. The rules:

1. Audio turns go out through :func:`rawlive.tools.send.send_media` (the
   upload loop of ``rawlive send``: 16 kHz chunks paced by ``speed``, then
   ``audioStreamEnd``); a ``speak`` turn is first made a WAV by the speech
   source; a ``silence`` is silent 16 kHz audio paced the same way; a
   ``pause`` sends nothing.
2. After a turn's input the runner waits for its reply to be complete: a
   ``turnComplete`` that completes the interaction
   (:func:`rawlive.core.models.interaction_complete`, ``PROTOCOL.md``
   §10.6: an extended-thinking filler turn, ``IN_PROGRESS``, does not) with
   no tool call left open (:attr:`Session.tool_calls
   <rawlive.client.session.Session.tool_calls>`); one that came before the
   input's end (the server heard the speech end in a silent tail) counts.
   A turn whose reply is not complete within its ``timeout`` is marked so
   and the run goes on.
3. Tool calls are answered at once, each by its handler (a Python
   callable, sync or async, ``args -> dict``) or the tool's canned
   ``response``; a function with neither gets ``{"error": ...}``.
4. Latencies count from the end of the turn's input (the ``audioStreamEnd``
   or the text sent) to the first input transcription, the first reply
   audio and the reply's end; something that came before that end counts 0.
5. Every run is recorded as a cassette (``record``, else a temporary file
   removed afterwards) and audited (:func:`rawlive.tools.audit.audit_cassette`,
   the misbehaviour rules of :mod:`rawlive.tools.audit.waits` included):
   :attr:`ScenarioRun.findings`.
6. A connection that ends abnormally ends the run: :attr:`ScenarioRun.error`
   says why and the expectations fail with it. A scenario that cannot run
   (a file missing, no speech) raises :class:`~rawlive.errors.ConfigError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from rawlive import cassette as cassette_module
from rawlive.client import session as session_module
from rawlive.client.session import Session, SessionResumed, Stalled
from rawlive.core import models
from rawlive.errors import ConfigError, RawliveError
from rawlive.media import audio, speech
from rawlive.tools import audit
from rawlive.tools.scenario.expect import ScenarioRun, ToolCallRecord, ToolResponseRecord, TurnRun
from rawlive.tools.scenario.model import Scenario, load_scenario
from rawlive.tools.send import IN_MIME, Event, ToolBook, build_config, send_media
from rawlive.wire import codec
from rawlive.wire import types as t

__all__ = [
    "SpeechFunction",
    "ToolHandler",
    "run_scenario",
    "run_scenario_sync",
]

#: A tool handler: the call's arguments in, the function's response (a JSON object) out.
ToolHandler = Callable[[dict[str, Any]], "dict[str, Any] | Awaitable[dict[str, Any]]"]
#: A speech source for ``speak`` turns: text in, a 16 kHz WAV file out.
SpeechFunction = Callable[[str], "str | os.PathLike[str]"]

_SILENCE_CHUNK_S = 0.04


def _speech_function(scenario: Scenario, api_key: str | None, source: Any = None) -> SpeechFunction:
    """:func:`rawlive.media.speech.speak` with the scenario's cache and voice, from
    ``source`` (a :class:`rawlive.media.speech.SpeechSource`; ``None``: its default)."""

    def speak(text: str) -> str | os.PathLike[str]:
        path: str | os.PathLike[str] = speech.speak(
            text,
            voice=scenario.speech_voice,
            cache_dir=scenario.speech_cache,
            source=source,
            api_key=api_key,
        )
        return path

    return speak


def _tool_book(scenario: Scenario) -> ToolBook | None:
    if not scenario.tools:
        return None
    declarations = []
    for tool in scenario.tools:
        shape: dict[str, Any] = {"name": tool.name}
        if tool.description:
            shape["description"] = tool.description
        if tool.parameters is not None:
            shape["parameters"] = tool.parameters
        try:
            declarations.append(codec.convert(shape, t.FunctionDeclaration, strict=True))
        except Exception as exc:  # DecodeError names the field
            raise ConfigError(f"scenario {scenario.name!r}: tool {tool.name!r}: {exc}") from None
    return ToolBook(declarations, dict(scenario.tool_responses()))


def _since(at: float | None, end: float) -> float | None:
    """A latency from ``end`` (0 for something that came before it; rule 4)."""
    return None if at is None else round(max(0.0, at - end), 4)


class _Player:
    """One run: the receiving side, the turn being played, tool answers."""

    def __init__(
        self,
        scenario: Scenario,
        session: Session,
        handlers: Mapping[str, ToolHandler],
        tools: ToolBook | None,
        on_event: Callable[[int, Event], None] | None,
    ) -> None:
        self.scenario = scenario
        self.session = session
        self.handlers = handlers
        self.tools = tools
        self.on_event = on_event
        self.opened = time.monotonic()
        self.turns: list[TurnRun] = []
        self.done = asyncio.Event()
        # Absolute times (seconds since opened) of the current turn's firsts.
        self.firsts: dict[int, dict[str, float]] = {}

    @property
    def current(self) -> TurnRun | None:
        return self.turns[-1] if self.turns else None

    def now(self) -> float:
        return time.monotonic() - self.opened

    def event(self, kind: str, /, **fields: Any) -> None:
        turn = self.current
        if turn is None:
            return
        event = Event(kind, round(self.now(), 4), fields)
        turn.events.append(event)
        if self.on_event is not None:
            self.on_event(turn.number, event)

    def first(self, name: str) -> None:
        turn = self.current
        if turn is not None:
            self.firsts.setdefault(turn.number, {}).setdefault(name, self.now())

    async def receive(self) -> None:
        async for message in self.session.receive():
            await self.take(message)

    async def take(self, message: t.LiveServerMessage) -> None:
        if isinstance(message, Stalled):
            self.event("stalled", kind=message.kind, waited=message.waited)
            return
        if isinstance(message, SessionResumed):
            self.event("resumed", reason=message.reason)
            return
        turn = self.current
        content = message.server_content
        if turn is not None and content is not None:
            self.content(turn, content)
        if message.tool_call is not None:
            await self.answer(message.tool_call)
        if message.go_away is not None:
            self.event("go_away")
        if (
            content is not None
            and self.ends_reply(content)
            and turn is not None
            and turn.input_end is not None
        ):
            self.done.set()

    def ends_reply(self, content: t.LiveServerContent) -> bool:
        """A ``turnComplete`` that ends the interaction with no tool call left open (rule 2)."""
        return (
            bool(content.turn_complete)
            and models.interaction_complete(content.interaction_status)
            and not self.session.tool_calls
        )

    def content(self, turn: TurnRun, content: t.LiveServerContent) -> None:
        heard = content.input_transcription
        if heard is not None and heard.text:
            self.first("transcription")
            turn.input_transcript += heard.text
            self.event("input_transcription", text=heard.text)
        said = content.output_transcription
        if said is not None and said.text:
            turn.reply += said.text
            self.event("output_transcription", text=said.text)
        for part in content.model_turn.parts or () if content.model_turn else ():
            if part.text and not part.thought:
                turn.text += part.text
                self.event("text", text=part.text)
            blob = part.inline_data
            if blob is not None and blob.data and (blob.mime_type or "").startswith("audio/"):
                rate = codec.mime_rate(blob.mime_type) or audio.OUTPUT_RATE
                if turn.number not in self.firsts or "audio" not in self.firsts[turn.number]:
                    self.event("first_audio")
                self.first("audio")
                turn.reply_audio_seconds += len(blob.data) / 2 / rate
        if content.interrupted:
            turn.interruptions += 1
            self.event("interrupted")
        if content.turn_complete:
            status = content.interaction_status
            self.event("turn_complete", **({"interaction_status": status} if status else {}))
            if self.ends_reply(content):
                self.first("complete")

    async def answer(self, tool_call: t.LiveServerToolCall) -> None:
        turn = self.current
        calls = tool_call.function_calls or []
        responses = []
        for call in calls:
            args = dict(call.args or {})
            if turn is not None:
                turn.tool_calls.append(
                    ToolCallRecord(id=call.id, name=call.name or "", args=args, t=self.now())
                )
            self.event("tool_call", id=call.id, name=call.name, args=args)
            response = await self.respond(call, args)
            responses.append(response)
            if turn is not None:
                turn.tool_responses.append(
                    ToolResponseRecord(
                        id=response.id, name=response.name or "", response=response.response or {}
                    )
                )
            self.event(
                "tool_response", id=response.id, name=response.name, response=response.response
            )
        if responses:
            await self.session.send_tool_response(function_responses=responses)

    async def respond(self, call: t.FunctionCall, args: dict[str, Any]) -> t.FunctionResponse:
        name = call.name or ""
        handler = self.handlers.get(name)
        if handler is None:
            if self.tools is not None:
                return self.tools.respond(call)
            payload: Any = {"error": f"no handler or canned response for {name!r}"}
        else:
            try:
                payload = handler(args)
                if inspect.isawaitable(payload):
                    payload = await payload
            except Exception as exc:  # the handler's failure is the tool's answer
                payload = {"error": f"{type(exc).__name__}: {exc}"}
            if not isinstance(payload, dict):
                payload = {"output": payload}
        return t.FunctionResponse(id=call.id, name=call.name, response=payload)

    # -- the turns --------------------------------------------------------------

    async def play(self, files: Mapping[int, str], *, speed: float | None, chunk_ms: float) -> None:
        for number, spec in enumerate(self.scenario.turns, 1):
            turn = TurnRun(number=number, kind=spec.kind, says=spec.says, started=self.now())
            self.turns.append(turn)
            self.done.clear()
            kind = spec.kind
            if kind == "pause":
                turn.input = f"{spec.pause:g} s pause"
                await asyncio.sleep(float(spec.pause or 0))
                turn.input_end = self.now()
                turn.completed = True
                continue
            if kind == "silence":
                turn.input = f"{spec.silence:g} s silence"
                turn.audio_seconds = await self.silence(float(spec.silence or 0), speed)
                turn.input_end = self.now()
                turn.completed = True
                continue
            if kind in ("audio", "speak"):
                path = files[number]
                turn.input = (spec.speak or "") if kind == "speak" else path
                uploaded = await send_media(
                    self.session, path, speed=speed, chunk_ms=chunk_ms, video=True
                )
                turn.audio_seconds = round(uploaded.seconds, 3)
            else:
                text = spec.text or ""
                turn.input = text
                if spec.via == "client_content":
                    await self.session.send_client_content(
                        turns=t.Content(role="user", parts=[t.Part(text=text)]),
                        turn_complete=True,
                    )
                else:
                    await self.session.send_realtime_input(text=text)
            turn.input_end = self.now()
            self.event("input_end")
            if "complete" in self.firsts.get(number, {}):
                self.done.set()  # the reply ended before the input did (speech ended early)
            try:
                await asyncio.wait_for(self.done.wait(), spec.timeout)
                turn.completed = True
            except TimeoutError:
                turn.completed = False
                self.event("timeout", seconds=spec.timeout)

    async def silence(self, seconds: float, speed: float | None) -> float:
        pacer = audio.Pacer(speed)
        step = _SILENCE_CHUNK_S
        chunk = bytes(2 * round(audio.INPUT_RATE * step))
        at = 0.0
        while at < seconds - 1e-9:
            await pacer.wait(at)
            await self.session.send_realtime_input(audio=t.Blob(data=chunk, mime_type=IN_MIME))
            at += step
        return round(at, 3)

    def finish(self) -> None:
        """The turns' latencies, from their firsts (rule 4)."""
        for turn in self.turns:
            if turn.input_end is None:
                continue
            firsts = self.firsts.get(turn.number, {})
            turn.first_transcription = _since(firsts.get("transcription"), turn.input_end)
            turn.first_audio = _since(firsts.get("audio"), turn.input_end)
            turn.turn_complete = _since(firsts.get("complete"), turn.input_end)


async def run_scenario(
    scenario: Scenario | str | os.PathLike[str],
    *,
    endpoint: str | None = None,
    emulator: bool | None = None,
    cassette: str | os.PathLike[str] | None = None,
    record: str | os.PathLike[str] | None = None,
    api_key: str | None = None,
    handlers: Mapping[str, ToolHandler] | None = None,
    speech: SpeechFunction | Any = None,
    speed: float | None = 1.0,
    emulator_speed: float | None = None,
    chunk_ms: float = 40.0,
    also_record: cassette_module.Recorder | None = None,
    on_event: Callable[[int, Event], None] | None = None,
) -> ScenarioRun:
    """Run ``scenario`` (a :class:`Scenario` or a file) once; see the module docstring.

    Where: ``cassette`` (replayed by an in-process replay server), else
    ``endpoint`` (any Live API URL; ``api_key`` for it if it needs one),
    else Gemini when ``api_key`` is given, else the in-process emulator
    playing the scenario's ``emulator_script`` (``emulator=True`` forces it;
    ``emulator_speed`` overrides the script's reply pacing). ``record``
    keeps the run's cassette there; ``also_record`` records it into another
    recorder too (the pytest plugin's cassette). ``speed`` paces the user's
    audio (1.0 real time; ``None`` unpaced). ``speech`` makes a ``speak``
    turn's WAV: a function (text in, WAV path out), or a
    :class:`rawlive.media.speech.SpeechSource` whose speech
    :func:`rawlive.media.speech.speak` caches in the scenario's
    ``speech_cache`` (default: ``speak``'s own choice of source).
    ``on_event(turn, event)`` sees each event.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if cassette is not None and not Path(cassette).is_file():
        raise ConfigError(f"no cassette {os.fspath(cassette)} to replay the scenario from")
    if speech is None or hasattr(speech, "synthesize"):  # a SpeechSource: cached by speak()
        speak = _speech_function(scenario, api_key, speech)
    else:
        speak = speech
    files: dict[int, str] = {}
    for number, spec in enumerate(scenario.turns, 1):
        if spec.audio:
            if not Path(spec.audio).is_file():
                raise ConfigError(
                    f"scenario {scenario.name!r}: turn {number}: no file {spec.audio}"
                )
            files[number] = spec.audio
        elif spec.speak:
            files[number] = os.fspath(speak(spec.speak))
    tools = _tool_book(scenario)
    config = build_config(
        system=scenario.config.system_instruction,
        voice=scenario.config.voice,
        tools=tools,
        transcribe=scenario.config.transcription,
        model=scenario.model,
    )
    script = None
    use_emulator = emulator if emulator is not None else (endpoint is None and api_key is None)
    if cassette is None and use_emulator and scenario.emulator_script:
        from rawlive.servers.emulator.script import load_script

        script = load_script(scenario.emulator_script)
    temporary = None
    if record is None:
        temporary = Path(tempfile.mkdtemp(prefix="rawlive-scenario-"))
        path = temporary / "run.jsonl"
    else:
        path = Path(record)
        path.parent.mkdir(parents=True, exist_ok=True)
    run = ScenarioRun(scenario=scenario, cassette=None if temporary else str(path))
    started = time.monotonic()
    try:
        async with contextlib.AsyncExitStack() as stack:
            url = endpoint
            if cassette is not None:
                from rawlive.servers.replay import ReplayServer

                replay = ReplayServer(cassette, speed=0.0)
                await replay.start()
                stack.push_async_callback(replay.stop)
                url, run.target = replay.url, "cassette"
                run.replayed = os.fspath(cassette)
            elif use_emulator:
                from rawlive.servers.emulator import Emulator

                emu = Emulator(script=script, speed=emulator_speed)
                await emu.start()
                stack.push_async_callback(emu.stop)
                url, run.target = emu.url, "emulator"
            else:
                run.target = "endpoint" if endpoint is not None else "gemini"
            writer = cassette_module.CassetteWriter(path, meta={"scenario": scenario.name})
            recorder: cassette_module.Recorder = (
                writer if also_record is None else cassette_module.TeeRecorder(writer, also_record)
            )
            await _play(
                run,
                scenario,
                url=url,
                api_key=api_key,
                config=config,
                recorder=recorder,
                handlers=dict(handlers or {}),
                tools=tools,
                speed=speed,
                chunk_ms=chunk_ms,
                files=files,
                on_event=on_event,
            )
            if not writer.closed:
                writer.close()
            if cassette is not None:
                run.problems.extend(str(m) for m in replay.mismatches)
                unsent = [f for f in replay.remaining() if f.sender == "client"]
                if unsent:
                    run.problems.append(
                        f"{len(unsent)} client frame(s) of the cassette were never sent "
                        f"(the first: {unsent[0].kind}): the scenario no longer sends "
                        "what was recorded; record it again"
                    )
        run.duration = round(time.monotonic() - started, 3)
        if path.is_file():
            report = audit.audit_cassette(path, model=scenario.model)
            run.findings = list(report.findings)
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                for leftover in temporary.iterdir():
                    leftover.unlink()
                temporary.rmdir()
    return run


async def _play(
    run: ScenarioRun,
    scenario: Scenario,
    *,
    url: str | None,
    api_key: str | None,
    config: dict[str, Any],
    recorder: cassette_module.Recorder,
    handlers: dict[str, ToolHandler],
    tools: ToolBook | None,
    speed: float | None,
    chunk_ms: float,
    files: dict[int, str],
    on_event: Callable[[int, Event], None] | None,
) -> None:
    """Connect (``rawlive.connect`` looked up at call time: the pytest plugin patches it),
    play the turns, close; an abnormal end is the run's :attr:`~ScenarioRun.error`."""
    player: _Player | None = None
    receiver: asyncio.Task[None] | None = None
    try:
        session = await session_module.connect(
            scenario.model, config, endpoint=url, api_key=api_key, record=recorder
        )
    except RawliveError as exc:
        recorder.close()
        run.error = f"could not connect: {exc}"
        return
    try:
        player = _Player(scenario, session, handlers, tools, on_event)
        run.turns = player.turns
        receiver = asyncio.create_task(player.receive(), name="rawlive-scenario-receive")
        playing = asyncio.create_task(
            player.play(files, speed=speed, chunk_ms=chunk_ms), name="rawlive-scenario-play"
        )
        done, _ = await asyncio.wait({receiver, playing}, return_when=asyncio.FIRST_COMPLETED)
        if playing not in done:
            playing.cancel()
            await asyncio.gather(playing, return_exceptions=True)
            error = receiver.exception()
            run.error = (
                f"the session ended during turn {len(player.turns)}: {error}"
                if error is not None
                else f"the server closed the session during turn {len(player.turns)}"
            )
        elif playing.exception() is not None:
            error = playing.exception()
            if isinstance(error, ConfigError):
                raise error
            run.error = f"turn {len(player.turns)} failed: {error}"
    finally:
        if receiver is not None and not receiver.done():
            receiver.cancel()
        with contextlib.suppress(Exception):
            await session.close()
        if receiver is not None:
            await asyncio.gather(receiver, return_exceptions=True)
        if player is not None:
            player.finish()


def run_scenario_sync(scenario: Scenario | str | os.PathLike[str], **options: Any) -> ScenarioRun:
    """:func:`run_scenario` for code with no event loop running (a plain test, a script)."""
    return asyncio.run(run_scenario(scenario, **options))
