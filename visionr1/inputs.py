"""Inputs shared by every command: one reader per kind of file the project reads (text, JSON and YAML documents,
torch state files, images), each checking before any work and failing with one ``VisionR1Error`` line that
names the file (and the key). Every reader raises nothing else, whatever the damage (truncation, a list where
an object belongs, bytes that are not UTF-8): ``tests/test_inputs.py`` feeds random damage into each."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from visionr1.errors import VisionR1Error

MAX_SEED = 2**32 - 1  # numpy and torch seeds

_TYPE_NAMES = {dict: "an object (mapping)", list: "a list", str: "a string", int: "an integer",
               float: "a number", bool: "true or false"}


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def resolved(path: str | Path) -> Path:
    """``path`` made absolute with its symlinks resolved; a symlink loop (``RuntimeError`` in Python before
    3.13) is one line naming it."""
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as exc:
        raise VisionR1Error(f"{path}: cannot resolve the path (a symlink loop?): {exc}") from None


def is_utf8(text: str) -> bool:
    """``text`` can be written as UTF-8: a file name read from disk whose bytes are not UTF-8 holds surrogates
    (``surrogateescape``), which JSON lines can escape but Arrow tables and terminals cannot take."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unnamed_categories(where: object, categories: Iterable[tuple[int, str]]) -> tuple[set[int], str]:
    """The ids of the categories whose name is not valid UTF-8 text (a lone surrogate, ``"\\udcff"`` in the JSON:
    valid JSON, as Python writes a name taken from a file name in bytes that are not UTF-8) and how they are shown
    in a message (``3 'squ\\xffare'``). Data build and evaluation skip them with their boxes and count them: no
    prompt, table or database can hold such a name. A file in which no category is left is one line."""
    pairs = list(categories)
    bad = {cid for cid, name in pairs if not is_utf8(name)}
    shown = ", ".join(f"{cid} '{printable(name)}'" for cid, name in sorted(pairs, key=lambda p: p[0]) if cid in bad)
    if bad and all(cid in bad for cid, _ in pairs):
        raise VisionR1Error(f"{where}: no category has a name in valid UTF-8 text ({shown})")
    return bad, shown


def arrow_folder(folder: Path) -> Path:
    """``folder`` made absolute, for the datasets library (Arrow), which takes UTF-8 paths only: a path named in
    bytes that are not UTF-8 (also a relative one inside such a folder) is one line saying so."""
    path = resolved(folder)
    if not is_utf8(str(path)):
        raise VisionR1Error(f"{printable(str(path))}: the path is not valid UTF-8 text, which the datasets library "
                            "cannot open: rename the folder")
    return path


def printable(text: str) -> str:
    """``text`` with the bytes of a name that is not UTF-8 shown as ``\\xff`` escapes (for messages)."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def read_text(path: str | Path) -> str:
    """The UTF-8 text of ``path``; a missing or unreadable file, a folder or bytes that are not UTF-8 are one
    line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise VisionR1Error(f"{path}: file not found") from None
    except IsADirectoryError:
        raise VisionR1Error(f"{path}: a folder, not a file") from None
    except OSError as exc:
        raise VisionR1Error(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VisionR1Error(f"{path}: not UTF-8 text (byte {exc.start})") from None


def check_document(doc: Any, path: str | Path, kind: type = dict, keys: dict[str, type | tuple[type, ...]]
                   | Iterable[str] = ()) -> Any:
    """``doc`` (read from ``path``) is a ``kind`` holding ``keys`` (names, or names with their value types)."""
    if not isinstance(doc, kind):
        raise VisionR1Error(f"{path}: expected {_TYPE_NAMES.get(kind, kind.__name__)}, got {_kind(doc)}")
    types = keys if isinstance(keys, dict) else dict.fromkeys(keys)
    for key, want in types.items():
        if key not in doc:
            raise VisionR1Error(f"{path}: missing key '{key}'")
        if want is not None:
            check_value(doc[key], want, f"{path}: key '{key}'")
    return doc


def check_value(value: Any, want: type | tuple[type, ...], where: str) -> Any:
    """``value`` has the type ``want`` (a bool is not a number; an int is a float)."""
    wants = want if isinstance(want, tuple) else (want,)
    ok = any((isinstance(value, w) and not (isinstance(value, bool) and w in (int, float)))
             or (w is float and isinstance(value, int) and not isinstance(value, bool)) for w in wants)
    if not ok:
        names = " or ".join(_TYPE_NAMES.get(w, w.__name__) for w in wants)
        raise VisionR1Error(f"{where} must be {names}, got {value!r:.60}")
    return value


def read_json(path: str | Path, kind: type = dict, keys: dict[str, type | tuple[type, ...]]
              | Iterable[str] = ()) -> Any:
    """A JSON document of ``kind`` with ``keys`` (see ``check_document``)."""
    text = read_text(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VisionR1Error(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except (ValueError, RecursionError) as exc:
        raise VisionR1Error(f"{path}: not valid JSON ({exc})") from None
    return check_document(doc, path, kind, keys)


def parse_yaml(text: str, path: str | Path) -> Any:
    """YAML ``text`` read from ``path``; a syntax error is one line with its position."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise VisionR1Error(f"{path}: not valid YAML ({where}{getattr(exc, 'problem', None) or exc})") from None
    except (ValueError, RecursionError) as exc:
        raise VisionR1Error(f"{path}: not valid YAML ({exc})") from None


def read_yaml(path: str | Path, kind: type = dict, keys: dict[str, type | tuple[type, ...]]
              | Iterable[str] = ()) -> Any:
    """A YAML document of ``kind`` with ``keys`` (see ``check_document``); an empty file is an empty ``kind``."""
    doc = parse_yaml(read_text(path), path)
    return check_document(kind() if doc is None else doc, path, kind, keys)


def check_torch_file(path: str | Path) -> Path:
    """``path`` is a complete ``torch.save`` archive as far as its end tells (the zip directory at the end of the
    file, which a truncated copy or a killed write lacks): cheap for a many-GB optimizer state, which is only
    read when training resumes."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except FileNotFoundError:
        raise VisionR1Error(f"{path}: file not found") from None
    except OSError as exc:
        raise VisionR1Error(f"cannot read {path}: {exc.strerror or exc}") from None
    except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as exc:
        raise VisionR1Error(f"{path}: not a complete torch state file (truncated or damaged: {exc})") from None
    if not any(n.endswith("data.pkl") for n in names):
        raise VisionR1Error(f"{path}: not a torch state file (no data.pkl in the archive)")
    return path


def load_torch(path: str | Path, keys: Iterable[str] = (), map_location: Any = "cpu") -> Any:
    """A ``torch.save`` file of tensors and plain data (``weights_only``) holding ``keys`` at its top level. Any
    damage (truncation: PytorchStreamReader's RuntimeError, EOFError, pickle errors, ...) is one line."""
    import torch

    check_torch_file(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise VisionR1Error(f"{path}: not a readable torch state file ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:200]})") from None
    return check_document(state, path, dict, keys)

