"""Every blocking file-system call of the file source and the positions store, kept off the event loop.

Each public coroutine here does its work in one `asyncio.to_thread` hop, so a slow disk, NFS or a huge
directory never stalls other files, the pipeline or the HTTP server. Callers batch what they need into one
call (`read_chunk` reads the data, the file's size and its first bytes together). The functions are thin:
they know nothing of positions, rotation or labels, and return plain values or raise `OSError`.

Only `close_now` runs inline: closing a regular file is quick, and it must work inside a cancelled task.
"""

from __future__ import annotations

import asyncio
import bz2
import contextlib
import errno
import glob as globmod
import gzip
import os
import stat as statmod
import tempfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

HEAD_BYTES = 1024
"""How many leading bytes identify a file's content (its fingerprint)."""


@dataclass(frozen=True, slots=True)
class FileStat:
    """What the source needs from `stat`: identity, size, and whether the file is still linked."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    nlink: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_nlink)


@dataclass(frozen=True, slots=True)
class Opened:
    """An open file: its descriptor, its stat at open time and its first `HEAD_BYTES` bytes."""

    fd: int
    stat: FileStat
    head: bytes


@dataclass(frozen=True, slots=True)
class Chunk:
    """One `read_chunk` result: up to `max_bytes` of data, then the file's current stat and head.

    The stat and head are taken *after* the data, so if they still describe the same content the data
    cannot come from a later generation of a truncated file.
    """

    data: bytes
    stat: FileStat
    head: bytes


@dataclass(frozen=True, slots=True)
class Found:
    """A regular file found by a directory scan."""

    path: str
    stat: FileStat
    head: bytes


async def open_file(path: str) -> Opened:
    """Open `path` read-only; raise `OSError` (PermissionError, FileNotFoundError, IsADirectoryError)."""
    return await asyncio.to_thread(_open, path)


def _open(path: str) -> Opened:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if statmod.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        head = os.pread(fd, HEAD_BYTES, 0)
    except BaseException:
        os.close(fd)
        raise
    return Opened(fd, FileStat.of(st), head)


async def read_chunk(fd: int, offset: int, max_bytes: int) -> Chunk:
    """Read up to `max_bytes` at `offset`, then the file's stat and first bytes, in one thread hop."""
    return await asyncio.to_thread(_read_chunk, fd, offset, max_bytes)


def _read_chunk(fd: int, offset: int, max_bytes: int) -> Chunk:
    data = os.pread(fd, max_bytes, offset)
    st = os.fstat(fd)
    head = os.pread(fd, HEAD_BYTES, 0)
    return Chunk(data, FileStat.of(st), head)


async def fstat_many(fds: Sequence[int]) -> list[FileStat | None]:
    """`fstat` every descriptor in one hop (None where it failed: the descriptor was closed meanwhile)."""
    return await asyncio.to_thread(_fstat_many, fds)


def _fstat_many(fds: Sequence[int]) -> list[FileStat | None]:
    out: list[FileStat | None] = []
    for fd in fds:
        try:
            out.append(FileStat.of(os.fstat(fd)))
        except OSError:
            out.append(None)  # closed by its tail meanwhile; the caller treats it as "look again"
    return out


def close_now(fd: int) -> None:
    """Close `fd` inline (quick for regular files, and usable in a cancelled task's cleanup)."""
    os.close(fd)


async def stat_paths(paths: Sequence[str]) -> dict[str, FileStat | OSError]:
    """Stat every path (following symlinks) in one hop: a `FileStat`, or the `OSError` it raised."""
    return await asyncio.to_thread(_stat_paths, paths)


def _stat_paths(paths: Sequence[str]) -> dict[str, FileStat | OSError]:
    out: dict[str, FileStat | OSError] = {}
    for path in paths:
        try:
            out[path] = FileStat.of(os.stat(path))
        except OSError as exc:
            out[path] = exc
    return out


async def expand_globs(pattern_sets: Sequence[Sequence[str]]) -> list[list[str]]:
    """For each set of patterns, the absolute paths of the regular files they match (``**`` spans directories)."""
    return await asyncio.to_thread(_expand_globs, pattern_sets)


def _expand_globs(pattern_sets: Sequence[Sequence[str]]) -> list[list[str]]:
    results: list[list[str]] = []
    for patterns in pattern_sets:
        seen: dict[str, None] = {}
        for pattern in patterns:
            if not any(c in pattern for c in "*?["):
                matches: Iterable[str] = [pattern] if os.path.isfile(pattern) else []
            else:
                matches = globmod.iglob(pattern, recursive=True, include_hidden=True)
            for match in matches:
                path = os.path.abspath(match)
                if path not in seen and os.path.isfile(path):
                    seen[path] = None
        results.append(list(seen))
    return results


async def existing_directories(paths: Iterable[str]) -> set[str]:
    """The subset of `paths` that are existing directories."""
    candidates = list(paths)
    return await asyncio.to_thread(lambda: {p for p in candidates if os.path.isdir(p)})


async def scan_siblings(path: str, min_size: int = 0) -> list[Found]:
    """Regular files beside `path` (in its real directory, symlinks resolved), at least `min_size` bytes long."""
    return await asyncio.to_thread(_scan_siblings, path, min_size)


def _scan_siblings(path: str, min_size: int) -> list[Found]:
    directory = os.path.dirname(os.path.realpath(path))
    found: list[Found] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return found
    for entry in entries:
        try:
            if not entry.is_file():
                continue
            st = entry.stat()
            if st.st_size < min_size:
                continue
            with open(entry.path, "rb") as handle:
                head = handle.read(HEAD_BYTES)
        except OSError:
            continue  # vanished or unreadable: not a candidate
        found.append(Found(entry.path, FileStat.of(st), head))
    return found


# -- compressed files


class Readable(Protocol):
    """A decompressing stream, as `open_compressed` returns it."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class _ZlibReader:
    """A zlib stream (Promtail's ``z`` format) as a readable file."""

    def __init__(self, path: str) -> None:
        self._raw: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._inflate = zlib.decompressobj()
        self._eof = False

    def read(self, size: int = -1, /) -> bytes:
        out = b""
        while not self._eof and (size < 0 or len(out) < size):
            raw = self._raw.read(256 * 1024)
            if not raw:
                out += self._inflate.flush()
                self._eof = True
                break
            out += self._inflate.decompress(raw)
        return out

    def close(self) -> None:
        self._raw.close()


async def open_compressed(path: str, fmt: str) -> Readable:
    """Open `path` as a decompressing stream; `fmt` is ``gz``, ``bz2`` or ``z``."""
    return await asyncio.to_thread(_open_compressed, path, fmt)


def _open_compressed(path: str, fmt: str) -> Readable:
    if fmt == "gz":
        return gzip.open(path, "rb")
    if fmt == "bz2":
        return bz2.open(path, "rb")
    if fmt == "z":
        return _ZlibReader(path)
    raise ValueError(f"unsupported compression format {fmt!r} (use gz, bz2 or z)")


async def read_compressed(stream: Readable, size: int) -> bytes:
    """Decompress up to about `size` bytes (the CPU work happens in the thread too); b"" at the end."""
    return await asyncio.to_thread(stream.read, size)


def close_stream(stream: Readable) -> None:
    """Close a stream from `open_compressed` inline."""
    stream.close()


# -- positions files


async def read_file(path: str) -> bytes | None:
    """The whole file, or None if it does not exist."""
    return await asyncio.to_thread(read_file_now, path)


def read_file_now(path: str) -> bytes | None:
    """`read_file`, inline: for startup, before any task runs."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


async def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically: temp file in the same directory, fsync, rename, fsync dir."""
    await asyncio.to_thread(write_atomic_now, path, data, mode)


def write_atomic_now(path: str, data: bytes, mode: int = 0o600) -> None:
    """`write_atomic`, inline."""
    directory = os.path.dirname(path) or "."
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(temp)
        raise
    os.close(fd)
    try:
        os.replace(temp, path)
    except BaseException:
        _unlink_quietly(temp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _unlink_quietly(path: str) -> None:
    # Only called while another exception propagates: that one is what the caller reports and counts.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def ensure_directory_now(directory: str) -> None:
    """Create `directory` (and parents) if missing, then check it is writable; raise `OSError` if not."""
    os.makedirs(directory, exist_ok=True)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "permission denied", directory)


def rename_now(source: str, target: str) -> None:
    """Rename inline (startup only: setting a corrupt positions file aside)."""
    os.replace(source, target)
