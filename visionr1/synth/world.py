"""A deterministic synthetic localization world ("shapes").

``build_world(seed, images)`` returns, in memory, every scene, object, referring expression and region the
writers put on disk; tests compare the files with it. Each scene draws from its own random stream
(``seed``, source, index), so a scene does not depend on how many others were generated before it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from visionr1.data.layouts import EVAL_SETS, ODINW_SETS
from visionr1.synth.shapes import COLOURS, SHAPES, background, draw

Box = tuple[float, float, float, float]

COCO_SHAPES = ("circle", "square", "triangle", "star", "hexagon", "diamond", "cross", "heart")
COCO_CATEGORY_IDS = (1, 2, 3, 5, 6, 8, 10, 13)  # ids with gaps, as in COCO
COLOUR_NAMES = tuple(COLOURS)
HARD_MIN = 11  # hard = more than 10 instances (paper)


@dataclass(frozen=True)
class Profile:
    """How crowded and how hard the scenes of a world are."""

    sizes: tuple[tuple[int, int], tuple[int, int]]  # image width range, height range (inclusive)
    side: tuple[float, float]  # object side range in pixels (upper end also capped by image and count)
    tiny_share: float  # share of 4-11 px objects
    hard_share: tuple[float, float]  # share of hard images (> 10 objects): COCO, ODinW
    empty_share: tuple[float, float]  # share of empty images: COCO, ODinW
    most: int  # most objects per COCO image
    crowd_every: int  # a crowd region in every n-th COCO image (0: none)
    backdrop: str = "noise"  # image background: noise, coordinates or pixels (colour encodes position; background())
    answer_tokens: int = 1024  # new tokens that hold a complete detection answer of the most crowded scene


PROFILES = {
    # every difficulty of the real sources: 1-40 objects, tiny ones, crowds, varied image sizes
    "standard": Profile(((160, 640), (160, 640)), (12.0, 1e9), 0.12, (0.45, 0.2), (0.06, 0.05), 40, 10),
    # 1-3 large objects on 112 x 112 images whose background encodes position: what a small model trained from
    # scratch on a CPU can learn
    "simple": Profile(((112, 112), (112, 112)), (28.0, 64.0), 0.0, (0.0, 0.0), (0.0, 0.0), 3, 0, "coordinates",
                      96),
    # the paper's easy / hard split in miniature: COCO-style scenes of 1-14 objects of 14-32 px (one to two 14 px
    # patches across), about half of them hard (more than 10), on the simple profile's 112 x 112 images (what the
    # small model has learnt to see: one attention window, one position range); the other sources are drawn as
    # the profile's easy scenes (ODinW 1-10 objects). Background encodes position.
    "dense": Profile(((112, 112), (112, 112)), (14.0, 32.0), 0.0, (0.5, 0.0), (0.0, 0.0), 14, 0, "coordinates",
                     512),
    # the same split with room instead of small objects: 1-14 objects of 28-56 px (sizes the base has learnt to
    # see, two to four 14 px patches across) on 224 x 224 images, on a backdrop whose colour gives the pixel
    # coordinate as on 112 px images (backdrop "pixels")
    "dense-224": Profile(((224, 224), (224, 224)), (28.0, 56.0), 0.0, (0.5, 0.0), (0.0, 0.0), 14, 0, "pixels",
                     512),
}

_STREAMS = {"coco": 1, "odinw": 2, "v3det": 3, "refer": 4, "vg": 5, "ids": 6, "odinw-cats": 7, "v3det-cats": 8,
            "odinw-variant": 9, "pretrain": 10}

# ODinW sets the world writes: the evaluation sets (ODinW-13 and the out-of-domain sets) and the two ODinW-35
# variants of evaluation sets, which re-label (EgoHands/specific) or tile (AerialMaritimeDrone/tiled) their images.
ODINW_VARIANTS = tuple(s.name for s in ODINW_SETS.values() if s.variant_of)
ODINW_WORLD = (*EVAL_SETS, *ODINW_VARIANTS)
# Real category lists (GLIP configs/odinw_35, OVERRIDE_CATEGORY) where they matter: boggleBoards has names that
# differ only in case (Q / q) or by a trailing space (o / "o ") or backslash (t / t\\); the variants keep their
# source's images under other labels.
ODINW_CATEGORIES = {
    "boggleBoards": ("Q", "a", "an", "b", "c", "d", "e", "er", "f", "g", "h", "he", "i", "in", "j", "k", "l", "m",
                     "n", "o", "o ", "p", "q", "qu", "r", "s", "t", "t\\", "th", "u", "v", "w", "wild", "x", "y", "z"),
    "AerialMaritimeDrone/large": ("boat", "car", "dock", "jetski", "lift"),
    "AerialMaritimeDrone/tiled": ("boat", "car", "dock", "jetski", "lift"),
    "EgoHands/generic": ("hand",),
    "EgoHands/specific": ("myleft", "myright", "yourleft", "yourright"),
}
# boggleBoards letters the world draws: both halves of every collision, and two plain letters
BOGGLE_DRAWN = ("Q", "q", "o", "o ", "t", "t\\", "a", "e")
V3DET_TWINS = 4  # V3Det categories whose name also exists with a capital first letter (real V3Det: guitar / Guitar)


def _rng(seed: int, stream: str, *index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAMS[stream], *index])


@dataclass(frozen=True)
class Obj:
    """One annotated object. ``members`` is non-empty for a crowd region (COCO ``iscrowd=1``)."""

    shape: str
    colour: str
    label: str
    box: Box  # x1, y1, x2, y2 in pixels of the original image
    members: tuple[Box, ...] = ()

    @property
    def crowd(self) -> bool:
        return bool(self.members)


@dataclass(frozen=True)
class Scene:
    """One image: its size, rendering seed and objects in drawing order (later ones occlude earlier)."""

    key: str
    seed: int
    width: int
    height: int
    objects: tuple[Obj, ...]
    backdrop: str = "noise"
    tile_of: tuple[Scene, int, int] | None = None  # (source scene, x0, y0) when this image is a tile of another

    def render(self) -> Image.Image:
        if self.tile_of is not None:
            source, x0, y0 = self.tile_of
            return source.render().crop((x0, y0, x0 + self.width, y0 + self.height))
        img = background(np.random.default_rng(self.seed), self.width, self.height, self.backdrop)
        for o in self.objects:
            for box in o.members or (o.box,):
                draw(img, o.shape, o.colour, box)
        return img


@dataclass(frozen=True)
class Ref:
    """A referring expression: ``targets`` index ``Scene.objects``; empty = no target (gRefCOCO)."""

    scene: int
    targets: tuple[int, ...]
    sentences: tuple[str, ...]
    split: str


@dataclass(frozen=True)
class Region:
    """A Visual Genome region description; ``obj`` is None for a whole-image region."""

    obj: int | None
    box: tuple[int, int, int, int]  # x, y, width, height (integers, as in VG)
    phrase: str


@dataclass
class World:
    seed: int
    images: int
    profile: str = "standard"
    coco: dict[str, list[Scene]] = field(default_factory=dict)
    odinw: dict[str, dict[str, list[Scene]]] = field(default_factory=dict)
    odinw_categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    v3det: dict[str, list[Scene]] = field(default_factory=dict)
    v3det_categories: tuple[str, ...] = ()
    refer_scenes: list[Scene] = field(default_factory=list)
    refs: dict[str, list[Ref]] = field(default_factory=dict)
    vg_scenes: list[Scene] = field(default_factory=list)
    vg_regions: list[list[Region]] = field(default_factory=list)

    def sizes(self) -> dict[str, int]:
        """Number of images per source (for summaries)."""
        return {
            "coco": sum(len(s) for s in self.coco.values()),
            "odinw": sum(len(s) for sets in self.odinw.values() for s in sets.values()),
            "v3det": sum(len(s) for s in self.v3det.values()),
            "refer": len(self.refer_scenes),
            "vg": len(self.vg_scenes),
        }


# ---------------------------------------------------------------- scenes


def _iou(a: Box, b: Box) -> tuple[float, float]:
    """IoU and intersection over the smaller box."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0, 0.0
    inter = iw * ih
    aa, ab = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    return inter / (aa + ab - inter), inter / min(aa, ab)


def _fits(box: Box, placed: list[Box], max_iou: float = 0.3, max_cover: float = 0.5) -> bool:
    return all(iou <= max_iou and cover <= max_cover for iou, cover in (_iou(box, p) for p in placed))


def _sample_box(rng: np.random.Generator, shape: str, width: int, height: int, max_side: float,
                profile: Profile) -> Box | None:
    lo, hi = SHAPES[shape][0]
    aspect = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    if rng.random() < profile.tiny_share:  # tiny objects
        side = rng.uniform(4.0, 11.0)
    else:
        low = profile.side[0]
        side = math.exp(rng.uniform(math.log(low), math.log(max(low + 1, min(max_side, profile.side[1])))))
    w, h = side * math.sqrt(aspect), side / math.sqrt(aspect)
    if w > width - 2 or h > height - 2:
        return None
    x1, y1 = rng.uniform(1, width - 1 - w), rng.uniform(1, height - 1 - h)
    return (round(x1, 2), round(y1, 2), round(x1 + w, 2), round(y1 + h, 2))


def _crowd(rng: np.random.Generator, shape: str, colour: str, label: str, width: int, height: int,
           placed: list[Box]) -> Obj | None:
    """A cluster of 5-12 tiny same-kind shapes annotated as one crowd region."""
    side = rng.uniform(40, 90)
    if side > min(width, height) - 4:
        return None
    x0, y0 = rng.uniform(2, width - 2 - side), rng.uniform(2, height - 2 - side)
    members = []
    for _ in range(int(rng.integers(5, 13))):
        s = rng.uniform(4, 9)
        x, y = x0 + rng.uniform(0, side - s), y0 + rng.uniform(0, side - s)
        members.append((round(x, 2), round(y, 2), round(x + s, 2), round(y + s, 2)))
    arr = np.array(members)
    box = (float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max()))
    if not _fits(box, placed, 0.0, 0.0):
        return None
    return Obj(shape, colour, label, box, tuple(members))


Item = tuple[str, str, str]  # shape, colour, label


def make_scene(rng: np.random.Generator, key: str, items: list[Item], *, crowd: Item | None = None,
               size: tuple[int, int] | None = None, profile: Profile = PROFILES["standard"]) -> Scene:
    """Place ``items`` (and optionally one crowd region) at random in an image of random size.

    Objects that find no place after 60 tries (limited overlap: IoU <= 0.3, at most half of the smaller
    box covered) are left out; the returned scene holds exactly what is drawn.
    """
    (w_lo, w_hi), (h_lo, h_hi) = profile.sizes
    width, height = size or (int(rng.integers(w_lo, w_hi + 1)), int(rng.integers(h_lo, h_hi + 1)))
    max_side = min(0.45 * min(width, height), 1.1 * math.sqrt(width * height / max(len(items), 1)))
    placed: list[Box] = []
    objects: list[Obj] = []
    if crowd is not None:
        c = _crowd(rng, *crowd, width, height, placed)
        if c is not None:
            objects.append(c)
            placed.append(c.box)
    for shape, colour, label in items:
        for _ in range(60):
            box = _sample_box(rng, shape, width, height, max_side, profile)
            if box is not None and _fits(box, placed):
                objects.append(Obj(shape, colour, label, box))
                placed.append(box)
                break
    order = rng.permutation(len(objects))
    return Scene(key, int(rng.integers(0, 2**31)), width, height, tuple(objects[i] for i in order), profile.backdrop)


def sample_count(rng: np.random.Generator, *, hard_share: float, empty_share: float, hi: int = 40) -> int:
    """0 with ``empty_share``; else hard (11..hi) with ``hard_share``; else easy (1..min(10, hi))."""
    u = rng.random()
    if u < empty_share:
        return 0
    if u < empty_share + (1 - empty_share) * hard_share:
        return int(rng.integers(HARD_MIN, hi + 1))
    return int(rng.integers(1, min(HARD_MIN, hi + 1)))


def _items(rng: np.random.Generator, n: int, shapes: tuple[str, ...], colours: tuple[str, ...]) -> list[Item]:
    """``n`` objects of random shape and colour, labelled with their shape."""
    out = []
    for _ in range(n):
        s, c = shapes[int(rng.integers(len(shapes)))], colours[int(rng.integers(len(colours)))]
        out.append((s, c, s))
    return out


# ---------------------------------------------------------------- referring expressions

_LOCATION = {
    "left": ("{c} {s} on the left", "left {c} {s}"),
    "right": ("{c} {s} on the right", "right {c} {s}"),
    "top": ("{c} {s} at the top", "top {c} {s}"),
    "bottom": ("{c} {s} at the bottom", "bottom {c} {s}"),
}
_SIZE = {"biggest": ("biggest {c} {s}", "the largest {c} {s}"), "smallest": ("smallest {c} {s}", "the tiniest {c} {s}")}
_LONG = {
    "left": "the {c} {s} that is furthest to the left",
    "right": "the {c} {s} that is furthest to the right",
    "top": "the {c} {s} closest to the top of the picture",
    "bottom": "the {c} {s} closest to the bottom of the picture",
    "biggest": "the largest of the {c} {p}",
    "smallest": "the smallest of the {c} {p}",
}


def _centre(b: Box) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def _area(b: Box) -> float:
    return (b[2] - b[0]) * (b[3] - b[1])


def relations(scene: Scene, target: int) -> list[str]:
    """Relations that single out ``target`` among the objects of the same colour and shape.

    left/right/top/bottom need a margin of 10% of the image side to the nearest rival; biggest/smallest
    need an area ratio of 1.8.
    """
    t = scene.objects[target]
    rivals = [o for i, o in enumerate(scene.objects) if i != target and (o.shape, o.colour) == (t.shape, t.colour)]
    if not rivals:
        return []
    (tx, ty), others = _centre(t.box), [_centre(o.box) for o in rivals]
    mx, my = 0.1 * scene.width, 0.1 * scene.height
    rel = []
    if all(tx < ox - mx for ox, _ in others):
        rel.append("left")
    if all(tx > ox + mx for ox, _ in others):
        rel.append("right")
    if all(ty < oy - my for _, oy in others):
        rel.append("top")
    if all(ty > oy + my for _, oy in others):
        rel.append("bottom")
    areas = [_area(o.box) for o in rivals]
    if _area(t.box) > 1.8 * max(areas):
        rel.append("biggest")
    if _area(t.box) * 1.8 < min(areas):
        rel.append("smallest")
    return rel


def _grid_region(scene: Scene, box: Box) -> str:
    x, y = _centre(box)
    col = ("left", "middle", "right")[min(2, int(3 * x / scene.width))]
    row = ("upper", "middle", "lower")[min(2, int(3 * y / scene.height))]
    return "centre" if row == col == "middle" else (f"{row} {col}" if "middle" not in (row, col) else
                                                    (col if row == "middle" else row))


def describe(scene: Scene, target: int, style: str) -> list[str]:
    """Unambiguous expressions for ``target`` in ``style``: ``refcoco`` (short, location words allowed),
    ``refcoco+`` (appearance only, no location words) or ``refcocog`` (long sentences). Empty when the
    object cannot be singled out in that style."""
    t = scene.objects[target]
    if t.crowd:
        return []
    c, s, p = t.colour, t.shape, SHAPES[t.shape][1]
    counts = Counter((o.shape, o.colour) for o in scene.objects)  # a crowd region of the same kind is a rival
    shape_unique = sum(n for (sh, _), n in counts.items() if sh == s) == 1
    if style == "refcocog":
        if counts[(s, c)] == 1:
            return [f"a {c} {s} in the {_grid_region(scene, t.box)} part of the picture"]
        return [_LONG[r].format(c=c, s=s, p=p) for r in relations(scene, target)[:2]]
    if shape_unique:
        return [s, f"the {c} {s}"]
    if counts[(s, c)] == 1:
        return [f"{c} {s}", f"the {c} {s}"]
    rel = [r for r in relations(scene, target) if style == "refcoco" or r in _SIZE]
    return [form.format(c=c, s=s) for r in rel[:1] for form in {**_LOCATION, **_SIZE}[r]]


def _multi_refs(rng: np.random.Generator, scene: Scene) -> list[tuple[tuple[int, ...], str]]:
    """gRefCOCO-style expressions: several targets, one target, or none. Expressions about a group include the
    crowd region of that kind, as gRefCOCO's do (its readers drop the crowd target and keep the others)."""
    objs = [(i, o) for i, o in enumerate(scene.objects) if not o.crowd]
    every = list(enumerate(scene.objects))
    out: list[tuple[tuple[int, ...], str]] = []
    for c in COLOUR_NAMES:
        idx = tuple(i for i, o in every if o.colour == c)
        if len(idx) >= 2:
            out.append((idx, f"all {c} shapes"))
    for s in COCO_SHAPES:
        idx = tuple(i for i, o in every if o.shape == s)
        if len(idx) >= 2:
            out.append((idx, f"all {SHAPES[s][1]}"))
        for c in COLOUR_NAMES:
            both = tuple(i for i in idx if scene.objects[i].colour == c)
            if len(both) >= 2:
                out.append((both, f"{c} {SHAPES[s][1]}"))
    for i, _ in objs:
        out.extend(((i,), e) for e in describe(scene, i, "refcoco")[:1])
    present = {(o.shape, o.colour) for _, o in every}
    absent = [(s, c) for s in COCO_SHAPES for c in COLOUR_NAMES if (s, c) not in present]
    if absent:
        s, c = absent[int(rng.integers(len(absent)))]
        out.append(((), f"the {c} {s}"))
    keep = sorted(rng.permutation(len(out))[:5].tolist())
    return [out[k] for k in keep]


def _split(i: int, splits: tuple[str, ...], weights: tuple[float, ...]) -> str:
    u = ((i * 2654435761) % 2**32) / 2**32  # a fixed scramble of the index
    acc = 0.0
    for name, w in zip(splits, weights, strict=True):
        acc += w
        if u < acc:
            return name
    return splits[-1]


def _casing(rng: np.random.Generator, sentence: str) -> str:
    """Raw sentences as typed by annotators: sometimes capitalised, sometimes all caps."""
    u = rng.random()
    return sentence.upper() if u < 0.15 else sentence[:1].upper() + sentence[1:] if u < 0.5 else sentence



# ---------------------------------------------------------------- ODinW categories and variants

Look = tuple[str, str | None]  # shape, colour (None: any colour)


def _odinw_categories(rng: np.random.Generator, name: str, all_shapes: tuple[str, ...]
                      ) -> tuple[tuple[str, ...], dict[str, Look], tuple[str, ...]]:
    """Category names of an ODinW set, how each looks and which ones are drawn. Sets of ``ODINW_CATEGORIES`` keep
    their real names (every boggleBoards letter gets its own shape and colour, so Q and q look different); the
    others name 1-4 shapes (PascalVOC: 8), capitalised in every other set as Roboflow exports often are."""
    if name in ODINW_CATEGORIES:
        cats = ODINW_CATEGORIES[name]
        combos = [(sh, c) for sh in all_shapes for c in COLOUR_NAMES]
        order = rng.permutation(len(combos))
        looks: dict[str, Look] = {c: combos[int(j)] if name == "boggleBoards" else (combos[int(j)][0], None)
                                  for c, j in zip(cats, order, strict=False)}
        return cats, looks, BOGGLE_DRAWN if name == "boggleBoards" else cats
    n_cat = 8 if name == "PascalVOC" else int(rng.integers(1, 5))
    shapes = tuple(all_shapes[j] for j in sorted(rng.permutation(len(all_shapes))[:n_cat]))
    cap = list(ODINW_SETS).index(name) % 2 == 1
    cats = tuple(sh.capitalize() if cap else sh for sh in shapes)
    return cats, {c: (sh, None) for c, sh in zip(cats, shapes, strict=True)}, cats


def _odinw_items(rng: np.random.Generator, n: int, drawn: tuple[str, ...], looks: dict[str, Look]) -> list[Item]:
    """``n`` objects of the categories ``drawn``; a boggleBoards image with two or more objects holds both Q and q
    (the collision every evaluation must keep apart)."""
    out: list[Item] = []
    for j in range(n):
        label = drawn[j] if drawn is BOGGLE_DRAWN and j < 2 else drawn[int(rng.integers(len(drawn)))]
        shape, colour = looks[label]
        out.append((shape, colour or COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))], label))
    return out


def _variant(rng: np.random.Generator, name: str, scenes: list[Scene]) -> list[Scene]:
    """The scenes of a variant set, from its source set's scenes of the same split: EgoHands/specific re-labels
    every hand (my / your, left / right); AerialMaritimeDrone/tiled cuts every image into 2 x 2 tiles, each keeping
    the boxes that reach into it, clipped to the tile."""
    if name == "EgoHands/specific":
        names = ODINW_CATEGORIES[name]
        return [Scene(f"{s.key}/specific", s.seed, s.width, s.height,
                      tuple(Obj(o.shape, o.colour, names[int(rng.integers(len(names)))], o.box) for o in s.objects),
                      s.backdrop) for s in scenes]
    out = []
    for s in scenes:
        tw, th = s.width // 2, s.height // 2
        for t, (x0, y0) in enumerate(((0, 0), (tw, 0), (0, th), (tw, th))):
            objs = []
            for o in s.objects:
                box = (round(max(o.box[0] - x0, 0.0), 2), round(max(o.box[1] - y0, 0.0), 2),
                       round(min(o.box[2] - x0, tw), 2), round(min(o.box[3] - y0, th), 2))
                if box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
                    objs.append(Obj(o.shape, o.colour, o.label, box))
            out.append(Scene(f"{s.key}/tile{t}", s.seed, tw, th, tuple(objs), s.backdrop, (s, x0, y0)))
    return out


# ---------------------------------------------------------------- the world


def coco_scenes(seed: int, split: str, n: int, profile: str = "standard") -> list[Scene]:
    """The first ``n`` scenes of a COCO split: 8 shape categories; standard profile: 1-40 objects, some empty
    images, a crowd region in every tenth image."""
    si = ("train2017", "val2017").index(split)
    p = PROFILES[profile]
    scenes = []
    for i in range(n):
        rng = _rng(seed, "coco", si, i)
        count = sample_count(rng, hard_share=p.hard_share[0], empty_share=p.empty_share[0], hi=p.most)
        crowd = None
        if count and p.crowd_every and i % p.crowd_every == 3:
            s = COCO_SHAPES[int(rng.integers(len(COCO_SHAPES)))]
            crowd = (s, COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))], s)
        items = _items(rng, count - (crowd is not None), COCO_SHAPES, COLOUR_NAMES)
        scenes.append(make_scene(rng, f"coco/{split}/{i}", items, crowd=crowd, profile=p))
    return scenes


def build_world(seed: int = 0, images: int = 200, profile: str = "standard") -> World:
    """The whole synthetic world for ``seed``; ``images`` = number of COCO train images (other sources scale);
    ``profile`` (see ``PROFILES``) sets how crowded and hard the scenes are."""
    if images < 1:
        raise ValueError("images must be >= 1")
    if profile not in PROFILES:
        raise ValueError(f"unknown world profile '{profile}' (choose from {', '.join(PROFILES)})")
    p = PROFILES[profile]
    w = World(seed=seed, images=images, profile=profile)

    n_val = max(8, images // 4)
    w.coco = {"train2017": coco_scenes(seed, "train2017", images, profile),
              "val2017": coco_scenes(seed, "val2017", n_val, profile)}

    # ODinW: the evaluation sets, each with its own category set, and the variants of two of them
    k = max(3, images // 25)
    all_shapes = tuple(SHAPES)
    for oi, name in enumerate(EVAL_SETS):
        cats, looks, drawn = _odinw_categories(_rng(seed, "odinw-cats", oi), name, all_shapes)
        w.odinw_categories[name] = cats
        splits = {}
        for si, (split, n) in enumerate((("train", k), ("valid", k), ("test", max(2, k // 2)))):
            scenes = []
            for i in range(n):
                rng = _rng(seed, "odinw", oi, si, i)
                count = sample_count(rng, hard_share=p.hard_share[1], empty_share=p.empty_share[1],
                                     hi=min(25, p.most))
                items = _odinw_items(rng, count, drawn, looks)
                scenes.append(make_scene(rng, f"odinw/{name}/{split}/{i}", items, profile=p))
            splits[split] = scenes
        w.odinw[name] = splits
    for vi, name in enumerate(ODINW_VARIANTS):
        source = ODINW_SETS[name].variant_of
        w.odinw_categories[name] = ODINW_CATEGORIES[name]
        w.odinw[name] = {split: _variant(_rng(seed, "odinw-variant", vi), name, scenes)
                         for split, scenes in w.odinw[source].items()}

    # V3Det: many categories (colour x shape), category-centric images; a few names exist twice, differing only in
    # case (real V3Det: guitar / Guitar, 45 such pairs): the same kind of object under two categories
    crng = _rng(seed, "v3det-cats", 0)
    combos = [f"{c} {s}" for s in all_shapes for c in COLOUR_NAMES]
    twins = [combos[int(j)] for j in crng.permutation(len(combos))[:V3DET_TWINS]]
    names = combos + [t.capitalize() for t in twins]
    w.v3det_categories = tuple(names[j] for j in crng.permutation(len(names)))
    for si, (split, n) in enumerate((("train", max(8, images // 2)), ("val", max(4, images // 8)))):
        scenes = []
        for i in range(n):
            rng = _rng(seed, "v3det", si, i)
            if i % 3 == 0:  # both halves of a twin pair in one image
                t = twins[int(rng.integers(len(twins)))]
                cats = [t, t.capitalize()]
            else:
                cats = [w.v3det_categories[int(rng.integers(len(names)))]]
                if rng.random() < 0.35:
                    cats.append(w.v3det_categories[int(rng.integers(len(names)))])
            items = []
            for j, cat in enumerate(cats):
                colour, shape = cat.lower().split(" ")
                items += [(shape, colour, cat)] * int(rng.integers(1, 9 if j == 0 else 4))
            scenes.append(make_scene(rng, f"v3det/{split}/{i}", items, profile=p))
        w.v3det[split] = scenes

    # RefCOCO / RefCOCO+ / RefCOCOg / gRefCOCO: few shapes and colours per image, so that many objects
    # need a location or size word to be singled out
    w.refs = {"refcoco": [], "refcoco+": [], "refcocog": [], "grefcoco": []}
    for i in range(max(12, images // 2)):
        rng = _rng(seed, "refer", i)
        shapes = tuple(rng.choice(COCO_SHAPES, size=int(rng.integers(1, 4)), replace=False).tolist())
        colours = tuple(rng.choice(COLOUR_NAMES, size=int(rng.integers(1, 4)), replace=False).tolist())
        # a crowd region in every fourth image: gRefCOCO expressions about a group may include it as a target
        crowd = (shapes[0], colours[-1], shapes[0]) if p.crowd_every and i % 4 == 1 else None
        scene = make_scene(rng, f"refer/{i}", _items(rng, int(rng.integers(2, 10)), shapes, colours), crowd=crowd,
                           profile=p)
        w.refer_scenes.append(scene)
        unc = _split(i, ("train", "val", "testA", "testB"), (0.6, 0.15, 0.125, 0.125))
        umd = _split(i, ("train", "val", "test"), (0.7, 0.15, 0.15))
        for style, split in (("refcoco", unc), ("refcoco+", unc), ("refcocog", umd)):
            for t in range(len(scene.objects)):
                sents = describe(scene, t, style)
                if sents:
                    w.refs[style].append(Ref(i, (t,), tuple(_casing(rng, s) for s in sents), split))
        for targets, sent in _multi_refs(rng, scene):
            w.refs["grefcoco"].append(Ref(i, targets, (_casing(rng, sent),), unc))

    # Visual Genome: one phrase per (colour, shape) and image, so same-kind objects share it
    # (multi-object phrases); some near-duplicate regions and whole-image regions, as in VG
    for i in range(max(8, images // 2)):
        rng = _rng(seed, "vg", i)
        shapes = tuple(rng.choice(all_shapes, size=3, replace=False).tolist())
        colours = tuple(rng.choice(COLOUR_NAMES, size=2, replace=False).tolist())
        scene = make_scene(rng, f"vg/{i}", _items(rng, int(rng.integers(1, 13)), shapes, colours), profile=p)
        forms = ("{c} {s}", "a {c} {s}", "{c} {s} on a grey background")
        phrase = {k: forms[int(rng.integers(len(forms)))].format(c=k[1], s=k[0])
                  for k in sorted({(o.shape, o.colour) for o in scene.objects})}
        regions = []
        for j, o in enumerate(scene.objects):
            regions.append(Region(j, vg_box(o.box), phrase[(o.shape, o.colour)]))
            if rng.random() < 0.2 and min(o.box[2] - o.box[0], o.box[3] - o.box[1]) >= 20:
                dx, dy = (int(v) for v in rng.integers(-1, 2, size=2))
                x, y, bw, bh = vg_box(o.box)
                regions.append(Region(j, (max(0, x + dx), max(0, y + dy), bw, bh), phrase[(o.shape, o.colour)]))
        if rng.random() < 0.5:
            regions.append(Region(None, (0, 0, scene.width, scene.height), "colourful shapes on a grey background"))
        w.vg_scenes.append(scene)
        w.vg_regions.append(regions)
    return w


def vg_box(box: Box) -> tuple[int, int, int, int]:
    """Integer x, y, width, height enclosing ``box`` (Visual Genome stores integer regions)."""
    x, y = math.floor(box[0]), math.floor(box[1])
    return x, y, math.ceil(box[2]) - x, math.ceil(box[3]) - y
