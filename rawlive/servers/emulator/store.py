"""Resumable sessions shared by the emulator's worker processes: a directory of snapshots.

By default an :class:`~rawlive.servers.emulator.Emulator` keeps its sessions
in memory: a handle resumes only on the process that issued it. With
``store=SharedStore(directory)`` every session a handle can resume is also a
file in that directory, so a reconnection resumes it whichever worker
(``rawlive serve --workers N``) it lands on.

Why a directory and not handles that carry a signed snapshot: the rules of
one process must hold across processes, and two of them need state the
workers share. Resuming from a handle voids the handles issued after it (a
client that resumes from them gets 1008 ``BidiGenerateContent session not
found``), and a session resumed while one of its connections is still open
ends that connection. A handle that carries its state cannot be voided, nor
tell where the older connection is. A snapshot is small (the session's
rules, its handles, the 8-byte digest of every message; not the recent
messages kept in full, which stay with the worker that took them,
:attr:`EmulatedSession.consumed`), and is written only when a handle is
issued, when a session is resumed and when its connection ends. The
directory is made on tmpfs (``/dev/shm``) where there is one
(:meth:`SharedStore.temporary`), private to the user (mode 0700): its
snapshots are pickles, read only by the processes of the emulator that made
it.

Layout: ``lock`` (every operation holds an exclusive ``flock`` on it, so
workers see each other's changes whole), ``<key>.open`` and ``<key>.idle``
(one snapshot per session; ``key`` is the first 12 characters of each of its
handles; ``.open`` while a connection owns the session, its first line
naming that connection; ``.idle`` once its last connection ended, with its
modification time saying when), and ``inbox/<instance>/<connection>``: the
notice that connection ``<connection>`` of emulator ``<instance>`` was
superseded.

Rules, as in one process: a handle resumes the state it was issued for, and
voids those issued after it; an unknown or voided handle, or one whose
session has been idle longer than ``session_ttl`` or was forgotten to keep
the caps, resumes nothing (1008). Caps: ``resumable_sessions`` counts the
idle snapshots, ``resumable_bytes`` their file sizes; the one idle longest
goes first. Superseding: a resume takes the session's ownership in the same
locked step that restores it; the previous owner, if its connection is still
open on another worker, finds a notice in its inbox (the emulator looks
every :data:`NOTICE_INTERVAL` seconds) and ends that connection (no close
frame, as in one process). Until then it may still read messages, but
nothing it does reaches the session: a handle it would issue is refused
(:meth:`SharedStore.publish` finds another owner), and it ends at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import re
import secrets
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from rawlive.errors import ConfigError
from rawlive.servers.emulator.session import EmulatedSession

__all__ = ["NOTICE_INTERVAL", "SharedStore", "Snapshot"]

log = logging.getLogger("rawlive.servers.emulator")

#: Seconds between two looks at an emulator's inbox of superseded connections.
NOTICE_INTERVAL = 0.05

_KEY_CHARS = 12
_HANDLE = re.compile(r"[A-Za-z0-9_-]{24}")
_TMPFS = Path("/dev/shm")


@dataclasses.dataclass
class Snapshot:
    """A session as the store holds it, and the connection that owns it (``None``: idle)."""

    session: EmulatedSession
    owner: str | None


class SharedStore:
    """A directory of resumable sessions that several emulators share (module docstring).

    Each emulator (each worker process) opens its own ``SharedStore`` on the
    same directory; :meth:`temporary` makes one, which :meth:`remove`
    deletes.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        try:
            import fcntl
        except ImportError:  # Windows
            raise ConfigError(
                "a shared session store needs flock (Linux, macOS); not on this system"
            ) from None
        self._fcntl = fcntl
        self.directory = Path(directory)
        #: This emulator's name in the owners of sessions and in ``inbox/``.
        self.instance = secrets.token_hex(6)
        self._inbox = self.directory / "inbox" / self.instance
        try:
            self._inbox.mkdir(parents=True)
            self._lock = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigError(
                f"cannot use {self.directory} as a session store: {exc.strerror or exc}"
            ) from None

    @classmethod
    def temporary(cls) -> SharedStore:
        """A store in a new private directory, on tmpfs (``/dev/shm``) where there is one."""
        parent = _TMPFS if _TMPFS.is_dir() and os.access(_TMPFS, os.W_OK) else None
        directory = tempfile.mkdtemp(prefix="rawlive-sessions-", dir=parent)
        return cls(directory)

    def close(self) -> None:
        """Stop using the store (its files stay for the other emulators)."""
        with contextlib.suppress(OSError):
            os.close(self._lock)
        shutil.rmtree(self._inbox, ignore_errors=True)

    def remove(self) -> None:
        """Delete the whole directory (the last emulator has stopped)."""
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- names ---------------------------------------------------------------------

    @staticmethod
    def new_key() -> str:
        """A new session's key: 12 URL-safe characters."""
        return secrets.token_urlsafe(9)

    @staticmethod
    def new_handle(key: str) -> str:
        """A new handle of the session ``key``: the key, then 12 random characters."""
        return key + secrets.token_urlsafe(9)

    @staticmethod
    def key_of(handle: str) -> str | None:
        """The session key a handle names (``None``: not a handle of a shared store)."""
        return handle[:_KEY_CHARS] if _HANDLE.fullmatch(handle) else None

    def owner(self, connection: int) -> str:
        """The owner name of this emulator's connection number ``connection``."""
        return f"{self.instance}.{connection}"

    def is_mine(self, owner: str) -> bool:
        return owner.partition(".")[0] == self.instance

    # -- operations --------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._fcntl.flock(self._lock, self._fcntl.LOCK_EX)
        try:
            yield
        finally:
            self._fcntl.flock(self._lock, self._fcntl.LOCK_UN)

    def _path(self, key: str, state: str) -> Path:
        return self.directory / f"{key}.{state}"

    def _read(self, key: str) -> Snapshot | None:
        for state in ("open", "idle"):
            try:
                data = self._path(key, state).read_bytes()
            except FileNotFoundError:
                continue
            owner, _, body = data.partition(b"\n")
            try:
                session = pickle.loads(body)
            except Exception:  # a file damaged from outside: as good as gone
                log.warning("unreadable session snapshot %s.%s", key, state)
                return None
            return Snapshot(session, owner.decode() if state == "open" else None)
        return None

    def _owner_of(self, key: str) -> str | None:
        try:
            with self._path(key, "open").open("rb") as opened:
                return opened.readline().rstrip(b"\n").decode()
        except FileNotFoundError:
            return None

    def _write(self, key: str, session: EmulatedSession, owner: str | None) -> None:
        state = "open" if owner is not None else "idle"
        target = self._path(key, state)
        temporary = target.with_name(f".{target.name}.{self.instance}")
        temporary.write_bytes((owner or "").encode() + b"\n" + _dump(session))
        os.replace(temporary, target)
        other = self._path(key, "idle" if owner is not None else "open")
        with contextlib.suppress(FileNotFoundError):
            other.unlink()

    def publish(self, key: str, session: EmulatedSession, owner: str) -> bool:
        """Write the session as its connection ``owner`` has it (a handle was issued).

        ``False`` if another connection owns the session now (it resumed it
        elsewhere): ``owner``'s connection is over, and nothing was written.
        """
        with self._locked():
            current = self._owner_of(key)
            if current is not None and current != owner:
                return False
            if current is None and self._path(key, "idle").exists():
                return False  # resumed and ended elsewhere since this connection lost it
            self._write(key, session, owner)
            return True

    def claim(
        self, handle: str, owner: str, ttl: float
    ) -> tuple[EmulatedSession, list[str], str | None] | None:
        """Resume from ``handle`` for connection ``owner``: the session restored to the
        handle's state, the handles that voided, and the connection that owned it
        until now (``None``: none was open). ``None``: no session has that handle.

        The previous owner, if another emulator's, finds a notice in its inbox.
        """
        key = self.key_of(handle)
        if key is None:
            return None
        with self._locked():
            self._expire(ttl)
            found = self._read(key)
            if found is None or handle not in found.session.handles:
                return None
            session = found.session
            voided = session.restore(handle)
            self._write(key, session, owner)
            previous = found.owner if found.owner != owner else None
            if previous is not None and not self.is_mine(previous):
                self._notify(previous)
            return session, voided, previous

    def release(self, key: str, session: EmulatedSession, owner: str) -> None:
        """Connection ``owner`` ended: its session is idle now, or gone if no handle can
        resume it. Nothing changes if another connection owns the session."""
        with self._locked():
            if self._owner_of(key) != owner:
                return
            if session.handles:
                self._write(key, session, None)
            else:
                with contextlib.suppress(FileNotFoundError):
                    self._path(key, "open").unlink()

    def peek(self, handle: str) -> EmulatedSession | None:
        """The session ``handle`` would resume, as stored (read only; ``None``: none)."""
        key = self.key_of(handle)
        if key is None:
            return None
        with self._locked():
            found = self._read(key)
        if found is None or handle not in found.session.handles:
            return None
        return found.session

    def idle_count(self) -> int:
        """How many idle sessions the store holds."""
        with self._locked():
            return len(self._idle())

    def trim(self, ttl: float, sessions: int | None, max_bytes: int | None) -> None:
        """Forget idle sessions older than ``ttl`` seconds, then the oldest beyond the caps."""
        with self._locked():
            self._expire(ttl)
            idle = self._idle()
            idle.sort(key=lambda entry: entry[1])
            count, total = len(idle), sum(size for _, _, size in idle)
            for path, _, size in idle:
                over_count = sessions is not None and count > sessions
                over_bytes = max_bytes is not None and total > max_bytes
                if not (over_count or over_bytes):
                    break
                log.info("forgetting idle session %s (caps on resumable sessions)", path.stem)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                count, total = count - 1, total - size

    def _idle(self) -> list[tuple[Path, float, int]]:
        entries = []
        with os.scandir(self.directory) as names:
            for entry in names:
                if entry.name.endswith(".idle") and not entry.name.startswith("."):
                    with contextlib.suppress(FileNotFoundError):
                        info = entry.stat()
                        entries.append((Path(entry.path), info.st_mtime, info.st_size))
        return entries

    def _expire(self, ttl: float) -> None:
        now = time.time()
        for path, ended, _ in self._idle():
            if now - ended > ttl:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    # -- notices ---------------------------------------------------------------------

    def _notify(self, owner: str) -> None:
        instance, _, connection = owner.partition(".")
        inbox = self.directory / "inbox" / instance
        with contextlib.suppress(OSError):  # that emulator has stopped: nothing to end
            (inbox / connection).touch()

    def notices(self) -> list[int]:
        """This emulator's connections that sessions resumed elsewhere have superseded."""
        numbers = []
        try:
            names = os.listdir(self._inbox)
        except OSError:
            return []
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._inbox / name)
            if name.isdigit():
                numbers.append(int(name))
        return numbers


def _dump(session: EmulatedSession) -> bytes:
    """A session's snapshot: all but the messages kept in full and the model table."""
    state = session.state
    rows, state.rows = state.rows, None
    try:
        kept = dataclasses.replace(
            session,
            consumed=[],
            _sizes=deque(),
            _kept_bytes=0,
            open_connections=0,
        )
        return pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        state.rows = rows
