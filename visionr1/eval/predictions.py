"""Predictions streamed to JSONL as they complete, one file per process; resumable after a kill."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import IO

from visionr1.errors import VisionR1Error
from visionr1.io import json_line


class PredictionStore:
    """``<folder>/part-<rank>.jsonl`` files holding one record per answered query (``qid`` first)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)  # created by the first writer: reading (review) writes nothing
        self.skipped = 0

    def parts(self) -> list[Path]:
        return sorted(self.folder.glob("part-*.jsonl"))

    def read(self) -> dict[str, dict]:
        """Every complete, well-formed record, by query id (the first one wins). A line cut off by a kill, and a
        line that is not a record (not UTF-8 or JSON, no ``qid``, mistyped boxes or labels) are skipped and
        counted in ``self.skipped``: their queries are unanswered, so a run answers them again. A part file that
        cannot be read at all (a folder, no permission) is one line naming it."""
        out: dict[str, dict] = {}
        self.skipped = 0
        for part in self.parts():
            try:
                with open(part, "rb") as f:
                    for line in f:
                        # a line without its newline is the last one of a killed writer: never a whole record
                        rec = _record(line) if line.endswith(b"\n") else None
                        if rec is None:
                            self.skipped += 1
                        else:
                            out.setdefault(rec["qid"], rec)
            except OSError as exc:
                raise VisionR1Error(f"cannot read predictions file {part}: {exc.strerror or exc}") from None
        return out

    def writer(self, rank: int) -> IO[str]:
        """Append handle for this process; a partial last line left by a kill is cut off first."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"part-{rank}.jsonl"
        if path.is_file() and path.stat().st_size:
            data = path.read_bytes()
            if not data.endswith(b"\n"):
                with open(path, "r+b") as f:
                    f.truncate(data.rfind(b"\n") + 1)
        return open(path, "a", encoding="utf-8")


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _record(line: bytes) -> dict | None:
    """The prediction record of one line, or None when it is not one (see ``PredictionStore.read``)."""
    try:
        rec = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("qid"), str) or not isinstance(rec.get("raw"), str):
        return None
    boxes, labels = rec.get("boxes"), rec.get("labels")
    if not isinstance(boxes, list) or not isinstance(labels, list) or len(boxes) != len(labels):
        return None
    if not all(isinstance(b, list) and len(b) == 4 and all(map(_number, b)) for b in boxes):
        return None
    if not all(isinstance(x, str) for x in labels) or not isinstance(rec.get("template_ok"), bool):
        return None
    return rec


def write_records(f: IO[str], records: list[dict]) -> None:
    """Write whole lines and push them to the OS, so a kill loses at most the batch in flight. A string the
    model wrote with a lone surrogate (``"\\ud800"``, valid JSON, not UTF-8) is kept as an escape."""
    f.write("".join(json_line(r).decode("utf-8") for r in records))
    f.flush()
    os.fsync(f.fileno())
