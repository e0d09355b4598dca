"""One fixed colour per class, used by every figure (background black, ignore white).

Greys are kept for what is not a class (background, ignore, ink predicted as background, classes not
seen yet), so no class colour is a grey: tab10, with digit 7's grey replaced by chartreuse."""

from __future__ import annotations

import numpy as np

from csslab.core.constants import IGNORE

# background, digits 0..9 (tab10 but digit 7), ignore
CLASS_COLORS = np.array(
    [[0, 0, 0], [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
     [140, 86, 75], [227, 119, 194], [127, 255, 0], [188, 189, 34], [23, 190, 207]], dtype=np.uint8)
IGNORE_COLOR = np.array([255, 255, 255], dtype=np.uint8)


def colorize(mask: np.ndarray) -> np.ndarray:
    """Mask in results' class space (0 = background, d+1 = digit d, 255 = ignore) -> RGB uint8."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(CLASS_COLORS)] = CLASS_COLORS
    lut[IGNORE] = IGNORE_COLOR
    return lut[np.asarray(mask)]


def label_colormap(class_order):
    """A matplotlib colormap for *channel* labels (0 = background, c = class_order[c-1])."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    colors = [CLASS_COLORS[0]] + [CLASS_COLORS[d + 1] for d in class_order]
    colors = colors + [IGNORE_COLOR] * (256 - len(colors))
    cmap = ListedColormap(np.array(colors) / 255.0)
    return cmap, BoundaryNorm(np.arange(257) - 0.5, 256)


def class_hex(index: int) -> str:
    """'#rrggbb' of class ``index`` in results' class space (0 = background, d+1 = digit d)."""
    return "#%02x%02x%02x" % tuple(int(v) for v in CLASS_COLORS[index])


def legend_handles(names):
    """Matplotlib patches, one per class of ``names`` (results' class order), for a legend."""
    from matplotlib.patches import Patch

    return [Patch(facecolor=class_hex(k), edgecolor="#888888", label=name) for k, name in enumerate(names)]


# what the background-shift chart calls the four fates of an old class's pixels
SHIFT_PARTS = (("correct", "kept its class", "#2ca02c"), ("to_other_old", "another old class", "#9467bd"),
               ("to_new", "a new class", "#ff7f0e"), ("to_background", "background", "#333333"))
# and of a background pixel: kept as background (the colour of "predicted as background"), or taken for a digit
BACKGROUND_PARTS = (("correct", "background", "#333333"), ("to_old", "another old class", "#9467bd"),
                    ("to_new", "a new class", "#ff7f0e"))
