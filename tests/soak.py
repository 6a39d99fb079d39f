"""The soak driver: one long resumable session under faults, and many sessions at once.

``tests/test_soak.py`` runs it at CI scale; ``make soak`` (``RAWLIVE_SOAK=long``)
at full scale. Everything that makes the run long is a parameter of
:class:`SoakPlan` and :class:`CrowdPlan`.

**One session** (:func:`soak`): a client streams ``audio_s`` seconds of
16 kHz audio, ``speed`` times faster than real time, to an emulator (directly
or through ``rawlive proxy``) whose connections last ``lifetime_s`` (a
``goAway`` ``goaway_lead_s`` before the end), while a seeded chaos task drops
connections, answers pings late and closes with 1011. The audio alternates
speech and silence, so the emulator's voice detection takes turns, and every
turn is answered by a reply of tagged chunks. Every chunk is identifiable:
the first samples of each user chunk encode its sequence number, those of
each reply chunk its reply (``generation``) and its position in it. Everything
is recorded: the client's cassette (every frame its socket sent or
received), the emulator's (one per connection: every frame it sent or
received), the proxy's. The checks (:func:`check`) then compare:

* **the conversation state**: the emulator session's digests of the client
  messages it consumed, mapped back to sequence numbers: no message twice,
  none out of order, nothing foreign, and the missing ones exactly those the
  resumptions explain (:func:`expected_losses`: none in transparent mode);
* **the server's messages**: per connection, what the client's socket
  received is a prefix of what the emulator sent, byte for byte (the rest was
  lost on the wire when the connection died: counted), and ``receive()``
  yielded exactly the messages received, once each, in order, with a
  ``SessionResumed`` marker between connections;
* **the reply WAV**: cut into chunks, exactly the reply chunks the client
  received, in order: no chunk twice, each reply's chunks contiguous from
  the first, a reply short only when its connection ended or speech
  interrupted it (the audio replayed after a resume arrives in a burst, so
  replayed speech can start over a reply); every utterance heard by the
  emulator, and the last one answered in full;
* **the proxy's cassettes** (with ``proxy``): every frame that went through,
  both ways: what the client received is a prefix of what the proxy recorded
  from upstream, itself a prefix of what the emulator sent, and the same the
  other way.

**Many sessions** (:func:`crowd`): ``sessions`` clients stream audio in real
time to one emulator for ``duration_s``, through goAways and drops, while the
process's asyncio tasks, open file descriptors and resident memory are
sampled; after a warm-up they must not grow beyond the plan's slack, and once
every session is closed tasks and descriptors must be back where they started.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import gc
import hashlib
import itertools
import os
import random
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

import rawlive
from rawlive.cassette import CassetteReader, CloseEvent, FrameEvent
from rawlive.media.audio import WavWriter
from rawlive.servers.emulator import Emulator, ReplyPlan, message_digest
from rawlive.servers.proxy import Proxy
from rawlive.wire import codec
from rawlive.wire import types as t

NATIVE = "gemini-2.5-flash-native-audio-preview-12-2025"
VERTEX_NATIVE = "gemini-live-2.5-flash-native-audio"

CHUNK_MS = 40
CHUNK_SAMPLES = 16_000 * CHUNK_MS // 1000  # 640 samples, 1280 bytes
REPLY_CHUNK_SAMPLES = 24_000 * CHUNK_MS // 1000  # 960 samples, 1920 bytes
USER_MAGIC = 0x5A
REPLY_MAGIC = 0x5B
SILENCE_MS = 300  # the voice detector's end-of-speech silence


# -- the audio: every chunk says which it is -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Speech:
    """The user's side: ``speech_chunks`` of speech then ``silence_chunks`` of silence, again."""

    speech_chunks: int = 30  # 1.2 s
    silence_chunks: int = 50  # 2.0 s

    @property
    def cycle(self) -> int:
        return self.speech_chunks + self.silence_chunks

    def is_speech(self, seq: int) -> bool:
        return seq % self.cycle < self.speech_chunks

    def utterance(self, seq: int) -> int:
        return seq // self.cycle

    def chunk(self, seq: int) -> bytes:
        """Chunk ``seq`` (from 0): a loud square wave or silence, tagged with ``seq``."""
        samples = np.zeros(CHUNK_SAMPLES, dtype="<i2")
        if self.is_speech(seq):
            samples[:] = np.where(np.arange(CHUNK_SAMPLES) % 16 < 8, 6000, -6000)
        samples[:4] = (USER_MAGIC, seq & 0xFF, (seq >> 8) & 0xFF, (seq >> 16) & 0xFF)
        return samples.tobytes()


def user_seq(chunk: bytes) -> int | None:
    """The sequence number a user chunk carries (``None``: not a tagged chunk)."""
    if len(chunk) < 8:
        return None
    s = np.frombuffer(chunk[:8], dtype="<i2")
    if s[0] != USER_MAGIC:
        return None
    return int(s[1]) | int(s[2]) << 8 | int(s[3]) << 16


def reply_chunk(generation: int, index: int) -> bytes:
    samples = np.zeros(REPLY_CHUNK_SAMPLES, dtype="<i2")
    samples[:5] = (
        REPLY_MAGIC,
        generation & 0xFF,
        (generation >> 8) & 0xFF,
        (generation >> 16) & 0xFF,
        index,
    )
    samples[5:] = 1000  # quiet, but not silence
    return samples.tobytes()


def reply_tag(chunk: bytes) -> tuple[int, int] | None:
    s = np.frombuffer(chunk[:10], dtype="<i2")
    if len(s) < 5 or s[0] != REPLY_MAGIC:
        return None
    return int(s[1]) | int(s[2]) << 8 | int(s[3]) << 16, int(s[4])


class TaggingEmulator(Emulator):
    """The emulator, answering every user turn with ``reply_chunks`` tagged chunks.

    ``replies`` maps each reply (its generation number) to the sequence
    number of the first user chunk of the utterance it answers.
    """

    def __init__(self, *, reply_chunks: int, **options: Any) -> None:
        super().__init__(chunk_ms=CHUNK_MS, **options)
        self.reply_chunks = reply_chunks
        self.replies: dict[int, int | None] = {}
        self._generations = itertools.count(1)

    def plan_for(self, live: Any, turn: int, text: str | None, user_audio: bytes) -> ReplyPlan:
        generation = next(self._generations)
        self.replies[generation] = user_seq(user_audio)
        audio = b"".join(reply_chunk(generation, i) for i in range(self.reply_chunks))
        return ReplyPlan(audio=audio)


# -- one long session -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SoakPlan:
    """One soak run. Times are wall-clock seconds unless named ``audio``."""

    audio_s: float = 48.0
    speed: float = 8.0  # audio sent (and replies paced) this much faster than real time
    lifetime_s: float = 1.0  # each connection's life: a goAway every lifetime_s
    goaway_lead_s: float = 0.3
    drops: int = 2
    late_pongs: int = 1
    closes_1011: int = 1
    pong_delay_s: float = 1.2
    ping_interval_s: float = 0.2
    ping_timeout_s: float = 0.5
    reply_chunks: int = 25  # 1 s of reply per turn
    speech: Speech = Speech()
    transparent: bool = False
    proxy: bool = False
    seed: int = 8
    #: Keep every frame of each emulator connection in memory too (small runs only).
    capture_frames: bool = False

    @property
    def chunks(self) -> int:
        return int(self.audio_s * 1000 / CHUNK_MS)

    @property
    def wall_s(self) -> float:
        return self.audio_s / self.speed


@dataclasses.dataclass
class Resume:
    reason: str
    handle: str | None
    #: The digest of the last message in the handle's state (``None``: none),
    #: as the emulator holds it: the emulator numbers only what it consumed.
    handle_last: int | None
    replay_from: int
    replayed: int
    connection: int


@dataclasses.dataclass
class Run:
    """What one soak run did and saw, for :func:`check`."""

    plan: SoakPlan
    directory: Path
    emulator: TaggingEmulator
    sent: list[int] = dataclasses.field(default_factory=list)  # digest of message i+1
    #: receive() as it went: (connection, digest of the message) or a Resume.
    received: list[tuple[int, int] | Resume] = dataclasses.field(default_factory=list)
    faults: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    wall_s: float = 0.0
    #: Final-session figures filled in by the checks.
    report: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def resumes(self) -> list[Resume]:
        return [item for item in self.received if isinstance(item, Resume)]

    @property
    def client_cassette(self) -> Path:
        return self.directory / "client.jsonl"

    @property
    def wav(self) -> Path:
        return self.directory / "reply.wav"


def _struct_digest(message: t.LiveServerMessage) -> int:
    return int.from_bytes(
        hashlib.blake2b(codec.encode_server_message(message), digest_size=8).digest(), "little"
    )


def _payload_digest(payload: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest(), "little")


def _audio_message(chunk: bytes) -> t.LiveClientRealtimeInput:
    return t.LiveClientRealtimeInput(audio=t.Blob(data=chunk, mime_type="audio/pcm;rate=16000"))


async def soak(plan: SoakPlan, directory: Path) -> Run:
    """Run one session under the plan's faults; return what happened (then :func:`check` it)."""
    directory.mkdir(parents=True, exist_ok=True)
    emulator = TaggingEmulator(
        reply_chunks=plan.reply_chunks,
        speed=plan.speed,
        connection_lifetime=plan.lifetime_s,
        goaway_lead=plan.goaway_lead_s,
        capture_frames=plan.capture_frames,
        record_dir=directory / "emulator",
    )
    run = Run(plan=plan, directory=directory, emulator=emulator)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(emulator)
        url = emulator.url
        if plan.proxy:
            proxy = Proxy(emulator.url, capture_frames=False, record_dir=directory / "proxy")
            await stack.enter_async_context(proxy)
            url = proxy.url
        config: dict[str, Any] = {
            "response_modalities": ["AUDIO"],
            "session_resumption": {"transparent": True} if plan.transparent else {},
            "realtime_input_config": {
                "automatic_activity_detection": {"silence_duration_ms": SILENCE_MS}
            },
        }
        vertex: dict[str, Any] = (
            {"vertex": True, "api_key": "soak-key"} if plan.transparent else {"api_key": "soak"}
        )
        session = await rawlive.connect(
            VERTEX_NATIVE if plan.transparent else NATIVE,
            config,
            endpoint=url,
            reconnect=rawlive.Reconnect(
                attempts=10, first_delay=0.02, max_delay=0.5, go_away_margin=plan.goaway_lead_s / 2
            ),
            ping_interval=plan.ping_interval_s,
            ping_timeout=plan.ping_timeout_s,
            record=run.client_cassette,
            **vertex,
        )
        stack.push_async_callback(session.close)
        wav = WavWriter(run.wav)
        stack.callback(wav.close)
        receiver = asyncio.create_task(_receive(run, session, wav))
        chaos = asyncio.create_task(_chaos(run))
        started = time.monotonic()
        try:
            await _stream(run, session)
            await _wait_answered(run, timeout=max(10.0, 20 * plan.reply_chunks * 0.04))
        finally:
            run.wall_s = time.monotonic() - started
            chaos.cancel()
            await session.close()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver
            with contextlib.suppress(asyncio.CancelledError):
                await chaos
    return run


async def _stream(run: Run, session: rawlive.Session) -> None:
    """Send the audio on a drift-free schedule, ``speed`` times real time."""
    plan = run.plan
    loop = asyncio.get_running_loop()
    start = loop.time()
    period = CHUNK_MS / 1000 / plan.speed
    for seq in range(plan.chunks):
        message = _audio_message(plan.speech.chunk(seq))
        run.sent.append(message_digest(t.LiveClientMessage(realtime_input=message)))
        await session.send_realtime_input(audio=message.audio)
        delay = start + (seq + 1) * period - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


async def _receive(run: Run, session: rawlive.Session, wav: WavWriter) -> None:
    connection = 1
    async for message in session.receive():
        if isinstance(message, rawlive.SessionResumed):
            connection = message.connection
            found = run.emulator.handle_state(message.handle) if message.handle else None
            if message.handle is not None:
                assert found is not None, "resumed from a handle the emulator does not know"
            last = found[0].digests[found[1] - 1] if found and found[1] else None
            run.received.append(
                Resume(
                    reason=message.reason,
                    handle=message.handle,
                    handle_last=last,
                    replay_from=message.replay_from,
                    replayed=message.replayed,
                    connection=connection,
                )
            )
            continue
        run.received.append((connection, _struct_digest(message)))
        if message.data:
            wav.write(message.data)


async def _chaos(run: Run) -> None:
    """Fire the plan's faults at seeded random moments, on whatever connection is live."""
    plan = run.plan
    rng = random.Random(plan.seed)
    actions = (
        ["drop"] * plan.drops + ["late_pongs"] * plan.late_pongs + ["close_1011"] * plan.closes_1011
    )
    rng.shuffle(actions)
    moments = sorted(rng.uniform(0.1, 0.85) * plan.wall_s for _ in actions)
    emulator = run.emulator
    loop = asyncio.get_running_loop()
    start = loop.time()
    quiet_until = start
    for at, action in zip(moments, actions, strict=True):
        # No fault lands while the emulator is not reading: a close it sent
        # then would wait out websockets' 10 s close timeout on both sides.
        await asyncio.sleep(max(0.0, start + at - loop.time(), quiet_until - loop.time()))
        # A fault meant for a connection waits until there is one.
        while not emulator.live_peers():
            await asyncio.sleep(0.01)
        if action == "drop":
            emulator.drop()
        elif action == "late_pongs":
            emulator.late_pongs(plan.pong_delay_s)
            quiet_until = loop.time() + plan.pong_delay_s + 0.2
        else:
            await emulator.close_with(1011, "Internal error occurred.")
        run.faults[action] += 1


def _utterances(plan: SoakPlan) -> set[int]:
    """Utterances whose speech and end-of-speech silence were all sent."""
    speech = plan.speech
    return {
        u
        for u in range(plan.chunks // speech.cycle + 1)
        if u * speech.cycle + speech.speech_chunks + SILENCE_MS // CHUNK_MS + 1 <= plan.chunks
    }


def _heard(run: Run) -> set[int]:
    """Utterances the emulator took as a user turn (it generated a reply to them)."""
    speech = run.plan.speech
    return {speech.utterance(first) for first in run.emulator.replies.values() if first is not None}


def _answered(run: Run) -> set[int]:
    """Utterances with a complete reply in the WAV so far."""
    replies = run.emulator.replies
    speech = run.plan.speech
    done: set[int] = set()
    for generation, chunks in _wav_replies(run.wav).items():
        first = replies.get(generation)
        if first is not None and len(chunks) == run.plan.reply_chunks:
            done.add(speech.utterance(first))
    return done


async def _wait_answered(run: Run, timeout: float) -> None:
    """Until every utterance was heard and the last one answered in full (or the timeout)."""
    deadline = time.monotonic() + timeout
    want = _utterances(run.plan)
    while time.monotonic() < deadline and not (
        want <= _heard(run) and (not want or max(want) in _answered(run))
    ):
        await asyncio.sleep(0.1)


def _wav_chunks(path: Path) -> list[bytes]:
    with wave.open(str(path), "rb") as reader:
        assert (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()) == (
            24_000,
            1,
            2,
        )
        data = reader.readframes(reader.getnframes())
    size = REPLY_CHUNK_SAMPLES * 2
    assert len(data) % size == 0, f"the WAV holds {len(data)} bytes, not whole chunks"
    return [data[i : i + size] for i in range(0, len(data), size)]


def _wav_replies(path: Path) -> dict[int, list[int]]:
    replies: dict[int, list[int]] = collections.defaultdict(list)
    with contextlib.suppress(AssertionError, EOFError, wave.Error):
        for chunk in _wav_chunks(path):
            tag = reply_tag(chunk)
            if tag is not None:
                replies[tag[0]].append(tag[1])
    return replies


# -- the checks ---------------------------------------------------------------------------------


def expected_losses(resumes: list[Resume], index_of: dict[int, int]) -> set[int]:
    """Client messages (numbered from 1) that resuming cannot restore, by the wire's account.

    A resume with a handle restores the state the handle names (up to client
    message ``index_of[handle_last]``) and replays from ``replay_from``: the
    messages in between were consumed after the server issued the handle but
    sent before its update reached the client, which then stopped keeping
    them. Only transparent mode's ``lastConsumedClientMessageIndex`` tells the
    client where the handle's state ends; with it the gap is empty.
    """
    lost: set[int] = set()
    for resume in resumes:
        last = 0 if resume.handle_last is None else index_of[resume.handle_last]
        lost.update(range(last + 1, resume.replay_from))
    return lost


def check(run: Run) -> dict[str, Any]:
    """Every check of the module docstring; returns the run's figures."""
    report = run.report
    report.update(
        wall_s=round(run.wall_s, 1),
        audio_s=run.plan.audio_s,
        transparent=run.plan.transparent,
        proxy=run.plan.proxy,
        faults=dict(run.faults),
        resumes=collections.Counter(r.reason for r in run.resumes),
    )
    try:
        check_conversation(run)
        check_server_messages(run)
        check_replies(run)
        if run.plan.proxy:
            check_proxy(run)
    finally:
        _recording.cache_clear()
    return report


def check_conversation(run: Run) -> None:
    """The emulator's conversation state holds each message sent once, in order."""
    index_of = {digest: i for i, digest in enumerate(run.sent, 1)}
    assert len(index_of) == len(run.sent), "two sent messages share a digest"
    final = list(run.emulator.sessions.values())[-1]
    held = [index_of.get(digest) for digest in final.digests]
    foreign = sum(index is None for index in held)
    assert not foreign, f"{foreign} consumed messages were never sent"
    indices = [index for index in held if index is not None]
    duplicated = len(indices) - len(set(indices))
    assert not duplicated, f"{duplicated} messages consumed twice"
    disorder = [(a, b) for a, b in itertools.pairwise(indices) if b <= a]
    assert not disorder, f"messages out of order: {disorder[:5]}"
    missing = set(range(1, len(run.sent) + 1)) - set(indices)
    expected = expected_losses(run.resumes, index_of)
    if run.plan.transparent:
        assert not expected, f"transparent mode left a gap: {sorted(expected)[:10]}"
    assert missing == expected, (
        f"missing {_ranges(missing)}, the resumptions explain {_ranges(expected)}"
    )
    by_reason: collections.Counter[str] = collections.Counter()
    counted: set[int] = set()
    for resume in run.resumes:
        explained = expected_losses([resume], index_of) - counted
        by_reason[resume.reason] += len(explained)
        counted |= explained
    run.report.update(
        messages_sent=len(run.sent),
        messages_held=len(indices),
        messages_lost_in_flight=len(missing),
        lost_by_reason=dict(by_reason),
        sessions=len(run.emulator.sessions),
    )


def _ranges(numbers: set[int]) -> str:
    out: list[str] = []
    for _, group in itertools.groupby(enumerate(sorted(numbers)), lambda p: p[1] - p[0]):
        values = [v for _, v in group]
        out.append(f"{values[0]}" if len(values) == 1 else f"{values[0]}-{values[-1]}")
    return "[" + ", ".join(out[:20]) + (", ..." if len(out) > 20 else "") + "]"


class _Recording:
    """A cassette's frames by connection and sender, and its closes."""

    def __init__(self, path: Path) -> None:
        self.frames: dict[tuple[int, str], list[FrameEvent]] = collections.defaultdict(list)
        self.closes: list[CloseEvent] = []
        with CassetteReader(path) as reader:
            for event in reader:
                if isinstance(event, FrameEvent):
                    self.frames[event.connection, event.sender].append(event)
                elif isinstance(event, CloseEvent):
                    self.closes.append(event)
        self.connections = max((c for c, _ in self.frames), default=0)

    def get(self, connection: int, sender: str) -> list[FrameEvent]:
        return self.frames.get((connection, sender), [])


@functools.lru_cache(maxsize=8)
def _recording(path: Path) -> _Recording:
    return _Recording(path)


def _per_connection(directory: Path) -> list[_Recording]:
    """A server's cassettes, one per connection (numbered 1 in each), in order."""
    return [_recording(path) for path in sorted(directory.glob("connection-*.jsonl"))]


def _digests(frames: list[FrameEvent]) -> list[int]:
    return [_payload_digest(frame.payload) for frame in frames]


def _is_prefix(short: list[int], long: list[int]) -> bool:
    return len(short) <= len(long) and long[: len(short)] == short


def check_server_messages(run: Run) -> None:
    """Per connection: received ⊑ sent, byte for byte; receive() yields each received once."""
    client = _recording(run.client_cassette)
    server = _per_connection(run.directory / "emulator")
    connections = client.connections
    assert len(server) == connections, (
        f"the client opened {connections} connections, the emulator saw {len(server)}"
    )
    yielded: dict[int, list[int]] = collections.defaultdict(list)
    markers = [item.connection for item in run.resumes]
    assert markers == sorted(set(markers)), f"SessionResumed markers out of order: {markers}"
    current = 1
    for item in run.received:
        if isinstance(item, Resume):
            current = item.connection
            continue
        connection, digest = item
        assert connection == current
        yielded[connection].append(digest)
    lost: collections.Counter[str] = collections.Counter()
    frames = 0
    for number in range(1, connections + 1):
        got = client.get(number, "server")
        sent = server[number - 1].get(1, "server")
        assert _is_prefix(_digests(got), _digests(sent)), (
            f"connection {number}: the client received frames the emulator did not send "
            "in that order"
        )
        for frame in sent[len(got) :]:
            lost[frame.kind] += 1
        # Client messages: what the emulator read is what the client sent, in order.
        read = _digests(server[number - 1].get(1, "client"))
        assert _is_prefix(read, _digests(client.get(number, "client")))
        # receive(): every message received after setupComplete, once, in order.
        messages = [codec.decode_server_message(frame.payload) for frame in got[1:]]
        assert yielded.get(number, []) == [_struct_digest(m) for m in messages], (
            f"connection {number}: receive() did not yield exactly the messages received"
        )
        frames += len(got)
    run.report.update(
        connections=connections,
        client_closes=dict(
            collections.Counter(f"{c.code} {c.reason}".strip() for c in client.closes)
        ),
        server_frames_checked=frames,
        server_frames_lost_on_the_wire=dict(lost),
    )


def check_replies(run: Run) -> None:
    """The WAV: every reply chunk received, once, in order; replies whole unless cut.

    A reply is cut when its connection ended, or when the user spoke over it
    (``interrupted``): the audio replayed after a resume arrives faster than
    real time, so an utterance replayed in it may start while the reply to
    the one before is still playing. Every utterance must have been heard,
    and the last one, after the faults, answered in full.
    """
    chunks = _wav_chunks(run.wav)
    tags = [reply_tag(chunk) for chunk in chunks]
    assert None not in tags, "the WAV holds audio that is no reply chunk"
    client = _recording(run.client_cassette)
    received: list[tuple[int, int] | None] = []
    for connection in range(1, client.connections + 1):
        for frame in client.get(connection, "server"):
            data = codec.decode_server_message(frame.payload).data
            if data:
                received.append(reply_tag(data))
    assert tags == received, "the WAV does not hold exactly the reply chunks received"
    seen: set[tuple[int, int]] = set()
    order: list[int] = []
    for tag in tags:
        assert tag is not None
        assert tag not in seen, f"reply chunk {tag} is in the WAV twice"
        seen.add(tag)
        generation = tag[0]
        if not order or order[-1] != generation:
            assert generation not in order, f"reply {generation} is not contiguous in the WAV"
            order.append(generation)
    replies = _wav_replies(run.wav)
    for generation, indices in replies.items():
        assert indices == list(range(len(indices))), f"reply {generation} has a gap"
    whole = run.plan.reply_chunks
    cut = {g for g, indices in replies.items() if len(indices) < whole}
    _check_cuts(run, cut)
    wanted = _utterances(run.plan)
    heard = _heard(run)
    assert wanted <= heard, f"utterances the emulator never heard: {sorted(wanted - heard)}"
    answered = _answered(run)
    assert not wanted or max(wanted) in answered, "the last utterance has no complete reply"
    per_utterance = collections.Counter(
        run.plan.speech.utterance(first)
        for g, first in run.emulator.replies.items()
        if first is not None and len(replies.get(g, ())) == whole
    )
    run.report.update(
        reply_chunks_checked=len(chunks),
        replies_generated=len(run.emulator.replies),
        replies_whole=len(replies) - len(cut),
        replies_cut=len(cut) + len(set(run.emulator.replies) - set(replies)),
        utterances=len(wanted),
        utterances_answered_in_full=len(answered & wanted),
        utterances_answered_twice=sum(1 for n in per_utterance.values() if n > 1),
    )


def _check_cuts(run: Run, cut: set[int]) -> None:
    """A reply is short only if its connection ended or speech interrupted it."""
    if not cut:
        return
    client = _recording(run.client_cassette)
    for connection in range(1, client.connections + 1):
        frames = client.get(connection, "server")
        messages = [codec.decode_server_message(frame.payload) for frame in frames]
        last: dict[int, int] = {}
        for i, message in enumerate(messages):
            tag = reply_tag(message.data) if message.data else None
            if tag is not None and tag[0] in cut:
                last[tag[0]] = i
        for generation, i in last.items():
            content = [m.server_content for m in messages[i + 1 :] if m.server_content]
            # The reply's turn ends with turnComplete: if it came, so did
            # ``interrupted`` before it; if not, the connection ended first.
            ended = next((c for c in content if c.turn_complete or c.interrupted), None)
            assert ended is None or ended.interrupted, (
                f"reply {generation} is short with no drop or interruption"
            )


def check_proxy(run: Run) -> None:
    """The proxy's cassettes hold every frame that went through, both ways."""
    client = _recording(run.client_cassette)
    proxied = _per_connection(run.directory / "proxy")
    server = _per_connection(run.directory / "emulator")
    assert len(proxied) == len(server), (len(proxied), len(server))
    frames = 0
    for number, (middle, upstream) in enumerate(zip(proxied, server, strict=True), 1):
        # Server to client: received ⊑ recorded by the proxy ⊑ sent by the emulator.
        received = _digests(client.get(number, "server"))
        recorded = _digests(middle.get(1, "server"))
        assert _is_prefix(received, recorded), f"connection {number}: a server frame unrecorded"
        assert _is_prefix(recorded, _digests(upstream.get(1, "server")))
        # Client to server: read by the emulator ⊑ recorded ⊑ sent by the client.
        read = _digests(upstream.get(1, "client"))
        recorded_up = _digests(middle.get(1, "client"))
        assert _is_prefix(read, recorded_up), f"connection {number}: a client frame unrecorded"
        assert _is_prefix(recorded_up, _digests(client.get(number, "client")))
        frames += len(recorded) + len(recorded_up)
    run.report.update(proxy_frames_checked=frames)


# -- many sessions at once --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CrowdPlan:
    """Many real-time sessions against one emulator; resources sampled as they run."""

    sessions: int = 50
    duration_s: float = 10.0
    warmup_s: float = 4.0
    chunk_ms: int = 100
    lifetime_s: float = 3.0  # goAway every lifetime_s
    goaway_lead_s: float = 1.0
    drop_every_s: float = 2.0  # a random session's connection is dropped this often
    consumed_limit: int = 64 * 1024
    sample_every_s: float = 1.0
    rss_slack_mb: float = 24.0
    seed: int = 3


@dataclasses.dataclass
class Sample:
    at: float
    tasks: int
    fds: int
    rss_mb: float


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _sample(start: float) -> Sample:
    return Sample(time.monotonic() - start, len(asyncio.all_tasks()), _fds(), _rss_mb())


@dataclasses.dataclass
class Crowd:
    plan: CrowdPlan
    before: Sample
    samples: list[Sample]
    after: Sample
    turns: int
    resumes: int
    drops: int
    messages: int
    failures: list[str]
    #: The emulator's conversation state at the end: messages held, kept in full.
    held: int = 0
    kept: int = 0

    @property
    def steady(self) -> list[Sample]:
        return [s for s in self.samples if s.at >= self.plan.warmup_s]

    def figures(self) -> dict[str, Any]:
        steady = self.steady
        first, last = steady[0], steady[-1]
        return {
            "sessions": self.plan.sessions,
            "duration_s": self.plan.duration_s,
            "messages_sent": self.messages,
            "turns_answered": self.turns,
            "resumes": self.resumes,
            "drops": self.drops,
            "emulator_messages_held": self.held,
            "emulator_messages_kept_in_full": self.kept,
            "tasks": (
                self.before.tasks,
                first.tasks,
                max(s.tasks for s in steady),
                self.after.tasks,
            ),
            "fds": (self.before.fds, first.fds, max(s.fds for s in steady), self.after.fds),
            "rss_mb": (
                round(self.before.rss_mb),
                round(first.rss_mb),
                round(last.rss_mb),
                round(self.after.rss_mb),
            ),
        }


async def crowd(plan: CrowdPlan) -> Crowd:
    """Run ``sessions`` real-time sessions for ``duration_s``; sample tasks, fds and memory."""
    gc.collect()
    rng = random.Random(plan.seed)
    speech = Speech(
        speech_chunks=1000 // plan.chunk_ms, silence_chunks=2000 // plan.chunk_ms
    )  # 1 s of speech, 2 s of silence
    counters: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    start = time.monotonic()
    before = _sample(start)
    samples: list[Sample] = []
    stop = asyncio.Event()

    async def client(number: int, url: str) -> None:
        try:
            async with rawlive.connect(
                NATIVE,
                {
                    "response_modalities": ["AUDIO"],
                    "session_resumption": {},
                    "realtime_input_config": {
                        "automatic_activity_detection": {"silence_duration_ms": SILENCE_MS}
                    },
                },
                endpoint=url,
                api_key="crowd",
                reconnect=rawlive.Reconnect(attempts=10, first_delay=0.05, max_delay=1.0),
            ) as session:
                reader = asyncio.create_task(receive(session))
                try:
                    await send(session, number)
                finally:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader
        except Exception as exc:  # reported, and the run fails
            failures.append(f"session {number}: {type(exc).__name__}: {exc}")

    async def send(session: rawlive.Session, number: int) -> None:
        loop = asyncio.get_running_loop()
        begin = loop.time() + rng.uniform(0, plan.chunk_ms / 1000)
        period = plan.chunk_ms / 1000
        for seq in itertools.count(number * 7):  # sessions out of step
            if stop.is_set():
                return
            samples_n = 16 * plan.chunk_ms
            pcm = np.zeros(samples_n, dtype="<i2")
            if speech.is_speech(seq):
                pcm[:] = np.where(np.arange(samples_n) % 16 < 8, 6000, -6000)
            await session.send_realtime_input(
                audio=t.Blob(data=pcm.tobytes(), mime_type="audio/pcm;rate=16000")
            )
            counters["messages"] += 1
            delay = begin + (seq - number * 7 + 1) * period - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    async def receive(session: rawlive.Session) -> None:
        async for message in session.receive():
            if isinstance(message, rawlive.SessionResumed):
                counters["resumes"] += 1
            elif message.server_content and message.server_content.turn_complete:
                counters["turns"] += 1

    async def chaos(emulator: Emulator) -> None:
        while not stop.is_set():
            await asyncio.sleep(plan.drop_every_s)
            peers = emulator.live_peers()
            if peers:
                peer, _ = rng.choice(peers)
                peer.abort()
                counters["drops"] += 1

    async def sampler() -> None:
        while not stop.is_set():
            samples.append(_sample(start))
            await asyncio.sleep(plan.sample_every_s)

    async with Emulator(
        capture_frames=False,
        connection_lifetime=plan.lifetime_s,
        goaway_lead=plan.goaway_lead_s,
        consumed_limit=plan.consumed_limit,
    ) as emulator:
        helpers = [asyncio.create_task(sampler()), asyncio.create_task(chaos(emulator))]
        clients = [
            asyncio.create_task(client(number, emulator.url)) for number in range(plan.sessions)
        ]
        await asyncio.sleep(plan.duration_s)
        stop.set()
        await asyncio.gather(*clients)
        held = sum(session.index for session in emulator.sessions.values())
        kept = sum(len(session.consumed) for session in emulator.sessions.values())
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
    del emulator, clients, helpers
    # Let closing handshakes and callbacks run out before the last count.
    for _ in range(20):
        await asyncio.sleep(0.05)
    gc.collect()
    after = _sample(start)
    return Crowd(
        plan=plan,
        before=before,
        samples=samples,
        after=after,
        turns=counters["turns"],
        resumes=counters["resumes"],
        drops=counters["drops"],
        messages=counters["messages"],
        failures=failures,
        held=held,
        kept=kept,
    )


def check_crowd(result: Crowd) -> dict[str, Any]:
    """No session failed; tasks, fds and memory flat after warm-up; all released at the end."""
    plan = result.plan
    assert not result.failures, result.failures[:5]
    steady = result.steady
    assert len(steady) >= 2, "no samples after the warm-up"
    first = steady[0]
    # Tasks and fds: per session a reader, a keepalive and a socket; a resume
    # briefly adds a connection. Never more than that, whatever the time.
    limit_tasks = first.tasks + plan.sessions
    assert max(s.tasks for s in steady) <= limit_tasks, [s.tasks for s in steady]
    assert max(s.fds for s in steady) <= first.fds + plan.sessions, [s.fds for s in steady]
    growth = max(s.rss_mb for s in steady) - first.rss_mb
    assert growth <= plan.rss_slack_mb, f"RSS grew {growth:.1f} MB after the warm-up"
    # Everything released: back to where it started.
    assert result.after.tasks <= result.before.tasks, (result.before, result.after)
    assert result.after.fds <= result.before.fds, (result.before, result.after)
    assert result.turns > 0 and result.resumes > 0
    return result.figures()


# -- scales ----------------------------------------------------------------------------------


def scale() -> str:
    """``ci`` (default) or ``long`` (``RAWLIVE_SOAK=long``, what ``make soak`` runs)."""
    value = os.environ.get("RAWLIVE_SOAK", "ci")
    if value not in ("ci", "long"):
        raise ValueError(f"RAWLIVE_SOAK must be ci or long, not {value!r}")
    return value


def soak_plan(**options: Any) -> SoakPlan:
    if scale() == "long":
        # 30 minutes of audio, sent 6 times faster than real time: a goAway every
        # simulated minute (10 s of wall time), faults in between.
        speed = float(os.environ.get("RAWLIVE_SOAK_SPEED", "6"))
        return SoakPlan(
            audio_s=1800.0,
            speed=speed,
            lifetime_s=60.0 / speed,
            goaway_lead_s=10.0 / speed,
            drops=10,
            late_pongs=5,
            closes_1011=5,
            **options,
        )
    return SoakPlan(**options)


def crowd_plan() -> CrowdPlan:
    if scale() == "long":
        return CrowdPlan(
            sessions=200,
            duration_s=300.0,
            warmup_s=60.0,
            lifetime_s=60.0,
            goaway_lead_s=10.0,
            drop_every_s=1.0,
            consumed_limit=2**20,
            sample_every_s=10.0,
            rss_slack_mb=64.0,
        )
    return CrowdPlan()


def lines(figures: dict[str, Any]) -> Iterator[str]:
    for key, value in figures.items():
        yield f"  {key}: {value}"
