"""Cassettes: the v1 format round trip, recording a live session, redaction, elision, crashes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pybase64
import pytest

import rawlive
import rawlive.servers.emulator
from rawlive import cassette
from rawlive.cassette import (
    CassetteReader,
    CassetteWriter,
    CloseEvent,
    ConnectEvent,
    EndEvent,
    FrameEvent,
    TruncatedCassetteWarning,
    read_cassette,
)
from rawlive.tools import schema
from rawlive.wire import codec
from rawlive.wire import types as t

MODEL = "gemini-live-2.5-flash-preview"
# "/" and "+" make its URL-encoded form differ from it.
KEY = "AIzaSyTest/Key+0123456789abcdefghijklm"
QUOTED_KEY = urllib.parse.quote(KEY, safe="")
FAST = rawlive.Reconnect(first_delay=0.01)


def _turn_done(message: t.LiveServerMessage) -> bool:
    return message.server_content is not None and bool(message.server_content.turn_complete)


async def _until(session: rawlive.Session, done: Any) -> list[t.LiveServerMessage]:
    received: list[t.LiveServerMessage] = []

    async def read() -> None:
        async for message in session.receive():
            received.append(message)
            if done(message):
                return

    await asyncio.wait_for(read(), 5.0)
    return received


def _write_sample(path: Path) -> list[tuple[str, str, bytes]]:
    """A small cassette with every payload shape; returns (from, opcode, payload) sent."""
    frames: list[tuple[str, str, bytes]] = [
        ("client", "text", b'{"setup":{"model":"models/m"}}'),
        ("server", "binary", b'{"setupComplete":{}}'),
        ("client", "text", '{"realtimeInput":{"text":"\u00e9\\n\u2028\u0000\U0001f600"}}'.encode()),
        ("server", "binary", b"\xff\xfe\x00\x80 not UTF-8 \xc3"),
        ("server", "text", b"  {\n  \"serverContent\" : {\"turnComplete\": true}\n}\n"),
        ("server", "binary", b""),
    ]  # fmt: skip
    with CassetteWriter(path, meta={"test": "round trip"}) as writer:
        writer.write_header(url="ws://127.0.0.1:1/ws/x", model="models/m", api_version="v1beta")
        writer.write_connect(1, "ws://127.0.0.1:1/ws/x", [("Host", "127.0.0.1:1")])
        for sender, opcode, payload in frames:
            writer.write_frame(1, sender, opcode, payload)  # type: ignore[arg-type]
        writer.write_close(1, 1000, "bye", "client")
    return frames


# -- the format ---------------------------------------------------------------------------------


def test_round_trip_gives_back_every_payload_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    frames = _write_sample(path)
    tape = read_cassette(path)
    assert tape.header.format == "rawlive-cassette" and tape.header.version == 1
    assert tape.header.rawlive_version == rawlive.__version__
    assert tape.header.model == "models/m" and tape.header.api_version == "v1beta"
    assert tape.header.meta == {"test": "round trip"}
    assert tape.complete and not tape.truncated
    assert [type(e) for e in tape.events] == [ConnectEvent] + [FrameEvent] * len(frames) + [
        CloseEvent,
        EndEvent,
    ]
    got = [(f.sender, f.opcode, f.payload) for f in tape.frames()]
    assert got == frames
    assert all(f.exact for f in tape.frames())
    (close,) = tape.closes
    assert (close.connection, close.code, close.reason, close.by) == (1, 1000, "bye", "client")
    times = [e.t for e in tape.events]
    assert times == sorted(times) and times[0] >= 0


def test_payloads_are_text_when_utf8_and_base64_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    _write_sample(path)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    frames = [line for line in lines if line["type"] == "frame"]
    # A binary frame holding JSON is stored readable; the opcode keeps the frame type.
    assert frames[1] == {
        "type": "frame",
        "t": frames[1]["t"],
        "connection": 1,
        "from": "server",
        "opcode": "binary",
        "kind": "setupComplete",
        "text": '{"setupComplete":{}}',
    }
    assert "b64" in frames[3] and "text" not in frames[3] and frames[3]["kind"] == "invalid"
    assert frames[4]["kind"] == "serverContent.turnComplete"
    assert [line["type"] for line in lines[:2]] == ["header", "connect"]


def test_the_iterator_reads_the_same_events_lazily(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    _write_sample(path)
    with CassetteReader(path) as reader:
        assert reader.header.model == "models/m"
        events = list(reader)
        assert reader.complete and not reader.truncated
    assert events == read_cassette(path).events


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b'{"setup":{"model":"m"}}', "setup"),
        (b'{"realtimeInput":{"audio":{"data":"AAAA"}}}', "realtimeInput.audio"),
        (b'{"realtime_input":{"media_chunks":[]}}', "realtime_input.media_chunks"),
        (b'{"serverContent":{"modelTurn":{},"turnComplete":true},"usageMetadata":{}}',
         "serverContent.modelTurn,serverContent.turnComplete,usageMetadata"),
        (b'{"toolCall":{"functionCalls":[]}}', "toolCall"),
        (b'{"goAway":{"timeLeft":"10s"}}', "goAway"),
        (b"{}", "empty"),
        (b"[1]", "invalid"),
        (b'{"serverContent": {', "invalid"),
    ],
)  # fmt: skip
def test_kind_summarises_the_top_level_keys(payload: bytes, kind: str) -> None:
    assert cassette.frame_kind(payload) == kind


def test_every_line_validates_against_the_published_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    document = json.loads(
        (Path(__file__).parent.parent / "schemas" / "cassette.schema.json").read_text()
    )
    assert document == json.loads(schema.schemas()["cassette.schema.json"])
    validator = jsonschema.Draft202012Validator(document)
    path = tmp_path / "c.jsonl"
    _write_sample(path)
    for line in path.read_text(encoding="utf-8").splitlines():
        validator.validate(json.loads(line))
    assert not validator.is_valid({"type": "frame", "t": 0, "connection": 1, "from": "nobody"})


# -- cut-off and bad files ----------------------------------------------------------------------


def test_a_cut_off_last_line_is_read_up_to_the_cut_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    _write_sample(path)
    whole = path.read_bytes()
    lines = whole.splitlines(keepends=True)
    # Cut in the middle of the close event (the end event is gone too): the
    # file a writer killed mid-write leaves.
    cut = b"".join(lines[:-2]) + lines[-2][:15]
    path.write_bytes(cut)
    with pytest.warns(
        TruncatedCassetteWarning, match=rf"{path.name}: line {len(lines) - 1} is cut off"
    ):
        tape = read_cassette(path)
    assert tape.truncated and not tape.complete
    assert len(tape.events) == len(lines) - 3  # all but the header, the cut line and end
    assert isinstance(tape.events[-1], FrameEvent)


def test_a_file_ending_at_a_line_boundary_reads_without_warning_but_is_not_complete(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.jsonl"
    _write_sample(path)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]))  # no end event
    tape = read_cassette(path)
    assert not tape.truncated and not tape.complete
    assert isinstance(tape.events[-1], CloseEvent)


def test_garbage_in_the_middle_is_a_decode_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    _write_sample(path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[3] = b'{"type":"frame","t":0.1,"conn\n'
    path.write_bytes(b"".join(lines))
    with pytest.raises(rawlive.DecodeError, match=rf"{path.name}:4: invalid cassette line"):
        read_cassette(path)


@pytest.mark.parametrize("block", [64, 300, 1 << 20])
def test_a_bad_line_is_named_whichever_block_of_the_file_it_is_read_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    # The reader decodes blocks of lines at once and counts lines only for a
    # block with a problem: the number must be right in any block.
    monkeypatch.setattr(cassette.reader, "_BLOCK", block)
    path = tmp_path / "c.jsonl"
    _write_sample(path)
    lines = path.read_bytes().splitlines(keepends=True)
    good = lines[1:-1] * 5  # no end event but the last
    bad_at = len(good) - 2
    good[bad_at] = b'{"type":"frame","t":0.1,"conn\n'
    path.write_bytes(b"".join([lines[0], *good, lines[-1]]))
    with pytest.raises(rawlive.DecodeError, match=rf"{path.name}:{bad_at + 2}: invalid cassette"):
        read_cassette(path)
    good[bad_at] = lines[1]
    path.write_bytes(b"".join([lines[0], *good, b"\n", lines[-1]]))
    tape = read_cassette(path)
    assert tape.complete and len(tape.events) == len(good) + 1


def test_an_unknown_event_type_is_a_decode_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    _write_sample(path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines.insert(2, b'{"type":"bogus","t":0.1}\n')
    path.write_bytes(b"".join(lines))
    with pytest.raises(rawlive.DecodeError, match=rf"{path.name}:3:.*bogus"):
        read_cassette(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "has no cassette header: the file is empty"),
        (b'{"type":"connect","t":0,"connection":1,"url":"ws://x"}\n', ":1: not a rawlive cassette"),
        (b'{"type":"header","format":"rawl', ":1: not a rawlive cassette header .the line is cut"),
        (b'{"type":"header","version":2,"created":"x"}\n', "format version 2 is newer"),
    ],
)  # fmt: skip
def test_a_missing_or_unreadable_header_is_a_clear_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(content)
    with pytest.raises(rawlive.DecodeError, match=message):
        read_cassette(path)


def test_a_killed_writer_leaves_a_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl"
    script = textwrap.dedent(
        f"""
        import os, sys
        from rawlive.cassette import CassetteWriter
        writer = CassetteWriter({str(path)!r})
        writer.write_connect(1, "ws://127.0.0.1:1/ws/x")
        chunk = os.urandom(400_000)  # big lines: a kill often lands mid-write
        i = 0
        while True:
            writer.write_frame(1, "client", "binary", chunk)
            writer.write_frame(1, "server", "text", '{{"serverContent":{{"turnComplete":true}}}}')
            i += 1
            if i == 20:
                print("ready", flush=True)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    with CassetteReader(path) as reader:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncatedCassetteWarning)
            events = list(reader)
        assert not reader.complete
    assert len(events) >= 41
    assert isinstance(events[0], ConnectEvent)
    assert all(isinstance(e, FrameEvent) for e in events[1:])
    # The only damage a kill can do is to the last line: every complete line
    # after the header is an event.
    lines = path.read_bytes().split(b"\n")
    assert len(events) == len(lines) - 2


# -- recording a session ------------------------------------------------------------------------


@pytest.mark.parametrize("frames", ["text", "binary"])
async def test_a_recorded_session_holds_every_frame_of_both_connections_in_order(
    tmp_path: Path, frames: str
) -> None:
    path = tmp_path / "session.jsonl"
    async with rawlive.servers.emulator.serve(speed=0, frames=frames, capture_frames=True) as emu:
        async with rawlive.connect(
            MODEL,
            {"session_resumption": {}},
            endpoint=emu.url,
            api_key=KEY,
            record=path,
            reconnect=FAST,
        ) as session:
            await session.send_realtime_input(text="one")
            received = await _until(session, lambda m: m.session_resumption_update is not None)
            assert any(_turn_done(m) for m in received)
            emu.drop()
            await _until(session, lambda m: isinstance(m, rawlive.SessionResumed))
            await session.send_realtime_input(text="two")
            await _until(session, lambda m: m.session_resumption_update is not None)
        for capture in emu.connections:
            await asyncio.wait_for(capture.closed.wait(), 5.0)

    tape = read_cassette(path)
    assert tape.complete and not tape.truncated
    header = tape.header
    assert header.model == f"models/{MODEL}" and header.api_version == "v1beta"
    assert header.url is not None and header.url.startswith(emu.url)
    assert header.headers == [("x-goog-api-key", "<redacted>")]
    assert [c.connection for c in tape.connects] == [1, 2]
    for connect in tape.connects:
        names = {name.lower(): value for name, value in connect.headers}
        assert names["x-goog-api-key"] == "<redacted>" and names["upgrade"] == "websocket"
    assert len(emu.connections) == 2
    for number, capture in enumerate(emu.connections, start=1):
        recorded = [(f.sender, f.opcode, f.payload) for f in tape.frames(connection=number)]
        served = [(f.sender, f.opcode, f.payload) for f in capture.frames]
        assert recorded == served
    assert {f.opcode for f in tape.frames(sender="server")} == {frames}
    assert [f.kind for f in tape.frames(sender="client")] == [
        "setup",
        "realtimeInput.text",
        "setup",
        "realtimeInput.text",
    ]
    # Connection 1 dropped with no close frame; the session closed connection 2.
    assert [(c.connection, c.code, c.by) for c in tape.closes] == [
        (1, 1006, None),
        (2, 1000, "client"),
    ]
    kinds = [type(e).__name__ for e in tape.events]
    assert kinds.index("CloseEvent") < kinds.index("ConnectEvent", 1)
    assert KEY.encode() not in path.read_bytes()


async def test_a_refused_setup_is_recorded_with_the_servers_close(tmp_path: Path) -> None:
    path = tmp_path / "refused.jsonl"
    async with rawlive.servers.emulator.serve(speed=0) as emu:
        with pytest.raises(rawlive.LiveConnectionClosed) as info:
            await rawlive.connect("no-such-model", endpoint=emu.url, record=path)
    tape = read_cassette(path)
    assert tape.complete
    (close,) = tape.closes
    assert (close.code, close.by) == (info.value.code, "server")
    assert [f.kind for f in tape.frames()] == ["setup"]


async def test_a_writer_passed_in_is_given_the_secrets_and_closed(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    writer = CassetteWriter(path, meta={"case": "writer", "note": f"key {KEY}"})
    async with rawlive.servers.emulator.serve(speed=0) as emu:
        async with rawlive.connect(MODEL, endpoint=emu.url, api_key=KEY, record=writer) as s:
            await s.send_realtime_input(text=KEY)
            await _until(s, _turn_done)
    assert writer.closed
    tape = read_cassette(path)
    assert tape.complete and tape.header.meta == {"case": "writer", "note": "key <redacted>"}
    assert KEY.encode() not in path.read_bytes()


# -- secrets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["url", "header", "api_key"])
async def test_a_key_never_appears_in_the_file_whatever_field_or_frame_it_is_in(
    tmp_path: Path, where: str
) -> None:
    path = tmp_path / f"{where}.jsonl"
    async with rawlive.servers.emulator.serve(speed=0, capture_frames=True) as emu:
        options: dict[str, Any] = {"endpoint": emu.url}
        if where == "url":
            options["endpoint"] = f"{emu.url}?key={QUOTED_KEY}"  # the standard path is added
        elif where == "header":
            options["headers"] = {"x-goog-api-key": KEY}
        else:
            options["api_key"] = KEY
        async with rawlive.connect(MODEL, record=path, **options) as session:
            await session.send_realtime_input(text=f"my key is {KEY}")
            await session.send_realtime_input(text=f"quoted: {QUOTED_KEY}!")
            await _until(session, _turn_done)
            await _until(session, _turn_done)
        capture = emu.connections[0]
    # The key did go over the wire...
    wire = [capture.path + "?" + urllib.parse.urlencode(capture.query, doseq=True)]
    wire += [f"{k}: {v}" for k, v in capture.headers] + [f.text for f in capture.frames]
    assert any(KEY in text or QUOTED_KEY in text for text in wire[:-1])
    assert any(f"my key is {KEY}" in text for text in wire)
    # ...and is nowhere in the cassette, in any form.
    data = path.read_bytes()
    for form in (KEY, QUOTED_KEY, urllib.parse.quote_plus(KEY), KEY.replace("/", "\\/")):
        assert form.encode() not in data, form
    tape = read_cassette(path)
    sent = [f for f in tape.frames(sender="client") if f.kind == "realtimeInput.text"]
    assert [f.text for f in sent] == [
        '{"realtimeInput":{"text":"my key is <redacted>"}}',
        '{"realtimeInput":{"text":"quoted: <redacted>!"}}',
    ]
    assert all(f.redacted and not f.exact for f in sent)
    assert all(f.exact for f in tape.frames() if f.kind == "setup")
    if where == "url":
        assert tape.header.url is not None and tape.header.url.endswith("?key=<redacted>")


def test_a_secret_in_a_non_utf8_frame_is_cut_before_base64(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with CassetteWriter(path, secrets=[KEY]) as writer:
        writer.write_frame(1, "client", "binary", b"\xff" + KEY.encode() + b"\xfe")
    (frame,) = read_cassette(path).frames()
    assert frame.b64 is not None and frame.redacted
    assert frame.payload == b"\xff<redacted>\xfe"


def test_values_too_short_to_be_keys_are_not_searched_for(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with CassetteWriter(path, secrets=["k"]) as writer:
        writer.write_header(url="ws://h/ws/x?key=k", headers=[("x-goog-api-key", "k")])
        writer.write_frame(1, "client", "text", b'{"realtimeInput":{"text":"ok"}}')
    tape = read_cassette(path)
    assert tape.header.url == "ws://h/ws/x?key=<redacted>"  # the slot still is
    assert tape.header.headers == [("x-goog-api-key", "<redacted>")]
    assert tape.frames()[0].exact


# -- eliding audio ------------------------------------------------------------------------------


def _audio_chunk() -> bytes:
    return bytes(range(256)) * 25  # 6400 bytes: 200 ms at 16 kHz


async def _record_audio_session(path: Path, *, elide: bool) -> None:
    config = {"response_modalities": ["AUDIO"]}
    async with rawlive.servers.emulator.serve(speed=0) as emu:
        async with rawlive.connect(
            MODEL, config, endpoint=emu.url, record=path, record_elide_audio=elide
        ) as session:
            await session.send_realtime_input(
                audio=t.Blob(data=_audio_chunk(), mime_type="audio/pcm;rate=16000")
            )
            await session.send_realtime_input(text="hi")
            await _until(session, _turn_done)


async def test_elide_audio_keeps_length_and_hash_and_replay_gets_silence(tmp_path: Path) -> None:
    lossless, elided = tmp_path / "lossless.jsonl", tmp_path / "elided.jsonl"
    await _record_audio_session(lossless, elide=False)
    await _record_audio_session(elided, elide=True)
    assert elided.stat().st_size < lossless.stat().st_size / 2
    full, small = read_cassette(lossless), read_cassette(elided)
    assert small.header.elide_audio and not full.header.elide_audio
    assert not any(f.elided for f in full.frames())

    (audio_in,) = [f for f in small.frames() if f.kind == "realtimeInput.audio"]
    assert audio_in.elided == 1 and not audio_in.exact
    chunk = _audio_chunk()
    blob = json.loads(audio_in.payload)["realtimeInput"]["audio"]
    assert blob == {
        "data": {"elided": True, "bytes": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest()},
        "mimeType": "audio/pcm;rate=16000",
    }
    message = codec.decode_client_message(audio_in.wire_payload())
    assert message.realtime_input is not None and message.realtime_input.audio is not None
    assert message.realtime_input.audio.data == bytes(len(chunk))

    # The reply's audio, part by part: same lengths and hashes as the lossless take.
    def parts(tape: cassette.Cassette) -> list[tuple[int, str]]:
        out = []
        for frame in tape.frames(sender="server"):
            message = codec.decode_server_message(frame.wire_payload())
            content = message.server_content
            for part in (content.model_turn.parts or []) if content and content.model_turn else []:
                if part.inline_data is not None and part.inline_data.data is not None:
                    data = part.inline_data.data
                    out.append((len(data), hashlib.sha256(data).hexdigest()))
        return out

    full_parts = parts(full)
    assert full_parts and [n for n, _ in parts(small)] == [n for n, _ in full_parts]
    server_elided = [f for f in small.frames(sender="server") if f.elided]
    digests = [
        json.loads(f.payload)["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"][
            "sha256"
        ]
        for f in server_elided
    ]
    assert digests == [h for _, h in full_parts]
    # Frames without audio are untouched.
    assert all(f.exact for f in small.frames() if f.kind in ("setup", "realtimeInput.text"))


def test_elision_finds_media_chunks_and_client_content_audio_but_not_video(tmp_path: Path) -> None:
    audio = pybase64.b64encode(b"\x01\x02" * 50).decode()
    image = pybase64.b64encode(b"\x89PNG" * 10).decode()
    payloads = [
        {"realtimeInput": {"mediaChunks": [{"mimeType": "audio/pcm", "data": audio},
                                           {"mimeType": "image/png", "data": image}]}},
        {"clientContent": {"turns": [{"parts": [
            {"inlineData": {"mimeType": "audio/wav", "data": audio}}]}]}},
        {"realtimeInput": {"video": {"mimeType": "image/jpeg", "data": image}}},
        {"realtime_input": {"audio": {"data": audio}}},
    ]  # fmt: skip
    path = tmp_path / "c.jsonl"
    with CassetteWriter(path, elide_audio=True) as writer:
        for payload in payloads:
            writer.write_frame(1, "client", "text", json.dumps(payload).encode())
    frames = read_cassette(path).frames()
    assert [f.elided for f in frames] == [1, 1, 0, 1]
    first = json.loads(frames[0].payload)["realtimeInput"]["mediaChunks"]
    assert first[0]["data"]["bytes"] == 100 and first[1]["data"] == image
    assert json.loads(frames[2].payload) == payloads[2]
    restored = json.loads(frames[0].wire_payload())["realtimeInput"]["mediaChunks"]
    assert pybase64.b64decode(restored[0]["data"]) == bytes(100)


def test_writing_after_close_is_refused_and_close_is_idempotent(tmp_path: Path) -> None:
    writer = CassetteWriter(tmp_path / "c.jsonl")
    writer.close()
    writer.close()
    with pytest.raises(rawlive.errors.ClosedError, match="closed"):
        writer.write_frame(1, "client", "text", b"{}")
    tape = read_cassette(tmp_path / "c.jsonl")
    assert tape.complete and [type(e) for e in tape.events] == [EndEvent]


def _one_connection(path: Path, text: str) -> cassette.Cassette:
    with CassetteWriter(path) as writer:
        writer.write_connect(1, "ws://127.0.0.1:1/ws/x")
        writer.write_frame(1, "client", "text", b'{"setup":{"model":"models/m"}}')
        writer.write_frame(1, "client", "text", text.encode())
        writer.write_close(1, 1000, "", "client")
    return read_cassette(path)


def test_appended_connections_are_numbered_on_and_follow_in_time(tmp_path: Path) -> None:
    _write_sample(tmp_path / "a.jsonl")
    first = read_cassette(tmp_path / "a.jsonl")
    more = [
        _one_connection(tmp_path / "b.jsonl", '{"realtimeInput":{"text":"\u2028b"}}'),
        _one_connection(tmp_path / "c.jsonl", '{"realtimeInput":{"text":"c"}}'),
    ]
    joined = cassette.append_connections(first, more)
    out = tmp_path / "joined.jsonl"
    out.write_text("old")
    cassette.write_cassette(joined, out)
    back = read_cassette(out)
    assert back == joined and back.complete and not back.truncated
    assert back.header == first.header
    assert back.events[: len(first.events) - 1] == first.events[:-1]  # kept as it was
    assert [e.connection for e in back.connects] == [1, 2, 3]
    assert [f.payload for f in back.frames(connection=3)][-1] == b'{"realtimeInput":{"text":"c"}}'
    assert [type(e) for e in back.events].count(EndEvent) == 1
    assert isinstance(back.events[-1], EndEvent)
    times = [e.t for e in back.events]
    assert times == sorted(times)
    assert b"\xe2\x80\xa8" not in out.read_bytes()  # one event, one line
    assert len(list(tmp_path.iterdir())) == 4  # no temporary file left behind


def test_the_module_documents_every_line_type() -> None:
    doc = cassette.events.__doc__ or ""
    for name in ('"header"', "connect", "frame", "close", "end", "elideAudio", "b64", "kind"):
        assert f"``{name}``" in doc
    assert os.fspath(Path("schemas/cassette.schema.json").name) in doc


def test_every_field_of_the_header_is_redacted(tmp_path: Path) -> None:
    # A key passed by mistake as the model (or anywhere the header holds a string).
    path = tmp_path / "c.jsonl"
    with CassetteWriter(path, secrets=[KEY], meta={"note": f"key {KEY}"}) as writer:
        writer.write_header(
            url=f"ws://h/ws/{KEY}",
            headers=[("x-custom", KEY)],
            model=f"models/{KEY}",
            api_version=KEY,
        )
    header = read_cassette(path).header
    assert header.model == "models/<redacted>" and header.api_version == "<redacted>"
    assert header.url == "ws://h/ws/<redacted>" and header.headers == [("x-custom", "<redacted>")]
    assert header.meta == {"note": "key <redacted>"}
    assert KEY not in path.read_text()
