"""Outputs shared by every command: output folders (locked, cleaned up on failure), atomic files that never
replace a device or fifo, one-line errors for a full disk or a read-only folder, and a safe pickle reader."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pickle
import shutil
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from visionr1.errors import VisionR1Error

_ENCODE = msgspec.json.Encoder().encode


def _fail(path: str | Path, exc: OSError) -> VisionR1Error:
    """An operating-system error on an output (no space, permission, read-only file system) as one line."""
    return VisionR1Error(f"cannot write {path}: {exc.strerror or exc}")


def clear_dir(folder: Path) -> None:
    """Remove everything in ``folder`` (the folder stays)."""
    for p in folder.iterdir():
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def prepare_output_dir(path: str | Path, *, force: bool = False, marker: str | tuple[str, ...] | None = None,
                       marker_text: str | None = None) -> Path:
    """Create ``path`` (or reuse it) and check that it is a writable directory.

    A non-empty directory is only reused with ``force``; and then only if it contains ``marker`` (one of them,
    for a tuple; holding ``marker_text`` when given): proof that it is an earlier output of the same command, in
    which case its contents are removed.
    """
    out = make_dir(path)
    entries = [p for p in out.iterdir() if p.name != ".probe"]
    if entries:
        if not force:
            raise VisionR1Error(f"output directory {out} is not empty (use --force to replace an earlier output)")
        markers = (marker,) if isinstance(marker, str) else marker or ()
        if not any((out / m).is_file() and (marker_text is None or marker_text in (out / m).read_text(
                errors="replace")) for m in markers):
            raise VisionR1Error(f"refusing to clear {out}: it has no {' or '.join(markers) or 'marker file'}, so it "
                                "is not an earlier output")
        clear_dir(out)
    probe = out / ".probe"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise VisionR1Error(f"output directory {out} is not writable: {exc.strerror or exc}") from None
    return out


@contextmanager
def lock_dir(path: str | Path) -> Iterator[Path]:
    """Hold an exclusive advisory lock (``flock``) on the folder ``path`` (created if needed) for the block, so
    that two runs writing into the same folder cannot interleave: the second one stops with an error at once.
    The lock is on the folder itself (no lock file is left behind) and ends with the process. If the block fails
    (a refused ``--resume``, any error), the folders this created are removed again where they are still empty."""
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise VisionR1Error(f"output path {out} exists and is not a directory")
    made = [p for p in (out, *out.parents) if not p.exists()]  # deepest first
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise VisionR1Error(f"cannot create output directory {out}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise VisionR1Error(f"output directory {out} is in use by another visionr1 run (it holds the folder's "
                                "lock); wait for it to finish or choose another folder") from None
        yield out
    except BaseException:
        for folder in made:
            try:
                folder.rmdir()
            except OSError:  # not empty (what the block wrote is the caller's to keep or remove), or gone
                break
        raise
    finally:
        os.close(fd)


@contextmanager
def output_dir(path: str | Path, *, force: bool = False, marker: str | None = None,
               marker_text: str | None = None) -> Iterator[Path]:
    """``prepare_output_dir`` under ``lock_dir``. If the block fails (no space left, Ctrl-C, any error), what it
    wrote is removed, so a partial output is never left looking complete and the next run starts clean; an
    ``OSError`` becomes one line naming the path."""
    with lock_dir(path) as out:
        out = prepare_output_dir(out, force=force, marker=marker, marker_text=marker_text)
        try:
            yield out
        except BaseException as exc:
            clear_dir(out)
            if isinstance(exc, OSError):
                raise _fail(exc.filename or out, exc) from None
            raise


def make_dir(path: str | Path) -> Path:
    """The folder ``path`` for outputs that are added to it (created with its parents if needed): a file in its
    place or a folder that cannot be created is one line naming it."""
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise VisionR1Error(f"output path {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VisionR1Error(f"cannot create output directory {out}: {exc.strerror or exc}") from None
    return out


def json_line(obj: Any) -> bytes:
    """``obj`` as one compact line of UTF-8 JSON (with the newline). Strings holding lone surrogates (valid in
    JSON as ``\\ud800`` escapes, not encodable in UTF-8) are written as escapes instead of failing."""
    try:
        return _ENCODE(obj) + b"\n"
    except UnicodeEncodeError:
        return json.dumps(obj, separators=(",", ":")).encode("ascii") + b"\n"


def differing_keys(before: dict, now: dict) -> list[str]:
    """The keys whose values differ between two records, a key on one side only included (``now``'s order, then
    ``before``'s)."""
    missing = object()
    return [k for k in dict.fromkeys([*now, *before]) if before.get(k, missing) != now.get(k, missing)]


def record_differences(before: dict, now: dict, *, ignore: tuple[str, ...] = (), per_entry: bool = False) -> list[str]:
    """What differs between a run's record written earlier (``before``) and this run's (``now``), one
    ``name old (this run: new)`` per key (``name not recorded (this run: new)`` for a key the earlier record lacks;
    keys of ``ignore`` may change). ``per_entry``: a mapping on both sides (one entry per set, ...) differs only
    in the entries both hold."""
    out = []
    for k in differing_keys(before, now):
        if k in ignore:
            continue
        if k not in before:
            out.append(f"{k} not recorded (this run: {now[k]!r})")
        elif per_entry and isinstance(before[k], dict) and isinstance(now.get(k), dict):
            out += [f"{k} {e} {v!r} (this run: {now[k][e]!r})" for e, v in before[k].items()
                    if e in now[k] and now[k][e] != v]
        else:
            out.append(f"{k} {before[k]!r} (this run: {now.get(k)!r})")
    return out


def write_json(path: str | Path, obj: Any, *, indent: int | None = None) -> None:
    """Write JSON deterministically (fixed key order as given, no timestamps) and atomically."""
    try:
        text = json.dumps(obj, indent=indent, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: keep them as escapes
        text = json.dumps(obj, indent=indent).encode("ascii")
    write_bytes(path, text)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through ``atomic_output``, creating parent folders."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _fail(path.parent, exc) from None
    with atomic_output(path) as f:
        f.write(data)


class Output:
    """A binary output stream whose write errors (no space left, I/O error) are one-line ``VisionR1Error``s
    naming the output."""

    def __init__(self, f: BinaryIO, name: str, *, pipe: bool = False) -> None:
        self.file, self.name, self.pipe = f, name, pipe

    def _error(self, exc: OSError) -> BaseException:
        # standard output closed by its reader (`| head`): not an error of ours, ``visionr1.cli.main`` ends quietly
        return exc if self.pipe and isinstance(exc, BrokenPipeError) else _fail(self.name, exc)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:  # an unbuffered file may take part of the data per call
                view = view[self.file.write(view) or 0:]
        except OSError as exc:
            raise self._error(exc) from None

    def flush(self) -> None:
        try:
            self.file.flush()
        except OSError as exc:
            raise self._error(exc) from None


@contextmanager
def atomic_output(path: str | Path | None) -> Iterator[Output]:
    """A binary stream for ``path`` that never leaves a partial output and never replaces what is not a file.

    - ``None``: standard output (closed by its reader: ``BrokenPipeError``, which the CLI ends quietly on).
    - A regular file or a new path (through a symlink: the file it points to): written to ``.<name>.tmp``
      beside it and renamed over it when the block completes; on any error the temporary file is removed and
      ``path`` is untouched. The temporary file is flushed to disk (``fsync``) before the rename and the folder
      after it, so a crash or power loss leaves either the old or the new content. The temporary file is locked
      (``flock``) while written, so a second run writing to the same path stops with an error instead of
      interleaving; a temporary file left by a killed run is reused.
    - Anything else that exists (a character device such as ``/dev/null``, a fifo, a socket): written to
      directly and never replaced (a fifo blocks until a reader opens it).

    Operating-system errors (no space, permission denied, read-only file system) become one line naming
    ``path``.
    """
    if path is None:
        out = Output(sys.stdout.buffer, "<stdout>", pipe=True)
        yield out
        out.flush()
        return
    path = Path(path)
    real = Path(os.path.realpath(path))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _fail(path, exc) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise VisionR1Error(f"output {path} is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):  # a device, fifo or socket: stream into it
        try:
            f = open(real, "wb", buffering=0)  # noqa: SIM115 - closed below; unbuffered: close() cannot fail
        except OSError as exc:
            raise _fail(path, exc) from None
        with f:
            out = Output(f, str(path))
            yield out
            out.flush()
        return
    tmp = real.with_name(f".{real.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise _fail(path, exc) from None
    with open(fd, "wb", buffering=0) as f:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise VisionR1Error(f"{path} is being written by another visionr1 run (it holds the lock on {tmp})") \
                from None
        try:
            os.ftruncate(fd, 0)
            if st is not None:
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
            out = Output(f, str(path))
            yield out
            out.flush()
            os.fsync(fd)  # the data is on disk before the name points at it: a crash leaves the old or the new file
            os.replace(tmp, real)
            _fsync_dir(real.parent)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise _fail(path, exc) from None
            raise


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable where the file system allows it (some refuse ``fsync`` on a folder,
    e.g. with ``EINVAL``; the rename itself has happened then, only its durability is up to the system)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_pickle(path: str | Path) -> Any:
    """Read a pickle that may hold only plain data (lists, tuples, dicts, sets, strings, bytes, numbers, booleans,
    None), as the RefCOCO ``refs(*).p`` files do. Any global a pickle names (a class, a function such as
    ``os.system``) is refused with ``VisionR1Error`` naming the file, so a crafted file cannot run code."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _PlainUnpickler(f, path).load()
    except OSError as exc:
        raise VisionR1Error(f"cannot read {path}: {exc.strerror or exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError) as exc:
        raise VisionR1Error(f"{path} is not a readable pickle of plain data: {exc}") from None


class _PlainUnpickler(pickle.Unpickler):
    def __init__(self, f: BinaryIO, path: Path) -> None:
        super().__init__(f, encoding="latin1")  # Python 2 pickles (the original refs files) hold byte strings
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        raise VisionR1Error(f"refusing to load {self.path}: the pickle names {module}.{name}; only plain data "
                            "(lists, dicts, strings, numbers) is allowed")

    def persistent_load(self, pid: Any) -> Any:
        raise VisionR1Error(f"refusing to load {self.path}: the pickle uses persistent ids")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tree_digest(root: str | Path) -> dict[str, str]:
    """sha256 of every file under ``root``, keyed by its POSIX path relative to ``root`` (sorted)."""
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in files}
