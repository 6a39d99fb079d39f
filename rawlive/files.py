"""Writing output files without destroying what is there.

At the bottom of the house with :mod:`rawlive.errors`: the WAV and cassette
writers, the servers' recorders and the command line share it. The rules:

1. :func:`check_outputs` refuses an output that is one of the inputs or the
   same file as another output (by resolved path, symlinks and hard links
   included), before anything is opened for writing.
2. A :class:`StagedFile` is written beside its file under a temporary name
   and put in place by one rename (:meth:`~StagedFile.publish`): until then
   the old file is untouched, and a reader sees the old file or the new one,
   never a mix.
3. :func:`create_new` creates a file only when its name is free, and never
   through a symlink planted at that name.
4. An :class:`AppendFile` takes bytes as they arrive (a video stream) with
   unbuffered writes: a run killed at any moment leaves every byte written
   before it in the file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Mapping
from types import TracebackType

from rawlive.errors import ClosedError, ConfigError

__all__ = ["AppendFile", "StagedFile", "check_outputs", "create_new", "named", "same_file"]

_BINARY = getattr(os, "O_BINARY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

PathLike = str | os.PathLike[str]


def named(exc: OSError, name: PathLike) -> OSError:
    """``exc`` (a failed write, which names no file) as an ``OSError`` naming ``name``."""
    return OSError(exc.errno, exc.strerror or str(exc), os.fspath(name))


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether ``a`` and ``b`` are one file: the same resolved path, or the same inode."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): only its path can say
        return False


def _is_device(path: PathLike) -> bool:
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


def check_outputs(
    inputs: Mapping[str, PathLike | None], outputs: Mapping[str, PathLike | None]
) -> None:
    """Refuse an output that is an input or another output (a :class:`ConfigError`).

    Keys are what the user calls each file (``"--out"``, ``"FILE"``); ``None``
    values are left out. Two outputs may both be a character device
    (``/dev/null``): writing one does not destroy the other.
    """
    given_inputs = [(k, v) for k, v in inputs.items() if v is not None]
    given_outputs = [(k, v) for k, v in outputs.items() if v is not None]
    for index, (name, path) in enumerate(given_outputs):
        for input_name, input_path in given_inputs:
            if same_file(path, input_path):
                raise ConfigError(
                    f"{name} {os.fspath(path)} is the input {input_name}: writing it would "
                    f"destroy it; give {name} another file"
                )
        for other_name, other in given_outputs[:index]:
            if same_file(path, other) and not _is_device(path):
                raise ConfigError(
                    f"{name} {os.fspath(path)} is the same file as {other_name}: "
                    f"give each output its own file"
                )


def create_new(path: PathLike) -> int:
    """Open a new file for writing; ``FileExistsError`` when the name is taken.

    A symlink at ``path`` counts as taken (even a dangling one): nothing is
    written through it.
    """
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY, 0o666)


class StagedFile:
    """A new version of ``path``, written beside it and put in its place by :meth:`publish`.

    :attr:`fd` is open for writing a temporary file in ``path``'s directory
    (with the old file's permissions); ``path`` itself is untouched until
    :meth:`publish` renames the temporary file over it, and :meth:`discard`
    removes it. A symlink is written through, as ``open`` would: the file it
    points to is the one replaced. A ``path`` that exists and is not a
    regular file (``/dev/null``, a FIFO) is written in place: there is
    nothing there to keep, and a rename would replace the device itself.
    Failures raise ``OSError`` naming ``path``.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)
        self.target = os.path.realpath(self.path)
        #: The temporary file while unpublished (``None``: writing the target itself).
        self.temp: str | None = None
        try:
            existing: os.stat_result | None = os.stat(self.target)
        except FileNotFoundError:
            existing = None
        except OSError as exc:
            raise named(exc, self.path) from None
        try:
            if existing is not None and not stat.S_ISREG(existing.st_mode):
                self.fd = os.open(self.target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _BINARY)
                return
            directory, base = os.path.split(self.target)
            while True:
                temp = os.path.join(directory, f".{base}.{secrets.token_hex(4)}.part")
                try:
                    self.fd = create_new(temp)
                except FileExistsError:
                    continue
                break
        except OSError as exc:
            raise named(exc, self.path) from None
        self.temp = temp
        if existing is not None and hasattr(os, "fchmod"):
            with contextlib.suppress(OSError):
                os.fchmod(self.fd, stat.S_IMODE(existing.st_mode))

    @property
    def published(self) -> bool:
        """Whether what is written goes to ``path`` itself now."""
        return self.temp is None

    def publish(self, *, replace: bool = True) -> bool:
        """Put the new file in ``path``'s place (the open :attr:`fd` follows it).

        With ``replace=False`` an existing file at ``path`` is kept and the new
        one discarded; returns whether the new file is at ``path`` now.
        """
        temp = self.temp
        if temp is None:
            return True
        try:
            if replace:
                os.replace(temp, self.target)
            else:
                try:
                    os.link(temp, self.target)  # fails, atomically, when the name is taken
                except FileExistsError:
                    return False
                finally:
                    self.discard()
        except OSError as exc:
            raise named(exc, self.path) from None
        self.temp = None
        return True

    def discard(self) -> None:
        """Remove the unpublished new file (the descriptor stays the caller's to close)."""
        if self.temp is not None:
            temp, self.temp = self.temp, None
            with contextlib.suppress(OSError):
                os.unlink(temp)

    def __repr__(self) -> str:
        state = "published" if self.temp is None else f"staged as {self.temp!r}"
        return f"<StagedFile {self.path!r} {state}>"


class AppendFile:
    """A file written as its bytes arrive, complete up to the last :meth:`write` at every moment.

    Each :meth:`write` goes to the operating system with unbuffered system
    calls before it returns, as :class:`rawlive.media.audio.WavWriter` does
    for audio, so a run interrupted at any moment (even killed with SIGKILL)
    leaves the bytes received so far. There is no header to keep up to date:
    the file is the concatenation of what was written (the parts of a
    fragmented MP4 stream play as they are).

    With ``staged``, ``path`` is left as it is until :meth:`publish` (a
    :class:`StagedFile`): a run that fails before it has anything to say
    leaves a previous file untouched; closing an unpublished file removes it.
    A failed open or write raises ``OSError`` naming ``path``.
    """

    def __init__(self, path: PathLike, *, staged: bool = False) -> None:
        self.path = os.fspath(path)
        #: Bytes and writes so far.
        self.bytes = 0
        self.writes = 0
        self._staged: StagedFile | None = None
        if staged:
            self._staged = StagedFile(self.path)
            self._fd: int | None = self._staged.fd
        else:
            try:
                self._fd = os.open(
                    self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _BINARY, 0o666
                )
            except OSError as exc:
                raise named(exc, self.path) from None

    def publish(self) -> None:
        """Put a ``staged`` file in ``path``'s place (nothing to do otherwise)."""
        if self._staged is not None:
            self._staged.publish()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``; it is in the operating system's hands when this returns."""
        if self._fd is None:
            raise ClosedError(f"{self.path}: the file is closed")
        view = memoryview(data)
        size = len(view)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise named(exc, self.path) from None
        self.bytes += size
        self.writes += 1

    @property
    def closed(self) -> bool:
        return self._fd is None

    def close(self) -> None:
        """Close the file (it is already complete); an unpublished ``staged`` file is removed."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            if self._staged is not None and not self._staged.published:
                self._staged.discard()
            os.close(fd)

    def __enter__(self) -> AppendFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd is None else f"{self.bytes} bytes"
        return f"<AppendFile {self.path!r} {state}>"
