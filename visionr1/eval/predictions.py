"""Predictions streamed to JSONL as they complete, one file per process; resumable after a kill."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO

from visionr1.io import json_line


class PredictionStore:
    """``<folder>/part-<rank>.jsonl`` files holding one record per answered query (``qid`` first)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def parts(self) -> list[Path]:
        return sorted(self.folder.glob("part-*.jsonl"))

    def read(self) -> dict[str, dict]:
        """Every complete record, by query id (the first one wins; a line cut off by a kill is ignored)."""
        out: dict[str, dict] = {}
        for part in self.parts():
            with open(part, encoding="utf-8") as f:
                for line in f:
                    if not line.endswith("\n"):
                        break  # the last line of a killed writer
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    out.setdefault(rec["qid"], rec)
        return out

    def writer(self, rank: int) -> IO[str]:
        """Append handle for this process; a partial last line left by a kill is cut off first."""
        path = self.folder / f"part-{rank}.jsonl"
        if path.is_file() and path.stat().st_size:
            data = path.read_bytes()
            if not data.endswith(b"\n"):
                with open(path, "r+b") as f:
                    f.truncate(data.rfind(b"\n") + 1)
        return open(path, "a", encoding="utf-8")


def write_records(f: IO[str], records: list[dict]) -> None:
    """Write whole lines and push them to the OS, so a kill loses at most the batch in flight. A string the
    model wrote with a lone surrogate (``"\\ud800"``, valid JSON, not UTF-8) is kept as an escape."""
    f.write("".join(json_line(r).decode("utf-8") for r in records))
    f.flush()
    os.fsync(f.fileno())
