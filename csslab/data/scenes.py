"""MNIST-Extended scenes: digits pasted at random places, generated vectorised over scenes and cached.

Scenes are *sampled* to a constraint (which digits may appear, which must), never filtered from a pool,
so every request gets exactly `n` scenes. See docs/architecture.md#data-and-scenes."""

from __future__ import annotations

import hashlib
import json
import numbers
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from csslab.core.config import ScenarioConfig
from csslab.core.constants import BACKGROUND, N_DIGITS
from csslab.data.cache import read_scenes, scene_file, scene_policy, worth_caching, write_scenes
from csslab.core.version import files_digest

GENERATOR_VERSION = 1  # bump when the output for a given seed changes: old cache files stop matching


# a digest of this module's source, part of every cache key: an edit to the generator that forgot
# GENERATOR_VERSION cannot serve scenes of the old code (it happened: a test set cached by a pre-release generator
# served every run of one machine). Any edit here regenerates the cache, which takes seconds. '' without readable
# source (e.g. a zipped install): the version alone keys the cache
CODE_DIGEST = files_digest([Path(__file__)], Path(__file__).parent)
CHUNK = 128  # scenes painted at a time, so their canvas stays in the CPU cache
PLACE_BATCH = 8192  # candidate corners drawn per placement round (few scenes left: many tries each)
_INV_LEVEL = np.float32(1 / 255)  # intensity = level * (1/255) in float32, the same everywhere


@dataclass(frozen=True)
class SceneConfig:
    """How scenes look. `max_tries` counts the draws of one digit's position, the first included. The defaults
    are the run configuration's (``ScenarioConfig``, which a run's ``scenario`` section sets them through)."""

    size: int = ScenarioConfig.size  # scenes are size x size pixels
    min_digits: int = ScenarioConfig.min_digits  # digits per scene, uniform in [min_digits, max_digits]
    max_digits: int = ScenarioConfig.max_digits
    max_box_iou: float = ScenarioConfig.max_box_iou  # largest IoU allowed between the 28x28 boxes of two digits
    ink: float = ScenarioConfig.ink  # a pixel is labelled with its digit when its intensity >= ink
    # at 60x60 and IoU 0.2 only ~half of the 4th digits find a place in 20 draws
    max_tries: int = ScenarioConfig.max_tries

    def __post_init__(self):
        _check(self, "size", int, ">= 28 (a digit must fit)", lambda v: v >= 28)
        _check(self, "min_digits", int, ">= 1", lambda v: v >= 1)
        _check(self, "max_digits", int, f">= min_digits ({self.min_digits})", lambda v: v >= self.min_digits)
        _check(self, "max_box_iou", float, "in [0, 1]", lambda v: 0 <= v <= 1)
        _check(self, "ink", float, "in (0, 1]", lambda v: 0 < v <= 1)
        _check(self, "max_tries", int, ">= 1", lambda v: v >= 1)


def _check(config, name, kind, valid, ok):
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real if kind is float else numbers.Integral) \
            or not ok(value):
        raise ValueError(f"SceneConfig.{name}={value!r} is invalid: must be {kind.__name__} {valid}")
    object.__setattr__(config, name, kind(value))  # plain int/float, so equal configs hash alike


@dataclass(frozen=True, eq=False)
class SceneMeta:
    """What was placed in each scene: filled slots first, -1 in empty slots."""

    labels: np.ndarray  # n, max_digits int64: digit class
    positions: np.ndarray  # n, max_digits, 2 int64: (row, col) of the digit's top-left corner
    digits: np.ndarray  # n, max_digits int64: index into the `images` the scenes were made from


def generate_scenes(images, labels, n, config=SceneConfig(), *, allowed=None, required=None, seed=0,
                    return_meta=False, levels=False):
    """`n` scenes float32 [n,S,S] in [0,1] and masks uint8 [n,S,S] (BACKGROUND, or digit d as d+1).

    `allowed`: digits that may appear (None: all); `required`: every scene holds at least one of these
    (None: no constraint). A scene draws k uniform in [min_digits, max_digits] digit instances: one from
    the required digits (if any), the others uniformly from the instances of allowed digits. Corners are
    uniform; a box with IoU > max_box_iou against an earlier box of its scene is re-drawn, and a digit
    still clashing after max_tries draws is dropped (so the IoU rule always holds and a crowded scene may
    hold fewer than min_digits). The required digit is placed first, so it is never dropped.
    Where digits overlap the brighter pixel wins; at equal intensity, the higher label.
    `return_meta=True` adds a SceneMeta. `levels=True` returns the scenes as uint8 intensity levels
    (scene = level / 255 exactly): a quarter of the memory, for storage or batch-wise conversion.
    """
    *out, _ = _generate(images, labels, n, config, allowed, required, seed, return_meta, levels)
    return tuple(out)


def _generate(images, labels, n, config, allowed, required, seed, return_meta, levels):
    """`generate_scenes`' arrays, then the number of candidate corners drawn (what the cache's rule weighs)."""
    images, labels = _check_digits(images, labels, config)
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n={n!r} is invalid: must be an int >= 0")
    pool, required_pool = _pools(labels, _digit_set(allowed, "allowed"), _digit_set(required, "required"))
    rng = np.random.default_rng(seed)
    slots = config.max_digits
    k = rng.integers(config.min_digits, slots + 1, size=n)  # n
    digits = pool[rng.integers(0, pool.size, size=(n, slots))]  # n, slots
    if required_pool is not None:
        digits[:, 0] = required_pool[rng.integers(0, required_pool.size, size=n)]
    positions, placed, draws = _place(rng, k, config, images.shape[1:])  # n, slots, 2; n, slots; int
    # Shuffle each scene's placed digits, empty slots last, so slot 0 is not always the required digit.
    order = np.argsort(rng.random((n, slots)) + ~placed, axis=1)  # n, slots
    placed = np.take_along_axis(placed, order, axis=1)
    digits = np.where(placed, np.take_along_axis(digits, order, axis=1), -1)
    positions = np.where(placed[..., None], np.take_along_axis(positions, order[..., None], axis=1), -1)
    scenes, masks = _paint(images, labels, digits, positions, config, levels)
    if not return_meta:
        return scenes, masks, draws
    return scenes, masks, SceneMeta(np.where(placed, labels[digits], -1), positions, digits), draws


def _check_digits(images, labels, config):
    images, labels = np.asarray(images), np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"images must be uint8 [N,H,W], got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers [N], N={len(images)}; got {labels.dtype} {labels.shape}")
    if max(images.shape[1:]) > config.size:
        raise ValueError(f"digits of {images.shape[1:]} pixels do not fit in a {config.size}-pixel scene")
    if labels.size and (labels.min() < 0 or labels.max() >= N_DIGITS):
        raise ValueError(f"labels must be digits 0..{N_DIGITS - 1}, got {labels.min()}..{labels.max()}")
    return np.ascontiguousarray(images), labels.astype(np.int64, copy=False)


def _digit_set(digits, name):
    """Sorted tuple of distinct digits, or None; rejects non-digits and an empty constraint."""
    if digits is None:
        return None
    values = tuple(sorted({int(d) for d in digits}))
    if not values or values[0] < 0 or values[-1] >= N_DIGITS:
        raise ValueError(f"{name}={values!r} is invalid: must be a non-empty set of digits 0..{N_DIGITS - 1} "
                         f"(None for no constraint)")
    return values


def _pools(labels, allowed, required):
    """Indices of the digit instances allowed in scenes, and of those that satisfy `required`."""
    if required is not None and allowed is not None and not set(required) <= set(allowed):
        raise ValueError(f"required={list(required)} is not a subset of allowed={list(allowed)}")
    pool = np.arange(len(labels)) if allowed is None else np.flatnonzero(np.isin(labels, allowed))
    if pool.size == 0:
        raise ValueError(f"no digit instance of allowed={list(allowed or ())} among the {len(labels)} given")
    if required is None:
        return pool, None
    required_pool = np.flatnonzero(np.isin(labels, required))
    if required_pool.size == 0:
        raise ValueError(f"no digit instance of required={list(required)} among the {len(labels)} given")
    return pool, required_pool


DIGIT_SHAPE = (28, 28)  # MNIST's and Fashion-MNIST's digits


def capacity(config: SceneConfig, digit_shape=DIGIT_SHAPE, enough: int | None = None) -> int:
    """How many digits of ``digit_shape`` fit in one scene under ``max_box_iou``: corners taken in raster order,
    each kept when it clashes with none kept before (at least this many fit; counting stops at ``enough``).
    Below ``min_digits`` no scene can hold the digits asked for, whatever ``max_tries``."""
    (h, w), kept = digit_shape, []
    for row in range(config.size - h + 1):
        for col in range(config.size - w + 1):
            overlaps = (max(h - abs(row - r), 0) * max(w - abs(col - c), 0) for r, c in kept)
            if all(inter / (2 * h * w - inter) <= config.max_box_iou for inter in overlaps):
                kept.append((row, col))
                if enough is not None and len(kept) >= enough:
                    return len(kept)
    return len(kept)


def _place(rng, k, config, digit_shape):
    """Corners [n, slots, 2], `placed` [n, slots] and the candidates drawn: rejection sampling, vectorised over
    scenes."""
    n, slots, (h, w) = len(k), config.max_digits, digit_shape
    rows, cols = config.size - h + 1, config.size - w + 1  # corner choices along each axis
    # Corner code = row * width + col: code_a - code_b + offset indexes clash[dr, dc] (IoU > max_box_iou
    # for corners (dr, dc) apart). Unplaced slots hold `empty`, which indexes a tail of False.
    width, offset = 2 * cols - 1, (rows - 1) * (2 * cols - 1) + cols - 1
    dr, dc = np.abs(np.arange(1 - rows, rows))[:, None], np.abs(np.arange(1 - cols, cols))
    inter = np.clip(h - dr, 0, None) * np.clip(w - dc, 0, None)  # 2R-1, 2C-1
    clash = (inter / (2 * h * w - inter) > config.max_box_iou).ravel()
    empty = clash.size + (rows - 1) * width + cols - offset  # empty - code + offset >= clash.size
    clash = np.concatenate([clash, np.zeros(empty + offset - clash.size + 1, dtype=bool)])
    codes, draws = np.full((n, slots), empty, dtype=np.int64), 0
    for slot in range(slots):
        todo, tries = np.flatnonzero(k > slot), config.max_tries  # scenes still drawing this slot
        while todo.size and tries:
            batch = min(tries, max(1, PLACE_BATCH // todo.size))  # candidates per scene this round
            draw = rng.integers(0, (rows, cols), size=(todo.size, batch, 2))  # m, b, 2
            draws += todo.size * batch
            code = draw[..., 0] * width + draw[..., 1]  # m, b
            ok = ~clash[codes[todo, None, :slot] + (offset - code[..., None])].any(axis=2)  # m, b
            first = ok.argmax(axis=1)  # m: the first good candidate, as if drawn one by one
            found = ok[np.arange(todo.size), first]  # m
            codes[todo[found], slot] = code[found, first[found]]
            todo, tries = todo[~found], tries - batch
    return np.stack(np.divmod(codes, width), axis=-1), codes != empty, draws


def _paint(images, labels, digits, positions, config, levels=False):
    """Scenes and masks from placed digits (filled slots first, -1 after), painted CHUNK scenes at a time."""
    n, slots = digits.shape
    size, (h, w) = config.size, images.shape[1:]
    table = _baked(images, labels, int(np.flatnonzero(_levels() >= config.ink)[0]))  # N, h, w
    n_placed = (digits >= 0).sum(axis=1)  # n
    chunk = max(1, min(CHUNK, n))
    corner = (np.arange(n) % chunk * size * size)[:, None] + np.maximum(positions, 0) @ [size, 1]  # n, slots
    row_offsets = np.arange(h) * size  # h
    canvas = np.empty(chunk * size * size, dtype=np.uint16)  # level << 8 | label, see _bake
    # rows[i]: the w pixels from canvas[i] on, as one item, so a digit row is pasted with one index
    rows = np.ndarray((canvas.size - w + 1,), np.dtype((np.void, 2 * w)), canvas, strides=(2,))
    scenes = np.empty((n, size, size), dtype=np.uint8 if levels else np.float32)
    masks = np.empty((n, size, size), dtype=np.uint8)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        canvas[:] = BACKGROUND  # level 0, label BACKGROUND
        first = table[digits[start:stop, 0]]  # m, h, w: every scene has a first digit
        rows[corner[start:stop, 0, None] + row_offsets] = first.view(rows.dtype)[..., 0]
        for slot in range(1, slots):
            here = start + np.flatnonzero(n_placed[start:stop] > slot)  # j
            index = corner[here, slot, None] + row_offsets  # j, h
            under = rows[index]  # j, h
            pixels = under.view(np.uint16).reshape(len(here), h, w)  # j, h, w
            np.maximum(pixels, table[digits[here, slot]], out=pixels)
            rows[index] = under
        pixels = canvas[:(stop - start) * size * size].reshape(-1, size, size)  # m, S, S
        np.copyto(masks[start:stop], pixels, casting="unsafe")  # the low byte: the label
        np.right_shift(pixels, 8, out=pixels)
        if levels:
            np.copyto(scenes[start:stop], pixels, casting="unsafe")
        else:
            _to_scenes(pixels, out=scenes[start:stop])
    return scenes, masks


_BAKED = {}  # (id(images), id(labels), ink) -> (weakref, weakref, table), for read-only digit arrays


def _baked(images, labels, ink):
    """`_bake`, reused across calls for the same read-only arrays (a Digits' arrays are read-only)."""
    key, frozen = (id(images), id(labels), ink), not (images.flags.writeable or labels.flags.writeable)
    hit = _BAKED.get(key)
    if frozen and hit and hit[0]() is images and hit[1]() is labels:
        return hit[2]
    table = _bake(images, labels, ink)
    if frozen:
        _BAKED[key] = (weakref.ref(images), weakref.ref(labels), table)
        while len(_BAKED) > 4:  # a few digit sets (train, test) at a time
            del _BAKED[next(iter(_BAKED))]
    return table


def _bake(images, labels, ink):
    """Patches uint16 [N, h, w] = level << 8 | label, the label byte being the mask value (digit + 1
    where level >= ink, else BACKGROUND): max() keeps the brighter pixel with its label, ties the higher."""
    table = images.astype(np.uint16) << 8  # N, h, w
    table |= np.where(images >= ink, (labels + 1).astype(np.uint16)[:, None, None], np.uint16(BACKGROUND))
    return table


def _to_scenes(levels, out=None):
    """float32 intensities level/255 (as a multiplication: faster than division, max exactly 1.0)."""
    return np.multiply(levels, _INV_LEVEL, out=out, dtype=np.float32)


def _levels():
    """The 256 intensities a scene pixel can take, computed exactly as `_to_scenes` does."""
    return _to_scenes(np.arange(256, dtype=np.uint8))  # 256


def make_scenes(images, labels, n, config=SceneConfig(), *, allowed=None, required=None, seed=0,
                cache_dir=None, source_key=""):
    """`generate_scenes`, cached on disk in an npz named by a hash of everything that shapes the output.

    `cache_dir`: None for `cache.scenes_dir()`, False for no cache. `source_key` names the digits (e.g.
    "embedded/train") for readability; the digit arrays themselves are hashed too. A file is read when present;
    a generated set is written only when `cache.worth_caching` says reading it back beats painting it again
    (docs/speed.md#the-scene-cache).
    """
    # seed None: fresh scenes every call, nothing to reuse
    if cache_dir is False or seed is None or scene_policy() == "off":
        return generate_scenes(images, labels, n, config, allowed=allowed, required=required, seed=seed)
    key = {
        "version": GENERATOR_VERSION, "code": CODE_DIGEST, "config": asdict(config), "n": int(n), "seed": seed,
        "allowed": _digit_set(allowed, "allowed"), "required": _digit_set(required, "required"),
        "source": source_key, "digits": _digest(images, labels),
    }
    name = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]
    path = scene_file(name, cache_dir)
    cached = read_scenes(path, (int(n), config.size, config.size))
    if cached is not None:
        return _to_scenes(cached[0]), cached[1]
    levels, masks, draws = _generate(images, labels, n, config, allowed, required, seed, False,
                                     True)  # levels: what the file stores; the scenes are level / 255 exactly
    if worth_caching(draws, levels.nbytes + masks.nbytes):
        write_scenes(path, levels, masks)
    return _to_scenes(levels), masks


def _digest(images, labels):
    digest = hashlib.blake2b(digest_size=16)
    for array in (np.ascontiguousarray(images), np.ascontiguousarray(labels, dtype=np.int64)):
        digest.update(f"{array.dtype}{array.shape}".encode() + array.tobytes())
    return digest.hexdigest()
