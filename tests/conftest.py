"""Shared fixtures: one synthetic world and one tiny model per test session, built through the real CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

from visionr1.cli import main

WORLD_SEED = 0
WORLD_IMAGES = 24


def load_hub_checkpoint(path: Path) -> tuple:
    """``AutoProcessor`` and ``AutoModelForImageTextToText`` from ``path`` as a downloaded checkpoint loads, with
    every transformers warning emitted while loading."""
    import logging

    from transformers import AutoModelForImageTextToText, AutoProcessor
    from transformers.utils import logging as hf_logging

    class Collect(logging.Handler):
        def emit(self, record):
            warnings.append(record.getMessage())

    warnings: list[str] = []
    handler = Collect(level=logging.WARNING)
    hf_logging.add_handler(handler)
    try:
        return AutoProcessor.from_pretrained(path), AutoModelForImageTextToText.from_pretrained(path), warnings
    finally:
        hf_logging.remove_handler(handler)


def small_mix(world_dir: Path, out: Path, family: str = "qwen2.5-vl") -> Path:
    """A mix of 8 COCO detection and 8 RefCOCO samples of the session's world (images of several sizes)."""
    import yaml

    from visionr1.data.build import build
    from visionr1.data.recipe import load_recipe

    out.mkdir(parents=True, exist_ok=True)
    recipe = out / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"name": "small-test", "sources": {
        "coco": {"task": "detection", "count": 8, "split": "train2017"},
        "refcoco": {"task": "rec", "count": 8, "datasets": ["refcoco"]}}}))
    return build(load_recipe(str(recipe)), out / "mix", family=family,
                 roots={"coco": world_dir / "coco", "refcoco": world_dir / "refer"}).out


def run_cli(*args: str) -> int:
    """Invoke ``visionr1`` in-process and return its exit code."""
    return main([str(a) for a in args])


def one_error(capsys, *names: object) -> str:
    """The single stderr line of a refused command: an ``error:`` (no traceback) naming every one of ``names``."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in lines[0], lines
    assert all(str(n) in lines[0] for n in names), (names, lines[0])
    return lines[0]


def coco_recipe(tmp_path: Path, **over) -> str:
    """A recipe of ``count`` (4) COCO train2017 detection samples, written to ``tmp_path/r.yaml``."""
    import yaml

    spec = {"task": "detection", "count": 4, "split": "train2017", **over}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"name": "c", "sources": {"coco": spec}}))
    return str(path)


def small_dense_recipe(tmp_path: Path) -> Path:
    """configs/recipes/shapes-dense.yaml with every source's count cut to what a 40-image world holds."""
    root = Path(__file__).resolve().parents[1]
    path = tmp_path / "dense-small.yaml"
    path.write_text((root / "configs" / "recipes" / "shapes-dense.yaml").read_text()
                    .replace("count: 1000", "count: 12").replace("count: 167", "count: 4")
                    .replace("count: 133", "count: 3"))
    return path


def edit_coco(root: Path, change: Callable[[dict], object]) -> Path:
    """Apply ``change`` to the COCO train2017 annotations under ``root`` (a test damaging its copy); their path."""
    ann = root / "annotations" / "instances_train2017.json"
    doc = json.loads(ann.read_text())
    change(doc)
    ann.write_text(json.dumps(doc))
    return ann


def build_coco(root: Path, tmp_path: Path) -> tuple[int, Path]:
    """``visionr1 data build`` of ``coco_recipe``'s samples from the COCO under ``root``: exit code, output."""
    out = tmp_path / "o"
    return run_cli("data", "build", "--out", out, "--recipe", coco_recipe(tmp_path), "--coco-root", root), out


def coco_issues(out: Path) -> dict[str, int]:
    """The COCO reader's counted issues in the manifest of the mix built in ``out``."""
    from visionr1.data.build import load_manifest

    return load_manifest(out)["sources"]["coco"]["issues"]


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    assert run_cli("synth", "world", "--out", out, "--seed", WORLD_SEED, "--images", WORLD_IMAGES) == 0
    return out


@pytest.fixture(scope="session")
def world():
    """What the generator intended, in memory."""
    from visionr1.synth.world import build_world

    return build_world(WORLD_SEED, WORLD_IMAGES)


@pytest.fixture
def coco_copy(world_dir, tmp_path) -> Path:
    """A writable copy of the world's COCO train2017 (annotations and images), for tests that damage it."""
    import shutil

    root = tmp_path / "coco"
    shutil.copytree(world_dir / "coco" / "annotations", root / "annotations")
    shutil.copytree(world_dir / "coco" / "train2017", root / "train2017")
    return root


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny-model")
    assert run_cli("synth", "tiny-model", "--out", out, "--seed", 0) == 0
    return out


@pytest.fixture(scope="session")
def fo(tmp_path_factory):
    """FiftyOne on one database for the whole session (unique name, data in a temporary folder; the App's
    subprocesses inherit it); its datasets are deleted afterwards. FiftyOne binds its database when first
    imported, so every test module must share this one."""
    import uuid

    os.environ["FIFTYONE_DATABASE_NAME"] = f"visionr1-test-{uuid.uuid4().hex[:12]}"
    os.environ["FIFTYONE_DATABASE_DIR"] = str(tmp_path_factory.mktemp("fiftyone-db"))
    from visionr1.review.db import import_fiftyone

    fo = import_fiftyone()
    yield fo
    for name in fo.list_datasets():
        fo.delete_dataset(name)


# Property tests explore new examples on every local run; CI replays a fixed, derandomised set so that a
# submission's result does not depend on luck (a failure found locally is kept as an explicit case).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
