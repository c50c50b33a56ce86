"""The run record of a training folder: which run writes into ``--out`` (model, data fingerprint, config hash), so
that another run is never mixed into it, a resume continues only its own run, and ``--force`` clears only a
training folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from visionr1.errors import VisionR1Error
from visionr1.inputs import read_json
from visionr1.io import differing_keys

RUN_RECORD = "run.json"
# options a resumed run may change without becoming another run: how long it runs, how it saves and logs, the
# held-out evaluation, gradient checkpointing (memory for time; none of them changes what a step computes)
RESUMABLE = ("max_steps", "num_train_epochs", "save_steps", "save_total_limit", "save_strategy", "logging_steps",
             "report_to", "progress_every", "heldout_every", "heldout_annotations", "heldout_images", "heldout_limit",
             "heldout_protocol", "heldout_max_new_tokens", "gradient_checkpointing", "gradient_checkpointing_kwargs",
             "activation_checkpointing")
IDENTITY = ("kind", "model", "model_fingerprint", "data_fingerprint", "config_hash")


def data_fingerprint(data: Path) -> str:
    """The mix's identity: the fingerprint ``visionr1 data build`` recorded in its manifest, else the dataset's
    own (``state.json``), else a hash of its metadata files."""
    data = Path(data)
    manifest = data / "manifest.json"
    if manifest.is_file():
        try:
            doc = json.loads(manifest.read_text())
        except (OSError, ValueError):
            doc = None
        fp = doc.get("fingerprint") if isinstance(doc, dict) else None  # damaged: the dataset's own identity
        if fp:
            return str(fp)
    folder = data / "dataset" if (data / "dataset").is_dir() else data
    h = hashlib.sha256()
    for name in ("state.json", "dataset_info.json", "dataset_dict.json"):
        if (folder / name).is_file():
            h.update(name.encode() + (folder / name).read_bytes())
    return h.hexdigest()[:16]


def step_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options that decide what a step computes (``describe`` less ``RESUMABLE``), as JSON values."""
    return json.loads(json.dumps({k: v for k, v in sorted(options.items()) if k not in RESUMABLE}, default=str))


def config_hash(options: dict[str, Any]) -> str:
    """A hash of the options that decide what a step computes (``describe`` less ``RESUMABLE``)."""
    kept = {k: v for k, v in sorted(options.items()) if k not in RESUMABLE}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_record(kind: str, model: str, data: Path, options: dict[str, Any]) -> dict[str, Any]:
    """The record of this run (written to ``<out>/run.json`` at the start and into every checkpoint)."""
    from visionr1.eval.runner import model_fingerprint

    local = Path(model).is_dir()
    return {"kind": kind, "model": str(Path(model).resolve()) if local else model,
            "model_fingerprint": model_fingerprint(model), "data": str(Path(data).resolve()),
            "data_fingerprint": data_fingerprint(data), "config_hash": config_hash(options),
            "options": step_options(options)}  # what the hash covers: a refusal can name the options that differ


def read_record(folder: Path) -> dict | None:
    """The run record in ``folder`` (None: there is none; a damaged one is one line naming it and the damage)."""
    path = Path(folder) / RUN_RECORD
    if not path.is_file():
        return None
    try:
        return read_json(path, dict)
    except VisionR1Error as exc:  # names the file and what is wrong (not JSON, not UTF-8, not an object, ...)
        raise VisionR1Error(f"{exc}: the run record is damaged; give a new --out") from None


def differences(before: dict, now: dict) -> list[str]:
    """What makes the run recorded as ``before`` another run than ``now``, as phrases (empty: the same run)."""
    out = []
    same_weights = before.get("model_fingerprint") is not None and \
        before.get("model_fingerprint") == now.get("model_fingerprint")
    for key in IDENTITY:
        was, is_ = before.get(key), now.get(key)
        if was == is_ or (key == "model_fingerprint" and (before.get("model") != now.get("model") or was is None)):
            continue  # (no fingerprint before: a hub id that run downloaded)
        if key == "model" and same_weights:
            continue  # the same checkpoint, moved or reached by another path
        if key == "config_hash":
            out.append(_changed_options(before, now) or f"options (config hash {was}, this run: {is_})")
            continue
        out.append({"model_fingerprint": f"the weights of {was and before.get('model')} changed",
                    "data_fingerprint": f"data {before.get('data')} (fingerprint {was}, this run: {now.get('data')} "
                                        f"{is_})"}.get(key, f"{key} {was} (this run: {is_})"))
    return out


def _changed_options(before: dict, now: dict, most: int = 4) -> str:
    """``options: name value (this run: value), ...`` for the options that differ between the two records (empty
    where a record has no options: written before they were recorded)."""
    a, b = before.get("options"), now.get("options")
    if not isinstance(a, dict) or not isinstance(b, dict):
        return ""
    unset = object()

    def shown(v) -> str:
        return "TRL's default" if v is unset else v if isinstance(v, str) else json.dumps(v, default=str)

    keys = sorted(differing_keys(a, b))
    if not keys:
        return ""
    text = ", ".join(f"{k} {shown(a.get(k, unset)):.40} (this run: {shown(b.get(k, unset)):.40})"
                     for k in keys[:most])
    return "options: " + text + (f" and {len(keys) - most} more" if len(keys) > most else "")


def check_fresh(out: Path, record: dict, force: bool) -> bool:
    """A run that starts from step 0 in ``out``: the folder must be empty, or hold a training run and ``force``
    (then it is cleared; returns True). Nothing is touched when the run is refused."""
    entries = [p for p in out.iterdir() if p.name != ".probe"] if out.is_dir() else []
    if not entries:
        return False
    before = read_record(out)
    if before is None:
        legacy = (out / "run_config.json").is_file()
        if force and legacy:
            return True
        raise VisionR1Error(f"--out {out} is not empty and holds no training run record ({RUN_RECORD}); "
                            + ("give a new --out" if not legacy else "clear it with --force or give a new --out")
                            + " (nothing was changed)")
    if force:
        return True
    diff = differences(before, record)
    if diff:
        raise VisionR1Error(f"--out {out} holds another run ({'; '.join(diff)}): give a new --out, or --force to "
                            "clear it (nothing was changed)")
    raise VisionR1Error(f"--out {out} holds this run already: continue it with --resume latest, start it over "
                        "with --force, or give a new --out (nothing was changed)")


def check_resume(out: Path, checkpoint: Path, record: dict, max_steps: int) -> None:
    """``--resume``: ``out`` and ``checkpoint`` belong to this run, and the checkpoint is not past ``max_steps``."""
    before = read_record(out)
    if before is None and out.is_dir() and any(p.name != ".probe" for p in out.iterdir()):
        raise VisionR1Error(f"--out {out} holds no training run record ({RUN_RECORD}): it is not this run's "
                            "folder; give a new --out")
    if before is not None and (diff := differences(before, record)):
        raise VisionR1Error(f"--resume: --out {out} holds another run ({'; '.join(diff)}); resume with that run's "
                            "model, data and options, or give a new --out")
    own = read_record(checkpoint)
    if own is None:
        raise VisionR1Error(f"--resume {checkpoint}: the checkpoint has no run record ({RUN_RECORD}), so it is not "
                            "known to be this run's")
    if diff := differences(own, record):
        raise VisionR1Error(f"--resume {checkpoint}: the checkpoint is of another run ({'; '.join(diff)})")
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    step = state.get("global_step")
    if isinstance(max_steps, int) and max_steps > 0 and isinstance(step, int) and step > max_steps:
        raise VisionR1Error(f"--resume {checkpoint}: the checkpoint is at step {step}, past this run's max_steps "
                            f"{max_steps}")
