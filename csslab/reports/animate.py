"""Animations over training (GIF, drawn with Pillow: no ffmpeg, no matplotlib per frame).

Each frame is the static part of the picture (labels, legend, colour bar; drawn once) plus the
data of one saved frame of frames.npz, mapped onto one fixed palette so colours do not flicker.
A frame where a new task begins gets a red banner and is held longer.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from csslab.core.words import task_of
from csslab.core.files import atomic_open
from csslab.core.colors import CLASS_COLORS
from csslab.reports.plots import GHOST, overlay, task_starts
from csslab.reports.tables import RunData

FRAME_MS, TASK_START_MS, LAST_MS = 150, 1500, 3000
BANNER = (214, 39, 40)
UNSEEN = (230, 230, 230)
TEXT, MUTED = (20, 20, 20), (90, 90, 90)
N_LEVELS = 96
MAX_FRAMES = 150  # longer runs show an evenly spaced selection (every task's first and last frame kept)


@lru_cache(maxsize=None)
def _font(size: int, bold: bool = False):
    try:
        import matplotlib

        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)
    except (ImportError, OSError):
        return ImageFont.load_default(size)


@lru_cache(maxsize=None)
def _blues() -> np.ndarray:
    """The colour scale of row shares: N_LEVELS RGB rows from white to dark blue."""
    from matplotlib import colormaps

    return (colormaps["Blues"](np.linspace(0, 1, N_LEVELS))[:, :3] * 255).astype(np.uint8)


@lru_cache(maxsize=None)
def _palette_image() -> Image.Image:
    """One palette for every frame: class colours, greys, the blue scale, red-to-white for the banner."""
    greys = np.repeat(np.linspace(0, 255, 80).astype(np.uint8)[:, None], 3, axis=1)
    reds = np.linspace(BANNER, (255, 255, 255), 12).astype(np.uint8)
    colors = np.concatenate([CLASS_COLORS, greys, _blues(), reds, np.array([UNSEEN], dtype=np.uint8)])
    flat = np.zeros((256, 3), dtype=np.uint8)
    flat[: len(colors)] = colors
    image = Image.new("P", (1, 1))
    image.putpalette(flat.ravel().tolist())
    return image


def _to_palette(image: Image.Image) -> Image.Image:
    return image.quantize(palette=_palette_image(), dither=Image.Dither.NONE)


def _save_gif(frames: list[Image.Image], durations: list[int], path) -> Path:
    with atomic_open(path) as file:
        frames[0].save(file, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0,
                       optimize=False, disposal=1)
    return Path(path)


def frame_indices(task: np.ndarray, limit: int = MAX_FRAMES) -> list[int]:
    """Which saved frames to animate: all of them, or ``limit`` evenly spaced ones plus the first
    and last frame of every task."""
    n = len(task)
    if n <= limit:
        return list(range(n))
    keep = set(np.linspace(0, n - 1, limit).round().astype(int).tolist())
    keep |= {i for i in range(n) if i == 0 or i == n - 1 or task[i] != task[i - 1] or task[i] != task[i + 1]}
    return sorted(keep)


def _classes_text(run: RunData, k: int) -> str:
    classes = run.tasks[k].get("classes", []) if k < len(run.tasks) else []
    return ("class " if len(classes) == 1 else "classes ") + (", ".join(map(str, classes)) or "?")


def _status(draw, run: RunData, step: int, total: int, k: int, starts: bool, y: int, width: int) -> None:
    """The frame's status line; a red banner when task ``k`` begins here."""
    if starts:
        draw.rectangle((0, y, width, y + 26), fill=BANNER)
        text = f"{task_of(k, run.n_tasks)} starts: now learning {_classes_text(run, k)}"
        draw.text((width // 2, y + 13), text, font=_font(14, True), fill=(255, 255, 255), anchor="mm")
    else:
        text = f"step {step} of {total}   ·   {task_of(k, run.n_tasks)}: learning {_classes_text(run, k)}"
        draw.text((width // 2, y + 13), text, font=_font(14), fill=TEXT, anchor="mm")


class _Timeline:
    """A bar over all training steps, split into tasks, filled up to the current step."""

    def __init__(self, frames: dict, x0: int, x1: int, y: int):
        self.x0, self.x1, self.y = x0, x1, y
        starts = task_starts(frames)
        self.total = max(int(frames["step"][-1]), 1)
        self.bounds = [(s, starts[i + 1][0] if i + 1 < len(starts) else self.total, k)
                       for i, (s, k) in enumerate(starts)]

    def x(self, step: int) -> int:
        return self.x0 + round((self.x1 - self.x0) * step / self.total)

    def draw(self, draw, step: int) -> None:
        y, h = self.y, 18
        draw.rectangle((self.x0, y, self.x1, y + h), fill=(238, 238, 238))
        draw.rectangle((self.x0, y, self.x(step), y + h), fill=tuple(_blues()[40]))
        for start, end, k in self.bounds:
            draw.line((self.x(start), y - 3, self.x(start), y + h + 3), fill=TEXT, width=2)
            draw.text(((self.x(start) + self.x(end)) // 2, y + h // 2), f"task {k}", font=_font(10),
                      fill=TEXT, anchor="mm")
        draw.rectangle((self.x0, y, self.x1, y + h), outline=MUTED)
        cx = self.x(step)
        draw.polygon([(cx - 5, y + h + 9), (cx + 5, y + h + 9), (cx, y + h + 1)], fill=BANNER)
        draw.text((self.x0 - 8, y + h // 2), "training", font=_font(10), fill=MUTED, anchor="rm")


def confusion_gif(run: RunData, path) -> Path:
    """Row-normalised confusion matrix (truth × prediction, bg, 0..9) at every saved frame."""
    frames = run.frames
    names = run.short_names
    n = len(names)
    cell, x0, y0 = 38, 96, 96
    width, height = x0 + n * cell + 90, y0 + n * cell + 130
    base = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(base)
    draw.text((width // 2, 16), "How the test pixels of each class are predicted during training",
              font=_font(14, True), fill=TEXT, anchor="mm")
    draw.text((width // 2, 38), run.title, font=_font(12), fill=MUTED, anchor="mm")
    x_end, y_end = x0 + n * cell, y0 + n * cell
    for c, name in enumerate(names):
        cx, cy = x0 + c * cell + cell // 2, y0 + c * cell + cell // 2
        draw.text((cx, y_end + 10), name, font=_font(12), fill=TEXT, anchor="mm")
        draw.rectangle((cx - 5, y_end + 20, cx + 5, y_end + 30), fill=tuple(CLASS_COLORS[c]), outline=MUTED)
        draw.text((x0 - 24, cy), name, font=_font(12), fill=TEXT, anchor="rm")
        draw.rectangle((x0 - 18, cy - 5, x0 - 8, cy + 5), fill=tuple(CLASS_COLORS[c]), outline=MUTED)
    draw.text(((x0 + x_end) // 2, y_end + 44), "predicted class", font=_font(13, True), fill=TEXT, anchor="mm")
    label = Image.new("RGB", (n * cell, 20), (255, 255, 255))
    ImageDraw.Draw(label).text((n * cell // 2, 10), "true class", font=_font(13, True), fill=TEXT, anchor="mm")
    base.paste(label.rotate(90, expand=True), (x0 - 76, y0))
    bar_x = x_end + 16  # colour bar of the row shares
    blues = _blues()
    for i in range(n * cell):
        draw.line((bar_x, y_end - i, bar_x + 14, y_end - i), fill=tuple(blues[i * N_LEVELS // (n * cell)]))
    draw.rectangle((bar_x, y0, bar_x + 14, y_end), outline=MUTED)
    for share in (0, 0.5, 1):
        draw.text((bar_x + 18, y_end - share * n * cell), f"{share:.0%}", font=_font(11), fill=TEXT, anchor="lm")
    draw.text((bar_x + 7, y0 - 12), "of row", font=_font(10), fill=MUTED, anchor="mm")
    notes = ("Each row: where one true class's pixels go (numbers: % of the row).",
             "Grey rows: the class is not part of any task seen so far (not evaluated).")
    for i, note in enumerate(notes):
        draw.text((width // 2, height - 34 + 16 * i), note, font=_font(11), fill=MUTED, anchor="mm")
    timeline = _Timeline(frames, x0, x_end, y_end + 62)

    def paint(image, i):
        cm = frames["confusion"][i]
        draw = ImageDraw.Draw(image)
        rows = cm.sum(1)
        share = cm / np.maximum(rows, 1)[:, None]
        for t in range(n):
            for p in range(n):
                box = (x0 + p * cell, y0 + t * cell, x0 + (p + 1) * cell - 1, y0 + (t + 1) * cell - 1)
                if rows[t] == 0:
                    draw.rectangle(box, fill=UNSEEN)
                    continue
                v = share[t, p]
                draw.rectangle(box, fill=tuple(blues[min(int(v * N_LEVELS), N_LEVELS - 1)]),
                               outline=(60, 60, 60) if t == p else None)
                if v >= 0.005:
                    draw.text((box[0] + cell // 2, box[1] + cell // 2), f"{v * 100:.0f}", font=_font(11),
                              fill=(255, 255, 255) if v > 0.55 else TEXT, anchor="mm")

    return _write_frames(frames, base, paint, run, width, timeline, path)


def predictions_gif(run: RunData, path, scale: int = 2) -> Path:
    """The fixed test scenes: scene, ground truth and the prediction at every saved frame."""
    frames = run.frames
    scenes, truth = frames["images"], frames["truth"]
    n, size = len(scenes), scenes.shape[-1] * scale
    gap, x0, y0 = 6, 118, 92
    width, height = x0 + n * (size + gap) + 4, y0 + 3 * (size + gap) + 96

    def tile(rgb: np.ndarray) -> Image.Image:
        return Image.fromarray(rgb).resize((size, size), Image.Resampling.NEAREST)

    base = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(base)
    draw.text((width // 2, 16), f"Predictions on {n} fixed test scenes during training", font=_font(14, True),
              fill=TEXT, anchor="mm")
    draw.text((width // 2, 38), run.title, font=_font(12), fill=MUTED, anchor="mm")
    for r, label in enumerate(("scene", "ground truth", "prediction")):
        draw.text((x0 - 10, y0 + r * (size + gap) + size // 2), label, font=_font(13, True), fill=TEXT, anchor="rm")
    for j in range(n):
        grey = (np.clip(scenes[j], 0, 1) * 255).astype(np.uint8)
        base.paste(tile(np.repeat(grey[..., None], 3, axis=-1)), (x0 + j * (size + gap), y0))
        base.paste(tile(overlay(scenes[j], truth[j])), (x0 + j * (size + gap), y0 + size + gap))
    legend_y = y0 + 3 * (size + gap) + 8
    entries = [(tuple(CLASS_COLORS[c]), name) for c, name in enumerate(run.short_names)]
    entries.append(((GHOST,) * 3, "faint: digit ink predicted as background"))
    x = x0
    for color, name in entries:
        draw.rectangle((x, legend_y, x + 14, legend_y + 14), fill=color, outline=MUTED)
        draw.text((x + 19, legend_y + 7), name, font=_font(12), fill=TEXT, anchor="lm")
        x += 26 + int(draw.textlength(name, font=_font(12))) + 12
    draw.text((x0 - 10, legend_y + 7), "classes", font=_font(12, True), fill=TEXT, anchor="rm")
    timeline = _Timeline(frames, x0, width - 40, legend_y + 36)

    def paint(image, i):
        pred = frames["pred"][i]
        for j in range(n):
            image.paste(tile(overlay(scenes[j], pred[j])), (x0 + j * (size + gap), y0 + 2 * (size + gap)))

    return _write_frames(frames, base, paint, run, width, timeline, path)


def _write_frames(frames, base, paint, run, width, timeline, path):
    """One GIF frame per selected stored frame: ``paint(image, i)`` on a copy of ``base``, then the
    status line and the training timeline; task starts are held longer."""
    images, durations = [], []
    task = np.asarray(frames["task"])
    for i in frame_indices(task):
        image = base.copy()
        paint(image, i)
        draw = ImageDraw.Draw(image)
        starts = i == 0 or task[i] != task[i - 1]
        step = int(frames["step"][i])
        _status(draw, run, step, timeline.total, int(task[i]), starts, 54, width)
        timeline.draw(draw, step)
        images.append(_to_palette(image))
        durations.append(TASK_START_MS if starts else FRAME_MS)
    durations[-1] = LAST_MS
    return _save_gif(images, durations, path)
