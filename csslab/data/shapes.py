"""Procedural shapes: the pretraining task of ``model.pretrain=shapes`` (``csslab.training.pretrain``).

A canvas holds 2..4 shapes, each a stroke (a thick quadratic Bezier curve), an ellipse or a convex polygon
(3..6 sides), filled or drawn as an outline, at a random place, size, aspect, angle and brightness, with a
one-pixel soft edge as MNIST's ink has. Its mask labels each pixel with the class of the brightest shape
there when that is at least ``ink``, else background: the scenes' rule (docs/architecture.md#data-and-scenes), with
classes that no digit is. Vectorised over canvases (a loop over the few shape slots), seeded, no download.
"""

from __future__ import annotations

import numpy as np

from csslab.core.constants import BACKGROUND

SHAPE_CLASSES = ("background", "stroke", "ellipse", "polygon")  # mask value = index
STROKE, ELLIPSE, POLYGON = 1, 2, 3
SHAPES_VERSION = 1  # bump when the output for a given seed changes: cached pretrained weights stop matching
MIN_SHAPES, MAX_SHAPES = 2, 4  # per canvas, as the digits per scene
MAX_SIDES = 6
SEGMENTS = 8  # a stroke's curve is drawn as this many straight segments
CHUNK = 256  # canvases drawn at a time, so the per-pixel arrays stay small


def make_shapes(n: int, size: int = 60, seed=0, ink: float = 0.5, return_kinds: bool = False):
    """``n`` canvases: images float32 [n,1,size,size] in [0,1] and masks uint8 [n,size,size] (SHAPE_CLASSES).

    ``seed``: an int or a tuple of ints (numpy's SeedSequence), e.g. (seed, step) for a batch per step.
    ``return_kinds``: also the class of each shape slot, int64 [n, MAX_SHAPES] (0 = empty slot).
    """
    if n < 0 or size < 16:
        raise ValueError(f"invalid make_shapes(n={n}, size={size}): n must be >= 0 and size >= 16")
    rng = np.random.default_rng(seed)
    p = _draw(rng, n, size)
    images = np.zeros((n, size, size), np.float32)
    masks = np.zeros((n, size, size), np.uint8)
    for start in range(0, n, CHUNK):
        part = slice(start, min(start + CHUNK, n))
        images[part], masks[part] = _paint({k: v[part] for k, v in p.items()}, size, ink)
    out = images[:, None], masks
    return (*out, p["kind"]) if return_kinds else out


def _draw(rng, n: int, size: int) -> dict:
    """Every random number of ``n`` canvases at once, per shape slot ([n, MAX_SHAPES] arrays)."""
    shape = (n, MAX_SHAPES)
    count = rng.integers(MIN_SHAPES, MAX_SHAPES + 1, n)
    kind = rng.integers(STROKE, POLYGON + 1, shape)
    kind[np.arange(MAX_SHAPES) >= count[:, None]] = BACKGROUND  # empty slots
    margin = size / 10
    drawn = {
        "kind": kind,
        "cy": rng.uniform(margin, size - margin, shape), "cx": rng.uniform(margin, size - margin, shape),
        "radius": rng.uniform(0.09, 0.22, shape) * size,  # a digit's ink is ~20 px tall on 60 px
        "aspect": rng.uniform(0.45, 1.0, shape),  # minor / major axis
        "angle": rng.uniform(0, np.pi, shape),
        "bend": rng.uniform(-0.8, 0.8, shape),  # a stroke's control point off its chord, in radii
        "sides": rng.integers(3, MAX_SIDES + 1, shape),
        "filled": rng.random(shape) < 0.4,  # else an outline of ``thickness``
        "thickness": rng.uniform(1.5, 3.5, shape),  # pixels, as MNIST's pen at this scale
        "brightness": rng.uniform(0.6, 1.0, shape),
    }
    return {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in drawn.items()}


def _paint(p: dict, size: int, ink: float):
    """Images and masks of the canvases whose parameters are ``p`` (a chunk of ``_draw``'s arrays)."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    best = np.zeros((len(p["kind"]), size, size), np.float32)
    label = np.zeros(best.shape, np.uint8)
    for j in range(MAX_SHAPES):
        intensity = np.zeros(best.shape, np.float32)
        for kind, distance in ((STROKE, _stroke_distance), (ELLIPSE, _edge_distance), (POLYGON, _edge_distance)):
            drawn = np.flatnonzero(p["kind"][:, j] == kind)  # each kind's canvases drawn by its own code
            if len(drawn):
                s = {k: v[drawn, j, None, None] for k, v in p.items()}  # m, 1, 1: broadcast over pixels
                d = distance(s, xx - s["cx"], yy - s["cy"])  # m, S, S
                band = np.where(s["filled"] & (kind != STROKE), -d, s["thickness"] / 2 - np.abs(d))
                intensity[drawn] = np.clip(band + 0.5, 0, 1) * s["brightness"]  # a one-pixel soft edge
        brighter = intensity > best
        best = np.where(brighter, intensity, best)
        label = np.where(brighter, p["kind"][:, j, None, None].astype(np.uint8), label)
    return best, np.where(best >= ink, label, BACKGROUND).astype(np.uint8)


def _edge_distance(s: dict, dx, dy):
    """Signed distance in pixels (negative inside) to the boundary of the slot's ellipse or polygon: its level
    set ``f = 1`` in the shape's own frame, to first order ``(f - 1) / |grad f|``."""
    cos, sin = np.cos(s["angle"]), np.sin(s["angle"])
    u = (dx * cos + dy * sin) / s["radius"]  # m, S, S: the unit circle's (the polygon's inscribed) frame
    v = (dy * cos - dx * sin) / (s["radius"] * s["aspect"])
    if s["kind"].flat[0] == ELLIPSE:
        f = np.sqrt(u * u + v * v)
    else:
        f = np.full(u.shape, -np.inf, np.float32)
        for i in range(MAX_SIDES):  # a side past the polygon's own repeats an earlier one
            turn = s["angle"] + np.float32(2 * np.pi * i) / s["sides"].astype(np.float32)
            f = np.maximum(f, u * np.cos(turn) + v * np.sin(turn))
        f = f / np.cos(np.pi / s["sides"]).astype(np.float32)
    gy, gx = np.gradient(f, axis=(1, 2))
    return (f - 1) / np.maximum(np.sqrt(gx * gx + gy * gy), np.float32(1e-3))


def _stroke_distance(s: dict, dx, dy):
    """Distance in pixels to the slot's curve: a quadratic Bezier across the shape's major axis, bent by
    ``bend``, as ``SEGMENTS`` straight segments."""
    cos, sin, r = np.cos(s["angle"]), np.sin(s["angle"]), s["radius"]
    t = np.linspace(0, 1, SEGMENTS + 1, dtype=np.float32)  # points along the curve
    along = (2 * t - 1) * r  # m, 1, points: the chord from -r to r
    across = 4 * t * (1 - t) * s["bend"] * r  # the control point's pull, 0 at both ends
    py, px = along * sin + across * cos, along * cos - across * sin  # m, 1, points
    nearest = np.full(dx.shape, np.inf, np.float32)
    for i in range(SEGMENTS):
        ay, ax = py[..., i:i + 1], px[..., i:i + 1]
        by, bx = py[..., i + 1:i + 2] - ay, px[..., i + 1:i + 2] - ax
        h = np.clip(((dy - ay) * by + (dx - ax) * bx) / np.maximum(by * by + bx * bx, 1e-9), 0, 1)
        nearest = np.minimum(nearest, np.hypot(dy - ay - h * by, dx - ax - h * bx))
    return nearest
