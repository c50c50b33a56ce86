"""Recipes: what goes into a training mix (``configs/recipes/*.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from visionr1.errors import VisionR1Error
from visionr1.resources import resource_dir

SOURCES = ("coco", "odinw", "v3det", "refcoco", "vg")
TASKS = ("detection", "grounding", "rec")
SOURCE_TASKS = {"coco": ("detection", "grounding"), "odinw": ("grounding",), "v3det": ("grounding", "detection"),
                "refcoco": ("rec",), "vg": ("rec",)}


@dataclass
class SourceSpec:
    """One source of the mix."""

    task: str
    count: int
    split: str | None = None  # coco: train2017; odinw / v3det: train
    hard_share: float | None = None  # share of hard samples among samples with objects; None = as available
    negative_share: float = 0.0  # samples whose asked categories / expression have no object
    absent_categories: tuple[int, int] = (0, 0)  # detection: absent categories added to each prompt (min, max)
    multi_category_share: float = 0.0  # grounding: samples that ask for 2-3 categories at once
    sets: list[str] | None = None  # odinw: sets to use (default: all found)
    exclude_sets: list[str] = field(default_factory=list)  # odinw: sets never used (evaluation sets)
    datasets: list[str] = field(default_factory=lambda: ["refcoco"])  # refcoco: refcoco(+/g) and/or grefcoco
    splits: list[str] = field(default_factory=lambda: ["train"])  # refcoco: ref splits
    min_targets: int = 1  # vg: boxes a phrase must cover (2 = multi-object expressions)


@dataclass
class Recipe:
    name: str
    sources: dict[str, SourceSpec]
    seed: int = 0
    hard_min_instances: int = 11  # hard = more than 10 instances (paper)
    instance_range: tuple[int, int] = (1, 30)  # samples with objects keep 1 <= num_instances <= 30 (released code)
    description: str = ""
    world: dict[str, int | str] = field(default_factory=dict)  # synthetic world used when no dataset root is given
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("sources", "path")}
        out["sources"] = {k: {f.name: getattr(v, f.name) for f in fields(v)} for k, v in self.sources.items()}
        return _plain(out)


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def _check_keys(where: str, given: dict, allowed: set[str]) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise VisionR1Error(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(allowed))})")


def _share(where: str, v) -> None:
    if v is not None and not (isinstance(v, (int, float)) and 0 <= v <= 1):
        raise VisionR1Error(f"{where} must be a number in [0, 1], got {v!r}")


def resolve_recipe_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise VisionR1Error(f"recipe file not found: {p}")
        return p
    builtin = resource_dir("configs") / "recipes" / f"{name_or_path}.yaml"
    if not builtin.is_file():
        known = sorted(q.stem for q in builtin.parent.glob("*.yaml"))
        raise VisionR1Error(f"unknown recipe '{name_or_path}' (built-in: {', '.join(known)}; or give a .yaml path)")
    return builtin


def load_recipe(name_or_path: str) -> Recipe:
    """A built-in recipe by name or a YAML file, validated (unknown keys, counts, shares, tasks)."""
    path = resolve_recipe_path(name_or_path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise VisionR1Error(f"{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(doc, dict):
        raise VisionR1Error(f"{path}: a recipe is a mapping with 'name' and 'sources'")
    top = {f.name for f in fields(Recipe)} - {"path"}
    _check_keys(str(path), doc, top)
    sources = doc.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise VisionR1Error(f"{path}: 'sources' must map source names ({', '.join(SOURCES)}) to their settings")
    specs = {}
    allowed = {f.name for f in fields(SourceSpec)}
    for name, raw in sources.items():
        where = f"{path}: sources.{name}"
        if name not in SOURCES:
            raise VisionR1Error(f"{where}: unknown source (known: {', '.join(SOURCES)})")
        if not isinstance(raw, dict):
            raise VisionR1Error(f"{where}: settings must be a mapping")
        _check_keys(where, raw, allowed)
        spec = SourceSpec(**raw)
        if spec.task not in SOURCE_TASKS[name]:
            raise VisionR1Error(f"{where}: task '{spec.task}' is not available for {name} "
                                f"(choose from {', '.join(SOURCE_TASKS[name])})")
        if not isinstance(spec.count, int) or spec.count < 0:
            raise VisionR1Error(f"{where}.count must be an integer >= 0, got {spec.count!r}")
        for share in ("hard_share", "negative_share", "multi_category_share"):
            _share(f"{where}.{share}", getattr(spec, share))
        lo, hi = spec.absent_categories = tuple(spec.absent_categories)
        if not 0 <= lo <= hi:
            raise VisionR1Error(f"{where}.absent_categories must be [min, max] with 0 <= min <= max")
        specs[name] = spec
    recipe = Recipe(name=str(doc.get("name", path.stem)), sources=specs, seed=int(doc.get("seed", 0)),
                    hard_min_instances=int(doc.get("hard_min_instances", 11)),
                    instance_range=tuple(doc.get("instance_range", (1, 30))),
                    description=str(doc.get("description", "")), world=dict(doc.get("world") or {}),
                    path=str(path))
    lo, hi = recipe.instance_range
    if not 1 <= lo <= hi:
        raise VisionR1Error(f"{path}: instance_range must be [min, max] with 1 <= min <= max")
    return recipe
