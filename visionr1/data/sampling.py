"""Turn what the readers found into training samples of one task (docs/spec.md §2), following a recipe.

Units are sampled without replacement: detection samples per image, grounding samples per (image, category),
REC samples per expression. Samples with objects keep ``instance_range`` (released code: 1-30 instances);
"hard" means at least ``hard_min_instances`` instances. Negative samples ask for something absent (gt empty).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from visionr1.data.recipe import Recipe, SourceSpec
from visionr1.data.sources.base import AnnotatedImages, Expressions, Issues
from visionr1.data.templates import Template
from visionr1.errors import VisionR1Error
from visionr1.formats import normalize_label

Render = Callable[[str, list[str]], tuple[str, str]]  # (task, names) -> (problem, template_id)


@dataclass
class SourceReport:
    """What one source was asked for and what it gave."""

    source: str
    task: str
    requested: int
    available: dict[str, int]
    produced: dict[str, int] = field(default_factory=dict)
    short: str | None = None
    issues: dict[str, int] = field(default_factory=dict)

    @property
    def hard_ratio(self) -> float | None:
        """Share of hard samples among the samples with objects."""
        pos = self.produced.get("hard", 0) + self.produced.get("easy", 0)
        return self.produced.get("hard", 0) / pos if pos else None

    def to_dict(self) -> dict:
        return {"source": self.source, "task": self.task, "requested": self.requested, "available": self.available,
                "produced": self.produced, "hard_ratio": self.hard_ratio, "short": self.short, "issues": self.issues}


def renderer(templates: dict[str, tuple[Template, ...]], rng: np.random.Generator) -> Render:
    """Render an instruction from the family's templates (one picked at random when a task has several)."""

    def render(task: str, names: list[str]) -> tuple[str, str]:
        options = templates[task]
        t = options[int(rng.integers(len(options)))] if len(options) > 1 else options[0]
        return t.render(names), t.id

    return render


def plan(where: str, positives: int, negatives: int, hard_share: float | None, n_hard: int, n_easy: int,
         n_neg: int, allow_short: bool) -> tuple[int, int, int, str | None]:
    """How many hard / easy / negative units to draw, given the pools. Without a hard share the positives are
    split in proportion to the pools. A shortfall is an error unless ``allow_short``: then every part of the
    request (hard, easy, negative, or with objects and negative) is scaled down by the same factor, the largest
    the pools allow, so that the source keeps the recipe's shares with fewer samples (nothing is filled with
    another kind), and the report says what was asked, what there was and what was drawn."""
    if hard_share is None:
        want = (positives, negatives)
        pools = (n_hard + n_easy, n_neg)
        asked = f"{positives} with objects, {negatives} negative"
    else:
        hard_req = round(positives * hard_share)
        want = (hard_req, positives - hard_req, negatives)
        pools = (n_hard, n_easy, n_neg)
        asked = f"{want[0]} hard, {want[1]} easy, {negatives} negative"
    factor = min([1.0, *(p / w for w, p in zip(want, pools, strict=True) if w)])
    got = tuple(min(p, int(w * factor + 1e-9)) for w, p in zip(want, pools, strict=True))
    if hard_share is None:
        take = got[0]
        hard = round(take * n_hard / (n_hard + n_easy)) if take else 0
        counts = (hard, take - hard, got[1])
    else:
        counts = got
    if factor >= 1:
        return *counts, None
    short = (f"{where}: the recipe asks for {positives + negatives} samples ({asked}) but there are {n_hard} hard, "
             f"{n_easy} easy and {n_neg} negative candidates")
    if not allow_short:
        raise VisionR1Error(short + "; give the missing data or use --allow-short to build a smaller mix")
    drawn = (f"{counts[0]} hard, {counts[1]} easy, {counts[2]} negative" if hard_share is not None
             else f"{got[0]} with objects, {got[1]} negative")
    short += (f"; --allow-short kept the recipe's shares: drew {sum(got)} ({drawn}), {100 * factor:.2g}% of each part, "
              "nothing substituted")
    return *counts, short


def _pick(rng: np.random.Generator, pool: np.ndarray, k: int) -> list[int]:
    return np.sort(rng.choice(pool, size=k, replace=False)).tolist() if k else []


def _pools(n: np.ndarray, usable: np.ndarray, recipe: Recipe) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = recipe.instance_range
    ok = usable & (n >= lo) & (n <= hi)
    hard = ok & (n >= recipe.hard_min_instances)
    return np.flatnonzero(hard), np.flatnonzero(ok & ~hard)


def name_groups(categories: list[str]) -> np.ndarray:
    """For each category, the index of the first category whose name is the same up to case and spacing. A prompt
    cannot tell such names apart (V3Det: guitar / Guitar), so they are asked for, and are absent, together."""
    first: dict[str, int] = {}
    return np.array([first.setdefault(normalize_label(c), i) for i, c in enumerate(categories)], dtype=np.int64)


def _lacking(data: AnnotatedImages, groups: np.ndarray) -> np.ndarray:
    """Images without crowd regions that lack at least one name group of the vocabulary (negative candidates)."""
    c = max(len(data.categories), 1)
    pairs = np.unique(np.repeat(np.arange(len(data)), data.counts) * c + groups[data.labels])
    distinct = np.bincount(pairs // c, minlength=len(data))
    return np.flatnonzero(~data.crowd & (distinct < len(np.unique(groups))))


def _absent(rng: np.random.Generator, groups: np.ndarray, present: set[int], k: int) -> list[int]:
    """``k`` name groups (their first category's index) that are not in ``present`` (fewer if the vocabulary is
    small)."""
    if not k:
        return []
    free = [c for c in np.unique(groups).tolist() if c not in present]
    return [free[j] for j in rng.choice(len(free), size=min(k, len(free)), replace=False)] if free else []


@dataclass
class _Rows:
    """Samples of one source under construction."""

    source: str
    task: str
    hard_min: int
    render: Render
    rows: list[dict] = field(default_factory=list)

    def add(self, source: str, key: str, path: str, width: float, height: float, prompt: list[str],
            categories: list[str], labels: Sequence[str], boxes: np.ndarray) -> None:
        problem, template_id = self.render(self.task, prompt)
        n = len(boxes)
        self.rows.append({
            "id": f"{self.source}/{self.task}/{len(self.rows):06d}/{key}", "source": source, "task": self.task,
            "image": path, "width": int(width), "height": int(height), "categories": categories,
            "gt": [{"label": lab, "bbox": b}  # rounded: x + w sums carry float noise
                   for lab, b in zip(labels, np.round(boxes, 3).tolist(), strict=True)],
            "num_instances": n, "difficulty": "hard" if n >= self.hard_min else "easy", "negative": n == 0,
            "problem": problem, "template_id": template_id,
        })

    def report(self, spec: SourceSpec, available: dict[str, int], short: str | None, *containers) -> SourceReport:
        neg = sum(r["negative"] for r in self.rows)
        hard = sum(r["difficulty"] == "hard" and not r["negative"] for r in self.rows)
        issues = Issues()
        for c in containers:
            issues.update(c.issues)
        produced = {"total": len(self.rows), "hard": hard, "easy": len(self.rows) - neg - hard, "negative": neg}
        return SourceReport(self.source, self.task, spec.count, available, produced, short,
                            dict(sorted(issues.items())))


def _quota(spec: SourceSpec) -> tuple[int, int]:
    negatives = round(spec.count * spec.negative_share)
    return spec.count - negatives, negatives


def detection_samples(data: AnnotatedImages, spec: SourceSpec, recipe: Recipe, rng: np.random.Generator,
                      render: Render, allow_short: bool) -> tuple[list[dict], SourceReport]:
    """One sample per image; the prompt lists the image's categories plus 0-k absent ones (dataset order).
    Negatives list only categories the image lacks. Images with crowd regions are not used."""
    usable = ~data.crowd
    hard_pool, easy_pool = _pools(data.counts, usable, recipe)
    groups = name_groups(data.categories)
    neg_pool = _lacking(data, groups)
    positives, negatives = _quota(spec)
    n_hard, n_easy, n_neg, short = plan(data.source, positives, negatives, spec.hard_share, len(hard_pool),
                                        len(easy_pool), len(neg_pool), allow_short)
    out = _Rows(data.source, "detection", recipe.hard_min_instances, render)
    lo, hi = spec.absent_categories
    for i in _pick(rng, hard_pool, n_hard) + _pick(rng, easy_pool, n_easy) + _pick(rng, neg_pool, n_neg):
        a, b = data.offsets[i], data.offsets[i + 1]
        labels = data.labels[a:b].tolist()
        present = set(labels)
        negative = len(out.rows) >= n_hard + n_easy  # positives are drawn first
        absent = _absent(rng, groups, set(groups[labels].tolist()),
                         int(rng.integers(max(lo, negative), max(hi, negative) + 1)))
        cats = sorted(absent) if negative else sorted([*present, *absent])  # negatives: >= 1 absent
        names = [data.categories[c] for c in cats]
        if negative:
            out.add(data.source, f"{data.image_ids[i]}-negative", data.paths[i], data.widths[i], data.heights[i],
                    names, names, [], np.zeros((0, 4)))
        else:
            out.add(data.source, str(data.image_ids[i]), data.paths[i], data.widths[i], data.heights[i], names,
                    names, [data.categories[c] for c in labels], data.boxes[a:b])
    available = {"hard": len(hard_pool), "easy": len(easy_pool), "negative": len(neg_pool)}
    return out.rows, out.report(spec, available, short, data)


def grounding_samples(datas: list[AnnotatedImages], spec: SourceSpec, recipe: Recipe, rng: np.random.Generator,
                      render: Render, allow_short: bool, source: str) -> tuple[list[dict], SourceReport]:
    """One sample per (image, category): the prompt names the category, gt = all its instances. A share of
    the samples asks for 2-3 categories of an image at once (named together, joined by "and"); negatives ask
    for a category of the dataset that the image lacks. Categories whose names differ only in case or spacing
    count as one (asking for "guitar" finds the "Guitar" objects too). Images with crowd regions are not used."""
    units, images = [], []  # (dataset, image, name group, instances) / (dataset, image)
    groups = [name_groups(data.categories) for data in datas]
    for d, data in enumerate(datas):
        c = max(len(data.categories), 1)
        owner = np.repeat(np.arange(len(data)), data.counts)
        key, n = np.unique(owner * c + groups[d][data.labels], return_counts=True)
        img, cat = np.divmod(key, c)
        keep = ~data.crowd[img]
        units.append(np.stack([np.full(keep.sum(), d), img[keep], cat[keep], n[keep]], axis=1))
        ok = _lacking(data, groups[d])
        images.append(np.stack([np.full(len(ok), d), ok], axis=1))
    u = np.concatenate(units) if units else np.zeros((0, 4), dtype=np.int64)
    imgs = np.concatenate(images) if images else np.zeros((0, 2), dtype=np.int64)  # negative candidates
    hard_pool, easy_pool = _pools(u[:, 3], np.ones(len(u), bool), recipe)
    positives, negatives = _quota(spec)
    multi = round(positives * spec.multi_category_share)
    n_hard, n_easy, n_neg, short = plan(source, positives - multi, negatives, spec.hard_share, len(hard_pool),
                                        len(easy_pool), len(imgs), allow_short)
    out = _Rows(source, "grounding", recipe.hard_min_instances, render)

    def add(d: int, i: int, cats: list[int], key: str) -> None:
        """A sample asking for the name groups ``cats`` in image ``i``, each named as in the image."""
        data = datas[d]
        a, b = data.offsets[i], data.offsets[i + 1]
        labels = data.labels[a:b]
        sel = np.isin(groups[d][labels], cats)
        names = [data.categories[next((int(x) for x in labels if groups[d][x] == c), c)] for c in cats]
        out.add(data.source, f"{data.image_ids[i]}-{key}", data.paths[i], data.widths[i], data.heights[i],
                [" and ".join(names)], names, [data.categories[c] for c in data.labels[a:b][sel]],
                data.boxes[a:b][sel])

    for j in _pick(rng, hard_pool, n_hard) + _pick(rng, easy_pool, n_easy):
        d, i, c, _ = (int(v) for v in u[j])
        add(d, i, [c], str(c))
    made, lo, hi = 0, *recipe.instance_range
    multi_imgs = [(d, i) for d, data in enumerate(datas) for i in np.flatnonzero(~data.crowd).tolist()]
    for k in (rng.permutation(len(multi_imgs)).tolist() if multi else []):
        if made == multi:
            break
        d, i = multi_imgs[k]
        labels = groups[d][datas[d].labels[datas[d].offsets[i]:datas[d].offsets[i + 1]]]
        present = np.unique(labels)
        if len(present) < 2:
            continue
        cats = sorted(rng.choice(present, size=min(len(present), int(rng.integers(2, 4))), replace=False).tolist())
        if lo <= np.isin(labels, cats).sum() <= hi:
            add(d, i, cats, "+".join(map(str, cats)))
            made += 1
    if made < multi:
        msg = f"{source}: {multi} multi-category grounding samples asked for, {made} possible"
        if not allow_short:
            raise VisionR1Error(msg + "; use --allow-short to build a smaller mix")
        short = f"{short}; {msg}" if short else msg
    for k in _pick(rng, np.arange(len(imgs)), n_neg):
        d, i = (int(v) for v in imgs[k])
        data = datas[d]
        present = set(groups[d][data.labels[data.offsets[i]:data.offsets[i + 1]]].tolist())
        cats = _absent(rng, groups[d], present, 1)
        add(d, i, cats, f"{cats[0]}-negative")
    available = {"hard": len(hard_pool), "easy": len(easy_pool), "negative": len(imgs)}
    return out.rows, out.report(spec, available, short, *datas)


def rec_samples(exprs: list[Expressions], spec: SourceSpec, recipe: Recipe, rng: np.random.Generator,
                render: Render, allow_short: bool, source: str) -> tuple[list[dict], SourceReport]:
    """One sample per expression: the prompt carries the expression; gt = its target boxes, labelled with the
    expression. Expressions without a target (gRefCOCO) are the negatives."""
    counts = np.concatenate([e.counts for e in exprs]) if exprs else np.zeros(0, dtype=np.int64)
    which = np.concatenate([np.stack([np.full(len(e), d), np.arange(len(e))], axis=1)
                            for d, e in enumerate(exprs)]) if exprs else np.zeros((0, 2), dtype=np.int64)
    hard_pool, easy_pool = _pools(counts, np.ones(len(counts), bool), recipe)
    neg_pool = np.flatnonzero(counts == 0)
    positives, negatives = _quota(spec)
    n_hard, n_easy, n_neg, short = plan(source, positives, negatives, spec.hard_share, len(hard_pool),
                                        len(easy_pool), len(neg_pool), allow_short)
    out = _Rows(source, "rec", recipe.hard_min_instances, render)
    for j in _pick(rng, hard_pool, n_hard) + _pick(rng, easy_pool, n_easy) + _pick(rng, neg_pool, n_neg):
        d, k = (int(v) for v in which[j])
        e = exprs[d]
        a, b = e.offsets[k], e.offsets[k + 1]
        img, text = e.image[k], e.texts[k]
        out.add(e.source, e.keys[k].split("/", 1)[-1], e.paths[img], e.widths[img], e.heights[img], [text], [text],
                [text] * (b - a), e.boxes[a:b])
    available = {"hard": len(hard_pool), "easy": len(easy_pool), "negative": len(neg_pool)}
    return out.rows, out.report(spec, available, short, *exprs)
