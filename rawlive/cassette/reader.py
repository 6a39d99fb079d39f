"""The cassette reader: a whole file (:func:`read_cassette`) or lazily (:class:`CassetteReader`).

The rules:

1. A missing or invalid header, a ``version`` newer than this rawlive reads,
   any bad line and any event after ``end`` raise :class:`rawlive.DecodeError`
   naming the file and the line.
2. A cut-off last line (no ``\\n``: what a killed writer leaves) is skipped with
   a :class:`TruncatedCassetteWarning`, and the cassette reads as
   ``truncated``; one that ends with an ``end`` event reads as ``complete``.
3. Only a line feed ends a line (a stray CR in a bad line does not).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import msgspec

from rawlive._version import __version__
from rawlive.cassette.events import (
    JSON_ERRORS,
    VERSION,
    Cassette,
    CassetteEvent,
    CassetteHeader,
    EndEvent,
)
from rawlive.errors import DecodeError, TruncatedCassetteWarning

__all__ = ["CassetteReader", "TruncatedCassetteWarning", "read_cassette"]

_header_decoder = msgspec.json.Decoder(CassetteHeader)
_event_decoder = msgspec.json.Decoder(CassetteEvent)


#: Bytes of whole lines decoded at a time by :class:`CassetteReader`.
_BLOCK = 1 << 20


def _lines(block: bytes) -> Iterator[bytes]:
    """The lines of a block, each with its ``\\n``: only a line feed ends a line.

    (Not ``bytes.splitlines``, which also breaks at a CR: a stray one in a bad
    line would make it look cut off, and the rest of the file be skipped.)
    """
    start = 0
    while start < len(block):
        end = block.find(b"\n", start) + 1 or len(block)
        yield block[start:end]
        start = end


class CassetteReader:
    """Reads a cassette lazily: :attr:`header` at once, then iterate for the events.

    For files too big to hold in memory; :func:`read_cassette` reads it all.
    After the iteration, :attr:`truncated` and :attr:`complete` say how the
    file ended. Raises :class:`rawlive.DecodeError` (naming the file and the
    line) for a missing or invalid header and for any bad line but a cut-off
    last one, which is skipped with a :class:`TruncatedCassetteWarning`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.truncated = False
        self.complete = False
        self._file: IO[bytes] | None = open(self.path, "rb")  # noqa: SIM115 (closed by close())
        self._line = 0
        # Where the truncation warning points: the caller's loop (2), or
        # the caller of read_cassette (3).
        self._stacklevel = 2
        try:
            self.header = self._read_header()
        except BaseException:
            self.close()
            raise

    def _read_header(self) -> CassetteHeader:
        assert self._file is not None
        first = self._file.readline()
        self._line = 1
        if not first.strip():
            raise DecodeError(f"{self.path} has no cassette header: the file is empty")
        try:
            header = _header_decoder.decode(first)
        except JSON_ERRORS as exc:
            cut = "" if first.endswith(b"\n") else " (the line is cut off)"
            raise DecodeError(f"{self.path}:1: not a rawlive cassette header{cut}: {exc}") from None
        if header.version > VERSION:
            raise DecodeError(
                f"{self.path}: cassette format version {header.version} is newer than this "
                f"rawlive ({__version__}) reads (up to {VERSION}): upgrade rawlive"
            )
        return header

    def __iter__(self) -> Iterator[CassetteEvent]:
        if self._file is None:
            return
        while True:
            # Blocks of whole lines decoded in one call; a block with a bad
            # line (or an event after ``end``) is read again line by line,
            # which says where the problem is. Lines are counted only then.
            start = self._file.tell()
            block = self._file.read(_BLOCK)
            if not block:
                return
            if not block.endswith(b"\n"):
                block += self._file.readline()
            events: list[CassetteEvent] | None
            try:
                events = _event_decoder.decode_lines(block)
            except JSON_ERRORS:
                events = None
            if events is not None and not any(type(e) is EndEvent for e in events[:-1]):
                if self.complete and events:
                    events = None  # an event after the end: found and reported below
                else:
                    if events and isinstance(events[-1], EndEvent):
                        self.complete = True
                    yield from events
                    continue
            self._line = self._lines_before(start)
            offset = start
            for raw in _lines(block):
                event = self._line_event(raw, offset)
                offset += len(raw)
                if event is None:
                    if self.truncated:
                        return
                    continue
                yield event

    def _lines_before(self, offset: int) -> int:
        """How many lines the file has before byte ``offset`` (for naming a bad line)."""
        count = 0
        with open(self.path, "rb") as file:
            while offset > 0:
                chunk = file.read(min(offset, _BLOCK))
                if not chunk:
                    break
                count += chunk.count(b"\n")
                offset -= len(chunk)
        return count

    def _line_event(self, raw: bytes, offset: int) -> CassetteEvent | None:
        """One line's event (``None`` for a blank line or a cut-off last line at ``offset``)."""
        self._line += 1
        if raw.isspace():
            return None
        try:
            event: CassetteEvent = _event_decoder.decode(raw)
        except JSON_ERRORS as exc:
            if not raw.endswith(b"\n"):
                # A partial last line: what a killed writer leaves behind.
                self.truncated = True
                warnings.warn(
                    TruncatedCassetteWarning(
                        f"{self.path}: line {self._line} is cut off (the recording stopped "
                        f"mid-write); read up to line {self._line - 1}",
                        path=str(self.path),
                        line=self._line,
                        offset=offset,
                    ),
                    stacklevel=self._stacklevel + 1,
                )
                return None
            where = f"{self.path}:{self._line}"
            raise DecodeError(f"{where}: invalid cassette line: {exc}") from None
        if self.complete:
            raise DecodeError(f"{self.path}:{self._line}: event after the end event")
        if isinstance(event, EndEvent):
            self.complete = True
        return event

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_cassette(path: str | os.PathLike[str]) -> Cassette:
    """Read a whole cassette (see :class:`CassetteReader` for the errors and warnings)."""
    with CassetteReader(path) as reader:
        reader._stacklevel = 3
        events = list(reader)
        return Cassette(
            header=reader.header,
            events=events,
            truncated=reader.truncated,
            complete=reader.complete,
        )
