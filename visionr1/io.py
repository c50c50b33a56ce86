"""Output directories and deterministic file writing shared by every command."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from visionr1.errors import VisionR1Error


def prepare_output_dir(path: str | Path, *, force: bool = False, marker: str | None = None,
                       marker_text: str | None = None) -> Path:
    """Create ``path`` (or reuse it) and check that it is a writable directory.

    A non-empty directory is only reused with ``force``; and then only if it contains ``marker`` (holding
    ``marker_text`` when given): proof that it is an earlier output of the same command, in which case its
    contents are removed.
    """
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise VisionR1Error(f"output path {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VisionR1Error(f"cannot create output directory {out}: {exc.strerror or exc}") from None
    entries = [p for p in out.iterdir() if p.name != ".probe"]
    if entries:
        if not force:
            raise VisionR1Error(f"output directory {out} is not empty (use --force to replace an earlier output)")
        if marker is None or not (out / marker).is_file() or (
                marker_text is not None and marker_text not in (out / marker).read_text(errors="replace")):
            raise VisionR1Error(
                f"refusing to clear {out}: it has no {marker or 'marker file'}, so it is not an earlier output")
        for p in entries:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    probe = out / ".probe"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise VisionR1Error(f"output directory {out} is not writable: {exc.strerror or exc}") from None
    return out


def write_json(path: str | Path, obj: Any, *, indent: int | None = None) -> None:
    """Write JSON deterministically (fixed key order as given, no timestamps) and atomically."""
    write_bytes(path, json.dumps(obj, indent=indent, ensure_ascii=False).encode("utf-8"))


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + rename), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@contextmanager
def atomic_output(path: str | Path | None) -> Iterator[IO[str]]:
    """A text stream for ``path`` that appears there only if the block completes (``None``: standard output).

    Written to ``<path>.tmp`` and renamed at the end; on any error the temporary file is removed, so an
    interrupted or failed run never leaves a partial output behind.
    """
    if path is None:
        yield sys.stdout
        return
    path = Path(path)
    if path.is_dir():
        raise VisionR1Error(f"output {path} is a directory")
    tmp = path.with_name(path.name + ".tmp")
    try:
        f = open(tmp, "w", encoding="utf-8")  # noqa: SIM115 - closed below on every path
    except OSError as exc:
        raise VisionR1Error(f"cannot write {path}: {exc.strerror}") from None
    try:
        with f:
            yield f
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


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
