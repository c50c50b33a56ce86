"""Recipes: what goes into a training mix (``configs/recipes/*.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from visionr1.errors import VisionR1Error
from visionr1.inputs import MAX_SEED, check_document, check_value, read_yaml
from visionr1.resources import resource_dir

SOURCES = ("coco", "odinw", "v3det", "refcoco", "vg")
TASKS = ("detection", "grounding", "rec")
MAX_COUNT = 1_000_000  # samples per source: 20 times the paper's whole mix; more is a typo, refused at once
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


def _pair(where: str, v: Any, lo: int) -> tuple[int, int]:
    """``[min, max]``: two integers with ``lo <= min <= max``."""
    if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                                 for x in v)) or not lo <= v[0] <= v[1]:
        raise VisionR1Error(f"{where} must be [min, max] with {lo} <= min <= max, got {v!r:.60}")
    return v[0], v[1]


def _world(path: Path, w: Any) -> dict[str, int | str]:
    """The recipe's synthetic world: seed, images and profile as ``synth world`` takes them."""
    from visionr1.synth import MAX_IMAGES
    from visionr1.synth.world import PROFILES

    w = check_document({} if w is None else w, f"{path}: world", dict)
    _check_keys(f"{path}: world", w, {"seed", "images", "profile"})
    for key, hi in (("seed", MAX_SEED), ("images", MAX_IMAGES)):
        if key in w:
            check_value(w[key], int, f"{path}: world.{key}")
            lo = 0 if key == "seed" else 1
            if not lo <= w[key] <= hi:
                raise VisionR1Error(f"{path}: world.{key} must be in [{lo}, {hi}], got {w[key]}")
    if "profile" in w and not (isinstance(w["profile"], str) and w["profile"] in PROFILES):
        raise VisionR1Error(f"{path}: world.profile: unknown profile {w['profile']!r:.40} (choose from "
                            f"{', '.join(PROFILES)})")
    return dict(w)


def load_recipe(name_or_path: str) -> Recipe:
    """A built-in recipe by name or a YAML file, validated (unknown keys, counts, shares, tasks, pairs, the
    synthetic world) before any work."""
    path = resolve_recipe_path(name_or_path)
    doc = read_yaml(path, dict)
    if not doc:
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
        check_document(raw, where, dict, {"task": str, "count": int})
        spec = SourceSpec(**raw)
        if spec.task not in SOURCE_TASKS[name]:
            raise VisionR1Error(f"{where}: task '{spec.task}' is not available for {name} "
                                f"(choose from {', '.join(SOURCE_TASKS[name])})")
        if not 0 <= spec.count <= MAX_COUNT:
            raise VisionR1Error(f"{where}.count must be in [0, {MAX_COUNT:,}], got {spec.count!r}")
        for share in ("hard_share", "negative_share", "multi_category_share"):
            _share(f"{where}.{share}", getattr(spec, share))
        spec.absent_categories = _pair(f"{where}.absent_categories", spec.absent_categories, 0)
        for key in ("sets", "exclude_sets", "datasets", "splits"):
            value = getattr(spec, key)
            if value is not None and not (isinstance(value, list) and all(isinstance(x, str) for x in value)):
                raise VisionR1Error(f"{where}.{key} must be a list of names, got {value!r:.60}")
        check_value(spec.min_targets, int, f"{where}.min_targets")
        specs[name] = spec
    for key in ("seed", "hard_min_instances"):
        check_value(doc.get(key, 0), int, f"{path}: {key}")
    seed = doc.get("seed", 0)
    if not 0 <= seed <= MAX_SEED:
        raise VisionR1Error(f"{path}: seed must be in [0, {MAX_SEED}], got {seed}")
    return Recipe(name=str(doc.get("name", path.stem)), sources=specs, seed=seed,
                  hard_min_instances=doc.get("hard_min_instances", 11),
                  instance_range=_pair(f"{path}: instance_range", doc.get("instance_range", [1, 30]), 1),
                  description=str(doc.get("description", "")), world=_world(path, doc.get("world")), path=str(path))
