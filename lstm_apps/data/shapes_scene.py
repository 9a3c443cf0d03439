"""Scenes of the shapes data set: objects, their geometry, sampling and drawing.

Follows DESIGN.md "Captions": RGB 128x128, 1 or 2 objects (circle/square/triangle/star,
small 14-24 px or large 34-50 px across, 7 colours jittered by up to 20 per channel),
never overlapping, in one clear relation (horizontal when |dx| >= 2|dy|, vertical when
|dy| >= 2|dx|, y down), inside a 4 px margin, on a dark background (channels 0-100) with
pixel noise. numpy + PIL only.

Two styles draw the same scenes (the same draws from the scene's rng):
- "spec", the training data: the whole spread the spec allows. Background colours are
  near grey (30%) or independent channels anywhere in 0-100; flat, or a linear gradient in
  any direction; half of them with a mild low-frequency texture. Edges are antialiased
  (drawn at 4x, box-filtered down) or hard (30%).
- "holdout", a variation of the spec that training never sees, to check generalisation
  the way an independent renderer would: radial gradients, sinusoidal stripe texture,
  Gaussian-blurred edges; `lstm-apps data shapes --style holdout` also saves half of the
  images as JPEG (quality 50-90).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

from lstm_apps.data.shapes_text import COLOR_NAMES, SHAPE_NAMES, SIZE_NAMES

__all__ = [
    "IMAGE_SIZE",
    "MARGIN",
    "PALETTE",
    "SIZE_RANGES",
    "STYLES",
    "Scene",
    "ShapeObject",
    "object_coverage",
    "object_extent",
    "objects_separated",
    "relation_of",
    "render_scene",
    "sample_scene",
]

IMAGE_SIZE = 128  # pixels, square RGB
MARGIN = 4.0  # every object lies inside [MARGIN, IMAGE_SIZE - MARGIN]
MIN_GAP = 3.0  # pixels between the convex hulls of two objects
MAX_ROTATION = 15.0  # degrees, square/triangle/star
COLOR_JITTER = 20  # per channel, uniform integer in [-20, 20]
BACKGROUND_MAX = 100  # background channels stay in [0, 100]
BACKGROUND_SPREAD = 15  # a near-grey colour's channels are within this of its grey level
P_GREY_BACKGROUND = 0.3  # share of near-grey background colours (the rest: any channels)
P_TEXTURE = 0.5  # share of "spec" backgrounds with a low-frequency texture
TEXTURE_MAX = 12.0  # texture amplitude (std), 0-255 units
P_HARD_EDGES = 0.3  # share of "spec" images drawn without antialiasing
STYLES = ("spec", "holdout")
MAX_NOISE_SIGMA = 10.0
P_ONE_OBJECT = 0.3  # two-object scenes are the harder and more useful case
SUPERSAMPLE = 4  # shapes are drawn at 4x and box-filtered down: antialiased edges
STAR_INNER_RATIO = 0.45  # inner/outer radius; chunkier than a pentagram, readable when small

Mask = npt.NDArray[np.float32]

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 210, 40),
    "purple": (140, 60, 190),
    "orange": (240, 140, 30),
    "white": (235, 235, 235),
}
SIZE_RANGES: dict[str, tuple[float, float]] = {"small": (14.0, 24.0), "large": (34.0, 50.0)}
assert tuple(PALETTE) == COLOR_NAMES and tuple(SIZE_RANGES) == SIZE_NAMES


@dataclass(frozen=True)
class ShapeObject:
    """One drawn object. `x, y`: centre in pixels (y grows downward); `size_px`: extent
    across the unrotated shape (circle diameter, square side, triangle side, star width);
    `rotation`: degrees, 0 for circles; `rgb`: the jittered fill colour (nominal if None)."""

    shape: str
    color: str
    size: str
    x: float
    y: float
    size_px: float
    rotation: float = 0.0
    rgb: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if self.shape not in SHAPE_NAMES:
            raise ValueError(f"unknown shape {self.shape!r}; expected one of {SHAPE_NAMES}")
        if self.color not in PALETTE:
            raise ValueError(f"unknown colour {self.color!r}; expected one of {COLOR_NAMES}")
        if self.size not in SIZE_RANGES:
            raise ValueError(f"unknown size {self.size!r}; expected one of {SIZE_NAMES}")
        lo, hi = SIZE_RANGES[self.size]
        if not lo <= self.size_px <= hi:
            raise ValueError(f"size_px {self.size_px} outside {lo}-{hi} for size {self.size!r}")
        if abs(self.rotation) > MAX_ROTATION or (self.shape == "circle" and self.rotation):
            raise ValueError(f"rotation {self.rotation} not allowed for a {self.shape}")
        if self.rgb is None:
            object.__setattr__(self, "rgb", PALETTE[self.color])

    @property
    def fill(self) -> tuple[int, int, int]:
        """The fill colour (never None)."""
        return self.rgb if self.rgb is not None else PALETTE[self.color]


@dataclass(frozen=True)
class Scene:
    """One or two objects; `relation` places objects[0] relative to objects[1]."""

    objects: tuple[ShapeObject, ...]
    relation: str | None = None

    def __post_init__(self) -> None:
        if len(self.objects) not in (1, 2):
            raise ValueError(f"a scene holds 1 or 2 objects, got {len(self.objects)}")
        if len(self.objects) == 2:
            actual = relation_of(*self.objects)
            if actual is None or self.relation != actual:
                raise ValueError(f"relation {self.relation!r} does not hold (positions: {actual})")
        elif self.relation is not None:
            raise ValueError("a one-object scene has no relation")


def _outline(shape: str, size_px: float, rotation: float) -> npt.NDArray[np.float64]:
    """Polygon of a shape around (0, 0), (N, 2) float64; circles as a circumscribed 32-gon."""
    if shape == "circle":
        n, radius = 32, size_px / 2 / math.cos(math.pi / 32)
        angles = np.arange(n) * (2 * math.pi / n)
        return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)
    if shape == "square":
        h = size_px / 2
        pts = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
    elif shape == "triangle":  # equilateral, side size_px, pointing up, centred on centroid
        r = size_px / math.sqrt(3)
        angles = np.radians([-90.0, 30.0, 150.0])
        pts = np.stack([r * np.cos(angles), r * np.sin(angles)], axis=1)
    else:  # star: five points up; its width (2 R sin 72) is size_px
        outer = size_px / (2 * math.sin(math.radians(72)))
        radii = np.where(np.arange(10) % 2 == 0, outer, outer * STAR_INNER_RATIO)
        angles = np.radians(-90.0 + 36.0 * np.arange(10))
        pts = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    t = math.radians(rotation)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return np.asarray(pts @ rot.T, dtype=np.float64)


def _hull(obj: ShapeObject) -> npt.NDArray[np.float64]:
    """Convex polygon containing the object, in image coordinates, (N, 2)."""
    pts = _outline(obj.shape, obj.size_px, obj.rotation)
    if obj.shape == "star":
        pts = pts[::2]  # the five points span the star's convex hull
    return np.asarray(pts + np.array([obj.x, obj.y]), dtype=np.float64)


def object_extent(obj: ShapeObject) -> tuple[float, float, float, float]:
    """Exact bounds (x0, y0, x1, y1) of the drawn shape, before antialiasing."""
    if obj.shape == "circle":
        r = obj.size_px / 2
        return obj.x - r, obj.y - r, obj.x + r, obj.y + r
    pts = _outline(obj.shape, obj.size_px, obj.rotation) + np.array([obj.x, obj.y])
    (x0, y0), (x1, y1) = pts.min(axis=0).tolist(), pts.max(axis=0).tolist()
    return x0, y0, x1, y1


def objects_separated(a: ShapeObject, b: ShapeObject, gap: float = MIN_GAP) -> bool:
    """True when a straight band `gap` px wide separates the objects' convex hulls."""
    pa, pb = _hull(a), _hull(b)
    axes = []
    for p in (pa, pb):
        edges = np.roll(p, -1, axis=0) - p
        normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
        axes.append(normals / np.linalg.norm(normals, axis=1, keepdims=True))
    n = np.concatenate(axes)  # (E, 2)
    proj_a, proj_b = pa @ n.T, pb @ n.T  # (Na, E), (Nb, E)
    apart = (proj_a.max(0) + gap <= proj_b.min(0)) | (proj_b.max(0) + gap <= proj_a.min(0))
    return bool(apart.any())


def relation_of(a: ShapeObject, b: ShapeObject) -> str | None:
    """Where `a` stands relative to `b`, or None when neither axis dominates 2:1."""
    dx, dy = a.x - b.x, a.y - b.y
    if dx != 0 and abs(dx) >= 2 * abs(dy):
        return "to the left of" if dx < 0 else "to the right of"
    if dy != 0 and abs(dy) >= 2 * abs(dx):
        return "above" if dy < 0 else "below"  # image y grows downward
    return None


def _sample_object(rng: np.random.Generator) -> ShapeObject:
    """Attributes at a placeholder position (the centre)."""
    shape = SHAPE_NAMES[rng.integers(len(SHAPE_NAMES))]
    color = COLOR_NAMES[rng.integers(len(COLOR_NAMES))]
    size = SIZE_NAMES[rng.integers(len(SIZE_NAMES))]
    lo, hi = SIZE_RANGES[size]
    size_px = float(rng.uniform(lo, hi))
    rotation = 0.0 if shape == "circle" else float(rng.uniform(-MAX_ROTATION, MAX_ROTATION))
    jitter = rng.integers(-COLOR_JITTER, COLOR_JITTER + 1, size=3)
    rgb = tuple(int(v) for v in np.clip(np.array(PALETTE[color]) + jitter, 0, 255))
    c = IMAGE_SIZE / 2
    return ShapeObject(shape, color, size, c, c, size_px, rotation, rgb)  # type: ignore[arg-type]


def _place(obj: ShapeObject, rng: np.random.Generator) -> ShapeObject:
    """The object moved to a uniform position that keeps it inside the margin."""
    x0, y0, x1, y1 = object_extent(obj)
    lo_x, hi_x = MARGIN - (x0 - obj.x), IMAGE_SIZE - MARGIN - (x1 - obj.x)
    lo_y, hi_y = MARGIN - (y0 - obj.y), IMAGE_SIZE - MARGIN - (y1 - obj.y)
    x, y = float(rng.uniform(lo_x, hi_x)), float(rng.uniform(lo_y, hi_y))
    return ShapeObject(obj.shape, obj.color, obj.size, x, y, obj.size_px, obj.rotation, obj.rgb)


def sample_scene(rng: np.random.Generator, n_objects: int | None = None) -> Scene:
    """A random scene: 1 object with probability 0.3 (unless `n_objects` says), else 2.

    Two objects are re-positioned until they are apart and in a clear relation; when a
    pair of sizes cannot fit (two large rotated squares side by side is tight), new
    attributes are drawn after 50 attempts.
    """
    if n_objects is None:
        n_objects = 1 if rng.random() < P_ONE_OBJECT else 2
    if n_objects not in (1, 2):
        raise ValueError(f"n_objects must be 1 or 2, got {n_objects}")
    if n_objects == 1:
        return Scene((_place(_sample_object(rng), rng),))
    while True:
        a, b = _sample_object(rng), _sample_object(rng)
        for _ in range(50):
            a, b = _place(a, rng), _place(b, rng)
            rel = relation_of(a, b)
            if rel is not None and objects_separated(a, b):
                return Scene((a, b), rel)


def object_coverage(obj: ShapeObject, edge: str = "antialiased", blur: float = 0.0) -> Mask:
    """Coverage of one object, float32 (IMAGE_SIZE, IMAGE_SIZE) in [0, 1].

    edge: "antialiased" (drawn at 4x, box-filtered down) or "hard" (0 or 1 per pixel: the
    antialiased coverage thresholded at one half). blur: Gaussian sigma in pixels applied
    to the antialiased edge (0: none).
    """
    s = SUPERSAMPLE
    canvas = Image.new("L", (IMAGE_SIZE * s, IMAGE_SIZE * s), 0)
    draw = ImageDraw.Draw(canvas)
    if obj.shape == "circle":
        cx, cy, r = obj.x * s, obj.y * s, obj.size_px / 2 * s
        # PIL's ellipse box is inclusive of its last pixel: [a, b) spans pixels a..b-1.
        draw.ellipse([cx - r, cy - r, cx + r - 1, cy + r - 1], fill=255)
    else:
        pts = (_outline(obj.shape, obj.size_px, obj.rotation) + np.array([obj.x, obj.y])) * s - 0.5
        draw.polygon([tuple(p) for p in pts.tolist()], fill=255)
    if blur > 0:
        canvas = canvas.filter(ImageFilter.GaussianBlur(blur * s))
    cov = np.asarray(canvas.reduce(s), dtype=np.float32) / 255.0
    if edge == "hard":
        return (cov >= 0.5).astype(np.float32)
    if edge != "antialiased":
        raise ValueError(f"edge must be 'antialiased' or 'hard', got {edge!r}")
    return cov


def _dark_color(rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """A dark colour, channels in [0, 100]: near grey (a grey level with small per-channel
    offsets) with probability P_GREY_BACKGROUND, else three independent channels."""
    if rng.random() < P_GREY_BACKGROUND:
        grey = rng.uniform(0, BACKGROUND_MAX)
        offsets = rng.uniform(-BACKGROUND_SPREAD, BACKGROUND_SPREAD, 3)
        return np.clip(grey + offsets, 0, BACKGROUND_MAX)
    return rng.uniform(0, BACKGROUND_MAX, 3)


_GRID_Y, _GRID_X = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE] + 0.5  # pixel centres


def _blend(c0: npt.NDArray[np.float64], c1: npt.NDArray[np.float64], t: npt.ArrayLike) -> Mask:
    """c0 where t = 0, c1 where t = 1; t (H, W) in [0, 1]."""
    w = np.asarray(t, dtype=np.float64)[..., None]
    return np.asarray(c0 * (1 - w) + c1 * w, dtype=np.float32)


def _texture(rng: np.random.Generator) -> Mask:
    """Mild low-frequency texture (H, W, 3), zero mean: value noise on a 3-8 cell grid,
    bicubically upsampled, mostly shared by the channels."""
    cells = int(rng.integers(3, 9))
    amp = rng.uniform(2.0, TEXTURE_MAX)
    grid = rng.normal(0, 1, (cells, cells, 4))
    planes = [
        np.asarray(
            Image.fromarray(grid[..., k].astype(np.float32), mode="F").resize(
                (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC
            )
        )
        for k in range(4)
    ]
    shared, chroma = planes[0], np.stack(planes[1:], axis=2)
    return np.asarray(amp * (shared[..., None] + 0.3 * chroma), dtype=np.float32)


def _background(rng: np.random.Generator, style: str = "spec") -> Mask:
    """The background, float32 (H, W, 3) in [0, 100] (see the module docstring)."""
    c0 = _dark_color(rng)
    c1 = _dark_color(rng)
    if style == "spec":
        if rng.random() < 0.5:
            img = np.broadcast_to(c0, (IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
        else:
            theta = rng.uniform(0, 2 * math.pi)
            proj = _GRID_X * math.cos(theta) + _GRID_Y * math.sin(theta)
            img = _blend(c0, c1, (proj - proj.min()) / (proj.max() - proj.min()))
        if rng.random() < P_TEXTURE:
            img = img + _texture(rng)
    elif style == "holdout":
        cx, cy = rng.uniform(0, IMAGE_SIZE, 2)
        r = np.hypot(_GRID_X - cx, _GRID_Y - cy)
        img = _blend(c0, c1, r / r.max())
        theta, period = rng.uniform(0, math.pi), rng.uniform(6.0, 30.0)
        phase = (_GRID_X * math.cos(theta) + _GRID_Y * math.sin(theta)) * (2 * math.pi / period)
        img = img + (rng.uniform(2.0, 8.0) * np.sin(phase))[..., None]
    else:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    return np.asarray(np.clip(img, 0, BACKGROUND_MAX), dtype=np.float32)


def render_scene(scene: Scene, rng: np.random.Generator, style: str = "spec") -> Image.Image:
    """Draw a scene: background, edges and noise from `rng`, objects from the scene.
    RGB 128x128; `style` is "spec" (training) or "holdout" (see the module docstring)."""
    img = _background(rng, style)
    if style == "spec":
        edge, blur = ("hard" if rng.random() < P_HARD_EDGES else "antialiased"), 0.0
    else:
        edge, blur = "antialiased", float(rng.uniform(0.4, 1.0))
    for obj in scene.objects:
        alpha = object_coverage(obj, edge, blur)[..., None]
        img = img * (1 - alpha) + np.asarray(obj.fill, dtype=np.float32) * alpha
    sigma = rng.uniform(0, MAX_NOISE_SIGMA)
    noisy = img + rng.normal(0.0, sigma, img.shape)
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))  # (H, W, 3): RGB
