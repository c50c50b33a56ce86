"""The training mix as TRL wants it: conversational prompts, an image column, the reward's columns."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from visionr1.errors import VisionR1Error
from visionr1.inputs import arrow_folder, read_json

GRPO_COLUMNS = ("image", "problem", "gt", "width", "height")


def load_dataset_dir(path: Path, family: str):
    """A mix written by ``visionr1 data build`` (its folder) or any ``save_to_disk`` folder; checks that it was
    rendered for ``family`` and has the columns the trainers need."""
    import datasets

    path = Path(path)
    if not path.is_dir():
        raise VisionR1Error(f"dataset folder not found: {path}")
    manifest = path / "manifest.json"
    folder = path / "dataset" if manifest.is_file() else path
    if manifest.is_file():
        built_for = read_json(manifest, dict).get("family")
        if built_for and built_for != family:
            raise VisionR1Error(f"{path} was built for family '{built_for}' (its prompts and targets); training "
                                f"family is '{family}': rebuild the mix with --family {family}")
    if not (folder / "dataset_info.json").is_file() and not (folder / "state.json").is_file():
        raise VisionR1Error(f"{path} is not a dataset folder (expected a `visionr1 data build` output or a "
                            "datasets.save_to_disk folder)")
    state = folder / "state.json"
    if state.is_file() and read_json(state, dict).get("_data_files") == []:
        raise VisionR1Error(f"{path} holds no samples")  # datasets cannot load a folder without data files
    arrow_folder(folder)
    datasets.disable_progress_bars()
    try:
        ds = datasets.load_from_disk(str(folder))
    except Exception as exc:  # datasets / pyarrow raise many kinds for damaged files; all mean the same here
        raise VisionR1Error(f"cannot load the dataset in {folder}: {type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:160]}") from None
    if isinstance(ds, datasets.DatasetDict):
        if "train" not in ds:
            raise VisionR1Error(f"{folder} holds splits {list(ds)}, none called 'train'")
        ds = ds["train"]
    missing = [c for c in GRPO_COLUMNS if c not in ds.column_names]
    if missing:
        raise VisionR1Error(f"{path} lacks the columns {', '.join(missing)} (has: {', '.join(ds.column_names)}); "
                            "build it with `visionr1 data build`")
    if len(ds) == 0:
        raise VisionR1Error(f"{path} holds no samples")
    return ds


def readable_samples(ds) -> tuple[Any, dict[str, int]]:
    """The rows of ``ds`` whose image decodes in full, and the others counted by reason: a sample whose file went
    missing or was truncated after the mix was built is left out, not a crash hours into a run. Costs about
    2 ms per 640 x 480 JPEG (2 minutes for the paper's 49K samples) once at the start."""
    from datasets import Image

    from visionr1.images import inspect_image

    raw = ds.cast_column("image", Image(decode=False)) if isinstance(ds.features["image"], Image) else ds
    keep, skipped, i = [], Counter(), 0
    for batch in raw.select_columns(["image"]).iter(batch_size=256):
        for image in batch["image"]:
            source = image if isinstance(image, str) else (image.get("bytes") or image.get("path") or b"")
            reason = inspect_image(source, full=True).reason
            if reason is None:
                keep.append(i)
            else:
                skipped[f"{reason} (sample skipped)"] += 1
            i += 1
    if not keep:
        raise VisionR1Error(f"no sample of the mix has a readable image ({dict(skipped)})")
    return (ds if len(keep) == len(ds) else ds.select(keep)), dict(skipped)


def _with_images(ds):
    from datasets import Image

    return ds if isinstance(ds.features["image"], Image) else ds.cast_column("image", Image())


def grpo_dataset(ds):
    """``prompt`` = one user message with the instruction (TRL inserts the image before it); images decoded by
    the datasets Image feature; ``gt``, ``width``, ``height`` stay for the reward."""
    ds = ds.map(lambda r: {"prompt": [{"role": "user", "content": r["problem"]}]})
    return _with_images(ds)


def sft_dataset(ds, family: str, min_pixels: int, max_pixels: int):
    """Prompt-completion pairs: the completion is the family's serialized ground truth (coordinates in the
    model's space for the same min/max_pixels), so the loss covers the answer only."""
    from visionr1.formats import get_adapter

    adapter = get_adapter(family)

    def convert(r):
        geo = adapter.geometry(r["width"], r["height"], min_pixels=min_pixels, max_pixels=max_pixels)
        return {"prompt": [{"role": "user", "content": r["problem"]}],
                "completion": [{"role": "assistant", "content": adapter.serialize(r["gt"], geo)}]}

    return _with_images(ds.map(convert))
