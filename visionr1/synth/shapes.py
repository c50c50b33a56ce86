"""Shape geometry and rendering for the synthetic world.

Every shape is a polygon whose vertex extent is exactly its bounding box, so the ground-truth box of a
drawn object is known without measuring pixels.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "purple": (140, 60, 180),
    "orange": (245, 140, 30),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}

# shape: (aspect range w/h sampled log-uniformly, plural)
SHAPES: dict[str, tuple[tuple[float, float], str]] = {
    "circle": ((1.0, 1.0), "circles"),
    "square": ((1.0, 1.0), "squares"),
    "triangle": ((0.85, 1.2), "triangles"),
    "star": ((1.0, 1.0), "stars"),
    "hexagon": ((1.0, 1.0), "hexagons"),
    "diamond": ((0.7, 1.0), "diamonds"),
    "cross": ((1.0, 1.0), "crosses"),
    "heart": ((1.0, 1.0), "hearts"),
    "pentagon": ((1.0, 1.0), "pentagons"),
    "octagon": ((1.0, 1.0), "octagons"),
    "ellipse": ((1.6, 2.4), "ellipses"),
    "semicircle": ((2.0, 2.0), "semicircles"),
    "arrow": ((1.8, 2.4), "arrows"),
    "trapezoid": ((1.4, 1.8), "trapezoids"),
    "crescent": ((0.7, 0.8), "crescents"),
    "plus": ((1.0, 1.0), "pluses"),
}


def _regular(n: int, phase: float) -> np.ndarray:
    t = phase + np.arange(n) * 2 * np.pi / n
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def _arc(cx: float, cy: float, r: float, a0: float, a1: float, n: int) -> np.ndarray:
    t = np.linspace(a0, a1, n)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def _raw(shape: str) -> np.ndarray:
    if shape in ("circle", "ellipse"):
        return _regular(48, 0.0)
    if shape == "square":
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float)
    if shape == "triangle":
        return np.array([[0, -1], [1, 1], [-1, 1]], float)
    if shape == "star":
        outer, inner = _regular(5, -np.pi / 2), 0.45 * _regular(5, -np.pi / 2 + np.pi / 5)
        return np.stack([outer, inner], axis=1).reshape(-1, 2)
    if shape == "hexagon":
        return _regular(6, 0.0)
    if shape == "diamond":
        return np.array([[0, -1], [1, 0], [0, 1], [-1, 0]], float)
    if shape == "cross":  # an X
        a, b = 0.3, 1.0
        return np.array([[-b, -b + a], [-b + a, -b], [0, -a], [b - a, -b], [b, -b + a], [a, 0],
                         [b, b - a], [b - a, b], [0, a], [-b + a, b], [-b, b - a], [-a, 0]], float)
    if shape == "plus":
        a = 0.3
        return np.array([[-a, -1], [a, -1], [a, -a], [1, -a], [1, a], [a, a], [a, 1], [-a, 1], [-a, a],
                         [-1, a], [-1, -a], [-a, -a]], float)
    if shape == "heart":
        t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return np.stack([x, y], axis=1)
    if shape == "pentagon":
        return _regular(5, -np.pi / 2)
    if shape == "octagon":
        return _regular(8, np.pi / 8)
    if shape == "semicircle":
        return _arc(0.0, 0.0, 1.0, np.pi, 2 * np.pi, 25)
    if shape == "arrow":
        return np.array([[-1, -0.3], [0.2, -0.3], [0.2, -1], [1, 0], [0.2, 1], [0.2, 0.3], [-1, 0.3]], float)
    if shape == "trapezoid":
        return np.array([[-0.55, -1], [0.55, -1], [1, 1], [-1, 1]], float)
    if shape == "crescent":  # outer unit circle minus a shifted inner circle
        d, r = 0.45, 0.8
        x = (1 + d * d - r * r) / (2 * d)
        theta, phi = np.arccos(x), np.arctan2(np.sqrt(1 - x * x), x - d)
        return np.concatenate([_arc(0, 0, 1, theta, 2 * np.pi - theta, 30),
                               _arc(d, 0, r, 2 * np.pi - phi, phi, 24)])
    raise KeyError(shape)


@cache
def unit_polygon(shape: str) -> np.ndarray:
    """Vertices of ``shape`` scaled so that their extent is exactly [-1, 1] x [-1, 1]."""
    p = _raw(shape)
    lo, hi = p.min(axis=0), p.max(axis=0)
    p = 2 * (p - lo) / (hi - lo) - 1
    p.setflags(write=False)
    return p


def polygon(shape: str, box: tuple[float, float, float, float]) -> np.ndarray:
    """Vertices (K, 2) of ``shape`` filling the xyxy ``box`` exactly."""
    x1, y1, x2, y2 = box
    c = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    half = np.array([(x2 - x1) / 2, (y2 - y1) / 2])
    return c + unit_polygon(shape) * half


def polygon_area(vertices: np.ndarray) -> float:
    """Shoelace area of a simple polygon."""
    x, y = vertices[:, 0], vertices[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


PIXEL_RAMP = 90 / 111  # backdrop "pixels": colour steps per pixel (the coordinates ramp of a 112 px image)


def background(rng: np.random.Generator, width: int, height: int, backdrop: str = "noise") -> Image.Image:
    """A mid-grey, slightly tinted gradient with noise: every shape colour stands out against it.

    ``backdrop="coordinates"``: red grows from left to right and blue from top to bottom (70-160), so every
    background pixel tells where it is, standing in for the sense of position a pretrained vision encoder brings
    (a small model trained from scratch has none: Qwen2.5-VL's vision tower has no absolute position embedding).
    ``backdrop="pixels"``: the same ramp per pixel as on a 112 px image whatever the size (70 at pixel 0, 160 at
    pixel 111, 250 at pixel 223), so a colour means the same pixel coordinate on every image size."""
    ramp = {"coordinates": lambda n: np.linspace(70, 160, n, dtype=np.float32),
            "pixels": lambda n: 70 + np.arange(n, dtype=np.float32) * PIXEL_RAMP}.get(backdrop)
    if ramp is not None:
        x = ramp(width)[None, :].repeat(height, 0)
        y = ramp(height)[:, None].repeat(width, 1)
        img = np.stack([x, np.full_like(x, 110), y], axis=-1) + rng.standard_normal((height, width, 3),
                                                                                    dtype=np.float32) * 2
        return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    base = (rng.uniform(100, 165) + rng.uniform(-12, 12, size=3)).astype(np.float32)
    gx, gy = rng.uniform(-25, 25, size=2).astype(np.float32)
    ramp = (gx * (np.arange(width, dtype=np.float32) / width - 0.5))[None, :] + \
        (gy * (np.arange(height, dtype=np.float32) / height - 0.5))[:, None]
    noise = rng.standard_normal(((height + 1) // 2, (width + 1) // 2, 3), dtype=np.float32)  # 2x2-pixel grain
    img = noise.repeat(2, axis=0).repeat(2, axis=1)[:height, :width] * 5
    img += base
    img += ramp[..., None]
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def draw(img: Image.Image, shape: str, colour: str, box: tuple[float, float, float, float]) -> None:
    """Fill ``shape`` in ``colour`` into ``box`` of ``img`` (in place)."""
    pts = [tuple(v) for v in polygon(shape, box).tolist()]
    ImageDraw.Draw(img).polygon(pts, fill=COLOURS[colour])


def mask(shape: str, box: tuple[float, float, float, float], width: int, height: int) -> np.ndarray:
    """Binary (H, W) uint8 mask of ``shape`` in ``box``, rasterised exactly as ``draw`` does."""
    m = Image.new("L", (width, height), 0)
    ImageDraw.Draw(m).polygon([tuple(v) for v in polygon(shape, box).tolist()], fill=1)
    return np.asarray(m, dtype=np.uint8)
