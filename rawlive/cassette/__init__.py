"""Cassettes: a Live session recorded frame by frame, to replay in tests and to audit.

The pieces, as vcrpy has them: the format's lines and their encoding
(:mod:`~rawlive.cassette.events`), the writer (:mod:`~rawlive.cassette.writer`:
crash-safe, redacted), the reader (:mod:`~rawlive.cassette.reader`: tolerant of
a cut last line) and the record modes (:mod:`~rawlive.cassette.modes`). None
of them knows sockets: the client session, the servers and the proxy hand
them frames. The format is described in the README ("The cassette format")
and its JSON Schema, ``schemas/cassette.schema.json``.
"""

from __future__ import annotations

from rawlive.cassette.events import (
    FORMAT,
    VERSION,
    Cassette,
    CassetteEvent,
    CassetteHeader,
    CassetteLine,
    CloseEvent,
    ConnectEvent,
    EndEvent,
    FrameEvent,
    Opcode,
    Sender,
    append_connections,
    elide_audio_blobs,
    fill_silence,
    frame_kind,
)
from rawlive.cassette.modes import MODES, RecordMode
from rawlive.cassette.reader import CassetteReader, TruncatedCassetteWarning, read_cassette
from rawlive.cassette.writer import (
    MIN_SECRET_LENGTH,
    CassetteWriter,
    Recorder,
    TeeRecorder,
    write_cassette,
)

__all__ = [
    "FORMAT",
    "MIN_SECRET_LENGTH",
    "MODES",
    "VERSION",
    "Cassette",
    "CassetteEvent",
    "CassetteHeader",
    "CassetteLine",
    "CassetteReader",
    "CassetteWriter",
    "CloseEvent",
    "ConnectEvent",
    "EndEvent",
    "FrameEvent",
    "Opcode",
    "RecordMode",
    "Recorder",
    "Sender",
    "TeeRecorder",
    "TruncatedCassetteWarning",
    "append_connections",
    "elide_audio_blobs",
    "fill_silence",
    "frame_kind",
    "read_cassette",
    "write_cassette",
]
