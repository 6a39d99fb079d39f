"""The cassette writer: crash-safe, and the secrets kept out of what it writes.

:class:`CassetteWriter` is the :class:`Recorder` the client session and the
servers hand frames to; :func:`write_cassette` writes a cassette held in
memory. The rules:

1. Each line is written with one ``write`` and flushed to the operating system
   at once: a process killed mid-write leaves at most a cut last line (the
   file is not fsync'd: a machine crash may lose more).
2. Every string written (every header field, URLs, headers, close reasons,
   frame payloads before base64) has each secret value, and its URL-encoded
   and JSON-escaped forms, replaced by ``<redacted>``; a frame that lost one
   says so (``redacted``). Values shorter than :data:`MIN_SECRET_LENGTH` are
   not searched for; a secret inside base64 data is not found.
3. URLs and headers also have their credential slots redacted whatever the
   value (:func:`rawlive.wire.endpoints.redact`), and a value found in a slot
   joins the secrets, so a key given only in an endpoint URL is kept out of
   the frames too. Frames are searched for values only: a slot pattern there
   would rewrite model text and base64.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, Self

import msgspec
import pybase64

from rawlive import files
from rawlive.cassette.events import (
    Cassette,
    CassetteHeader,
    CloseEvent,
    ConnectEvent,
    EndEvent,
    FrameEvent,
    Opcode,
    Sender,
    elide_audio_blobs,
    encode_line,
    frame_kind,
)
from rawlive.errors import ClosedError
from rawlive.wire import endpoints

__all__ = ["MIN_SECRET_LENGTH", "CassetteWriter", "Recorder", "TeeRecorder", "write_cassette"]

#: Secret values shorter than this are not searched for in what is written.
MIN_SECRET_LENGTH = 8
_BINARY = getattr(os, "O_BINARY", 0)


# ---------------------------------------------------------------------------
# Redaction
# ---------------------------------------------------------------------------


def _secret_forms(secret: str) -> set[str]:
    """A secret as it may be written: as is, URL-encoded, JSON-escaped."""
    forms = {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),
        urllib.parse.quote_plus(secret, safe="/"),
        urllib.parse.quote_plus(secret),
        secret.replace("/", "\\/"),
    }
    return {f for f in forms if f}


def _redact_json(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        return endpoints.redact(value, secrets)
    if isinstance(value, dict):
        return {_redact_json(k, secrets): _redact_json(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_json(v, secrets) for v in value]
    return value


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


class Recorder(Protocol):
    """What a session (or a server) calls to record; :class:`CassetteWriter` is one.

    A recorder is handed URLs, headers and payloads as they are, with the
    secrets it must keep out of what it stores: redaction is its job.
    """

    @property
    def closed(self) -> bool: ...

    def add_secrets(self, secrets: Iterable[str]) -> None: ...

    def write_header(
        self,
        *,
        url: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        model: str | None = None,
        api_version: str | None = None,
    ) -> None: ...

    def write_connect(
        self, connection: int, url: str, headers: Iterable[tuple[str, str]] = ()
    ) -> None: ...

    def write_frame(
        self, connection: int, sender: Sender, opcode: Opcode, payload: bytes | str
    ) -> None: ...

    def write_close(
        self, connection: int, code: int, reason: str = "", by: Sender | None = None
    ) -> None: ...

    def close(self) -> None: ...


class CassetteWriter:
    """Writes a cassette: the header, then one flushed line per event.

    ``path`` is created (or truncated) at once. ``secrets`` are the credential
    values to keep out of the file (more can be added with
    :meth:`add_secrets`); ``elide_audio`` replaces audio payloads by their
    length and hash; ``meta`` is free-form JSON data for the header.

    Where a file is already there: ``exclusive`` creates ``path`` only when
    the name is free and never writes through a symlink at it
    (``FileExistsError`` otherwise). ``staged`` leaves ``path`` as it is
    until :meth:`publish`: the cassette is written beside it and put in its
    place by one rename (:class:`rawlive.files.StagedFile`); closed
    unpublished, it is kept at ``path`` only if nothing is there. A failed
    write raises ``OSError`` naming ``path``.

    The header is written by :meth:`write_header`, or with what is known by
    the first event. Writes happen in the caller's thread (for a session: on
    the event loop); each is one small ``write`` to the OS page cache.
    Closing writes the ``end`` event; it is idempotent, and the writer is a
    context manager.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        secrets: Iterable[str] = (),
        elide_audio: bool = False,
        meta: dict[str, Any] | None = None,
        exclusive: bool = False,
        staged: bool = False,
    ) -> None:
        self.path = Path(path)
        self.elide_audio = elide_audio
        self.meta = dict(meta or {})
        self.secrets: tuple[str, ...] = ()
        self._forms: tuple[str, ...] = ()
        self._byte_forms: tuple[bytes, ...] = ()
        self.add_secrets(secrets)
        self._staged: files.StagedFile | None = None
        if staged:
            self._staged = files.StagedFile(self.path)
            fd = self._staged.fd
        elif exclusive:
            fd = files.create_new(self.path)
        else:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _BINARY, 0o666)
        self._file: IO[bytes] | None = open(fd, "wb")  # noqa: SIM115 (closed by close())
        self._started: float | None = None
        self._buffer = bytearray()
        #: Events written so far (the header not counted).
        self.events = 0

    def __repr__(self) -> str:
        return f"<CassetteWriter {str(self.path)!r} events={self.events}>"

    @property
    def closed(self) -> bool:
        return self._file is None

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Keep these values (and their encoded forms) out of everything written from now on."""
        known = dict.fromkeys(self.secrets)
        known.update(dict.fromkeys(s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH))
        self.secrets = tuple(known)
        forms = set().union(*(_secret_forms(s) for s in self.secrets)) if self.secrets else set()
        # Longest first, so that no shorter form leaves part of a longer one behind.
        self._forms = tuple(sorted(forms, key=len, reverse=True))
        self._byte_forms = tuple(f.encode("utf-8") for f in self._forms)

    # -- redaction ----------------------------------------------------------

    def _redact(self, text: str) -> str:
        """Metadata text: secret values, their forms and credential slots."""
        for form in self._forms:
            text = text.replace(form, endpoints.REDACTED)
        return endpoints.redact(text, self.secrets)

    def _redacted_headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        endpoint = endpoints.Endpoint(url="", headers=tuple(headers), secrets=self.secrets)
        return [(self._redact(k), self._redact(v)) for k, v in endpoint.redacted_headers()]

    # -- writing ------------------------------------------------------------

    def _now(self) -> float:
        if self._started is None:
            self.write_header()
        assert self._started is not None
        return round(time.monotonic() - self._started, 6)

    def _write(self, line: msgspec.Struct) -> None:
        if self._file is None:
            raise ClosedError(f"the cassette writer for {self.path} is closed")
        # One write per line, then a flush: a crash leaves at most a partial last line.
        buffer = encode_line(line, self._buffer)
        try:
            self._file.write(buffer)
            self._file.flush()
        except OSError as exc:
            raise files.named(exc, self.path) from None

    def publish(self) -> None:
        """Put a ``staged`` cassette in ``path``'s place (nothing to do otherwise)."""
        if self._staged is not None:
            self._staged.publish()

    def write_header(
        self,
        *,
        url: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        model: str | None = None,
        api_version: str | None = None,
    ) -> None:
        """Write the header line; the clock of ``t`` starts here.

        Every string of it is redacted (a key passed as the model by mistake
        too). Once: when the header is already written (by an earlier call, or by
        the first event), this does nothing.
        """
        if self._started is not None:
            return
        headers = list(headers)
        self.add_secrets(endpoints.credentials(url, headers))
        created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._write(
            CassetteHeader(
                created=created,
                url=None if url is None else self._redact(url),
                headers=self._redacted_headers(headers),
                model=None if model is None else self._redact(model),
                api_version=None if api_version is None else self._redact(api_version),
                elide_audio=self.elide_audio,
                meta=_redact_json(self.meta, self._forms),
            )
        )
        self._started = time.monotonic()

    def write_connect(
        self, connection: int, url: str, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        """A connection opened (numbered from 1), with its handshake request headers."""
        t = self._now()
        headers = list(headers)
        self.add_secrets(endpoints.credentials(url, headers))
        self._write(
            ConnectEvent(
                t=t,
                connection=connection,
                url=self._redact(url),
                headers=self._redacted_headers(headers),
            )
        )
        self.events += 1

    def write_frame(
        self, connection: int, sender: Sender, opcode: Opcode, payload: bytes | str
    ) -> None:
        """One message; ``payload`` as received (``str`` for a decoded text frame) or sent."""
        t = self._now()
        text: str | None = None
        b64: str | None = None
        elided = 0
        if isinstance(payload, str):
            text = payload
        else:
            with contextlib.suppress(UnicodeDecodeError):
                text = payload.decode("utf-8")
        if text is not None:
            redacted = False
            for form in self._forms:
                if form in text:
                    text = text.replace(form, endpoints.REDACTED)
                    redacted = True
            kind = frame_kind(text)
            if self.elide_audio:
                text, elided = elide_audio_blobs(text, kind)
        else:
            assert isinstance(payload, bytes)
            data, redacted = payload, False
            for bform in self._byte_forms:
                if bform in data:
                    data = data.replace(bform, endpoints.REDACTED.encode())
                    redacted = True
            b64 = pybase64.b64encode(data).decode("ascii")
            kind = frame_kind(data)
        self._write(
            FrameEvent(
                t=t,
                connection=connection,
                sender=sender,
                opcode=opcode,
                kind=kind,
                text=text,
                b64=b64,
                elided=elided,
                redacted=redacted,
            )
        )
        self.events += 1

    def write_close(
        self, connection: int, code: int, reason: str = "", by: Sender | None = None
    ) -> None:
        """A connection ended with this code and reason; ``by``: who closed first."""
        t = self._now()
        self._write(
            CloseEvent(t=t, connection=connection, code=code, reason=self._redact(reason), by=by)
        )
        self.events += 1

    def close(self) -> None:
        """Write the ``end`` event and close the file. Idempotent."""
        if self._file is None:
            return
        try:
            self._write(EndEvent(t=self._now()))
        finally:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):  # a failed write was raised already
                file.close()
            if self._staged is not None and not self._staged.published:
                self._staged.publish(replace=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class TeeRecorder:
    """A :class:`Recorder` that records into several at once."""

    def __init__(self, *recorders: Recorder) -> None:
        self.recorders = recorders

    @property
    def closed(self) -> bool:
        return all(r.closed for r in self.recorders)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        kept = list(secrets)
        for r in self.recorders:
            r.add_secrets(kept)

    def write_header(
        self,
        *,
        url: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        model: str | None = None,
        api_version: str | None = None,
    ) -> None:
        kept = list(headers)
        for r in self.recorders:
            r.write_header(url=url, headers=kept, model=model, api_version=api_version)

    def write_connect(
        self, connection: int, url: str, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        kept = list(headers)
        for r in self.recorders:
            r.write_connect(connection, url, kept)

    def write_frame(
        self,
        connection: int,
        sender: Sender,
        opcode: Opcode,
        payload: bytes | str,
    ) -> None:
        for r in self.recorders:
            r.write_frame(connection, sender, opcode, payload)

    def write_close(
        self,
        connection: int,
        code: int,
        reason: str = "",
        by: Sender | None = None,
    ) -> None:
        for r in self.recorders:
            r.write_close(connection, code, reason, by)

    def close(self) -> None:
        for r in self.recorders:
            r.close()


def write_cassette(cassette: Cassette, path: str | os.PathLike[str]) -> None:
    """Write a cassette held in memory to ``path``, in place of a file there once whole.

    The file is written beside ``path`` and renamed over it
    (:class:`rawlive.files.StagedFile`): a write failing halfway leaves the
    old file as it was. Its events are written as they are (already
    redacted: they come from a cassette). A failed write raises ``OSError``
    naming ``path``.
    """
    staged = files.StagedFile(path)
    try:
        with open(staged.fd, "wb") as file:
            buffer = bytearray()
            for line in (cassette.header, *cassette.events):
                file.write(encode_line(line, buffer))
        staged.publish()
    except OSError as exc:
        raise files.named(exc, path) from None
    finally:
        staged.discard()
