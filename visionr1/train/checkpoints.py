"""Resuming a run: the newest complete checkpoint, every weight restored under the model's own names, a
metrics file cut back to the checkpoint."""

from __future__ import annotations

import json
import re
from pathlib import Path

from visionr1.errors import VisionR1Error

_STEP = re.compile(r"^checkpoint-(\d+)$")


def _readable_safetensors(path: Path) -> bool:
    """The file is complete as far as its header tells: header parses and the data is as long as it says."""
    import struct

    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
    except (OSError, ValueError, struct.error):
        return False
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
    return size == 8 + n + max(ends, default=0)


def incomplete(folder: Path) -> str | None:
    """Why the checkpoint ``folder`` cannot be resumed from (a run killed while writing it), or None."""
    from visionr1.inputs import check_torch_file, read_json

    step = int(_STEP.match(folder.name).group(1))
    try:
        state = read_json(folder / "trainer_state.json", dict)
    except VisionR1Error:
        return "no readable trainer_state.json (a JSON object)"
    if state.get("global_step") != step:
        return f"trainer_state.json is at step {state.get('global_step')}"
    # the optimizer, scheduler and random states torch reads on resume: complete as far as their end tells
    for f in sorted(folder.glob("*.pt")) + sorted(folder.glob("rng_state*.pth")):
        try:
            check_torch_file(f)
        except VisionR1Error:
            return f"truncated or damaged {f.name}"
    from visionr1.models import index_shards

    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = index_shards(index)
        except VisionR1Error:
            return "unreadable model.safetensors.index.json"
        bad = [s for s in shards if not _readable_safetensors(folder / s)]
        return f"truncated or missing weight shard {bad[0]}" if bad else None
    for name in ("model.safetensors", "adapter_model.safetensors"):
        if (folder / name).is_file():
            return None if _readable_safetensors(folder / name) else f"truncated {name}"
    if any(folder.glob("global_step*")):  # DeepSpeed's own layout
        return None
    return "no model weights"


def latest_checkpoint(out: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest complete ``checkpoint-N`` in ``out`` and the newer ones skipped with the reason."""
    found = sorted((p for p in out.iterdir() if p.is_dir() and _STEP.match(p.name)),
                   key=lambda p: int(_STEP.match(p.name).group(1)), reverse=True) if out.is_dir() else []
    skipped = []
    for folder in found:
        reason = incomplete(folder)
        if reason is None:
            return folder, skipped
        skipped.append((folder, reason))
    return None, skipped


def restore_weights(model, folder: Path) -> None:
    """Load the weights saved in ``folder`` into ``model``. ``save_pretrained`` writes the checkpoint names of
    the hub layout (``visual.*``, ``model.layers.*``), the model holds transformers' own (``model.visual.*``,
    ``model.language_model.*``): names are mapped with transformers' conversion rules, and every parameter and
    buffer that is saved must be there."""
    import torch
    from safetensors import safe_open
    from transformers.core_model_loading import revert_weight_conversion

    from visionr1.models import index_shards

    own = model.state_dict()
    by_id = {id(t): k for k, t in own.items()}
    saved_as = {ck: by_id[id(t)] for ck, t in revert_weight_conversion(model, dict(own)).items() if id(t) in by_id}
    index = folder / "model.safetensors.index.json"
    files = index_shards(index) if index.is_file() else ["model.safetensors"]
    loaded, unexpected = set(), []
    with torch.no_grad():
        for name in files:
            with safe_open(str(folder / name), framework="pt", device="cpu") as f:
                for key in f.keys():  # noqa: SIM118 - safe_open has no __iter__
                    target = saved_as.get(key)
                    if target is None:
                        unexpected.append(key)
                        continue
                    tensor = own[target]
                    value = f.get_tensor(key)
                    if value.shape != tensor.shape:
                        raise VisionR1Error(f"{folder / name}: {key} has shape {tuple(value.shape)}, the model's "
                                            f"{target} has {tuple(tensor.shape)}")
                    tensor.copy_(value.to(tensor.dtype))
                    loaded.add(target)
    missing = sorted(set(saved_as.values()) - loaded)
    if missing or unexpected:
        what = (f"{len(missing)} weights missing (e.g. {missing[0]})" if missing else "") + \
               ("; " if missing and unexpected else "") + \
               (f"{len(unexpected)} unknown weights (e.g. {unexpected[0]})" if unexpected else "")
        raise VisionR1Error(f"cannot resume from {folder}: {what}; is it a checkpoint of this model?")


def cut_metrics(path: Path, step: int) -> None:
    """Keep the complete records of ``metrics.jsonl`` up to ``step`` (a resumed run logs the later steps again;
    a run killed while writing leaves a partial last line)."""
    from visionr1.io import write_bytes
    from visionr1.train.callbacks import read_metrics

    if path.is_file():  # written as MetricsFile writes records
        write_bytes(path, "".join(json.dumps(r) + "\n" for r in read_metrics(path) if r["step"] <= step).encode())
