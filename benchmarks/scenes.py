"""Scene generation speed: csslab's vectorised generator against per-scene Python loops.

    python benchmarks/scenes.py [--n 5000] [--n-loop 500] [--repeats 3]

Two baselines run the same algorithm one scene at a time: `original`, structured the way the original
MNIST-Extended generator works (its per-scene steps, written here from its description, not its code),
and `lean`, a tightened loop that keeps only the work the algorithm needs. All run in this process on
the same embedded train digits and SceneConfig; each is timed `--repeats` times, interleaved (so a busy
machine slows all alike), and the best run counts. The floor only allocates the two returned arrays and
writes them once: no generator can beat it.
"""

import argparse
import time

import numpy as np

from csslab.core.constants import BACKGROUND, N_DIGITS
from csslab.data.digits import load_digits
from csslab.data.scenes import SceneConfig, generate_scenes


def _box_iou(a, b):
    """IoU of two boxes given as dicts of xmin, ymin, xmax, ymax (the original's box format)."""
    w = max(0, min(a["xmax"], b["xmax"]) - max(a["xmin"], b["xmin"]))
    h = max(0, min(a["ymax"], b["ymax"]) - max(a["ymin"], b["ymin"]))
    inter = w * h
    area = (a["xmax"] - a["xmin"]) * (a["ymax"] - a["ymin"]) + (b["xmax"] - b["xmin"]) * (b["ymax"] - b["ymin"])
    return inter / (area - inter)


def original_scenes(images, labels, n, config=SceneConfig(), seed=0):
    """One scene at a time, structured as the original MNIST-Extended generator (LukeTonin's
    simple-deep-learning, used by the seed notebook) does it:

    per scene a float64 canvas [S, S, 1] and a float64 target [S, S, 10]; per digit a normalised float
    copy of the instance, corners drawn one at a time and checked against dict boxes by an IoU function,
    the digit added to the canvas and the canvas clipped to 1, then added to its class's target layer
    and the whole target clipped; the scenes and targets are stacked at the end and the mask is the
    target's argmax where its max is ink. Two differences from csslab's rules, both the original's: where
    digits overlap their intensities add (clipped to 1) instead of the brighter winning, which shows as
    a slightly higher mean intensity in the sanity line; and (as csslab, not the original, which draws
    up to 1,000 times and then gives up the scene's remaining digits) a digit is dropped after max_tries.
    """
    rng = np.random.default_rng(seed)
    size, (h, w) = config.size, images.shape[1:]
    inputs, targets = [], []
    for _ in range(n):
        canvas = np.zeros((size, size, 1))
        target = np.zeros((size, size, N_DIGITS))
        boxes = []
        for j in rng.integers(len(images), size=rng.integers(config.min_digits, config.max_digits + 1)):
            digit = images[j][..., None] / 255.0  # h, w, 1 float64
            for _ in range(config.max_tries):
                x, y = int(rng.integers(size - w + 1)), int(rng.integers(size - h + 1))
                box = {"xmin": x, "ymin": y, "xmax": x + w, "ymax": y + h}
                if all(_box_iou(other, box) <= config.max_box_iou for other in boxes):
                    break
            else:
                continue
            boxes.append(box)
            canvas[y:y + h, x:x + w] = canvas[y:y + h, x:x + w] + digit
            np.clip(canvas, 0, 1, out=canvas)
            top = max(target[y:y + h, x:x + w, [labels[j]]].max(), digit.max())
            target[y:y + h, x:x + w, [labels[j]]] = digit + target[y:y + h, x:x + w, [labels[j]]]
            np.clip(target, 0, top, out=target)
        inputs.append(canvas)
        targets.append(target)
    inputs, targets = np.stack(inputs), np.stack(targets)  # n, S, S, 1; n, S, S, 10
    masks = np.where(targets.max(axis=-1) >= config.ink, targets.argmax(axis=-1) + 1, BACKGROUND)
    return inputs[..., 0].astype(np.float32), masks.astype(np.uint8)


def loop_scenes(images, labels, n, config=SceneConfig(), seed=0):
    """The same algorithm, one scene at a time, as lean as a per-scene loop gets.

    Per scene: draw k, then per digit draw an instance and rejection-sample a position with a Python
    IoU check against the digits already placed (a digit still clashing after max_tries is dropped),
    paste it into a float image with max, and keep a float64 one-hot target [S, S, 10] per scene; the
    mask is the target's argmax where the target's max is ink.
    """
    rng = np.random.default_rng(seed)
    size, (h, w) = config.size, images.shape[1:]
    scenes = np.zeros((n, size, size), dtype=np.float32)
    masks = np.zeros((n, size, size), dtype=np.uint8)
    for i in range(n):
        image = np.zeros((size, size))
        target = np.zeros((size, size, N_DIGITS))  # the original's float64 one-hot target
        boxes = []
        for _ in range(rng.integers(config.min_digits, config.max_digits + 1)):
            j = rng.integers(len(images))
            digit = images[j] / 255.0
            for _ in range(config.max_tries):
                r, c = int(rng.integers(size - h + 1)), int(rng.integers(size - w + 1))
                ok = True
                for r2, c2 in boxes:
                    inter = max(0, h - abs(r - r2)) * max(0, w - abs(c - c2))
                    if inter / (2 * h * w - inter) > config.max_box_iou:
                        ok = False
                        break
                if ok:
                    break
            if not ok:
                continue
            boxes.append((r, c))
            np.maximum(image[r:r + h, c:c + w], digit, out=image[r:r + h, c:c + w])
            layer = target[r:r + h, c:c + w, labels[j]]
            np.maximum(layer, digit, out=layer)
        scenes[i] = image
        masks[i] = np.where(target.max(axis=-1) >= config.ink, target.argmax(axis=-1) + 1, BACKGROUND)
    return scenes, masks


def rate(run, n):
    """Scenes per second of one run."""
    start = time.perf_counter()
    run(n)
    return n / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="scenes per vectorised run")
    parser.add_argument("--n-loop", type=int, default=500, help="scenes per loop run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    digits = load_digits("embedded")
    images, labels = digits.train_images, digits.train_labels
    config = SceneConfig()

    def vectorised(n):
        return generate_scenes(images, labels, n, config, seed=0)

    def vectorised_levels(n):  # the path csslab takes: make_scenes generates levels, caches them, divides once
        return generate_scenes(images, labels, n, config, seed=0, levels=True)

    def loop(n):
        return loop_scenes(images, labels, n, config, seed=0)

    def original(n):
        return original_scenes(images, labels, n, config, seed=0)

    def output_only(n):  # fresh memory, as generate_scenes returns: the kernel zeroes it on first touch
        np.empty((n, config.size, config.size), dtype=np.float32).fill(0.5)
        np.empty((n, config.size, config.size), dtype=np.uint8).fill(1)

    vectorised(args.n)  # warm-up: first-touch of the output memory, imports, caches
    rates = {"vectorised": 0.0, "levels": 0.0, "original": 0.0, "loop": 0.0, "floor": 0.0}
    for _ in range(args.repeats):  # interleaved, so load from other processes hits all alike
        rates["vectorised"] = max(rates["vectorised"], rate(vectorised, args.n))
        rates["levels"] = max(rates["levels"], rate(vectorised_levels, args.n))
        rates["original"] = max(rates["original"], rate(original, args.n_loop))
        rates["loop"] = max(rates["loop"], rate(loop, args.n_loop))
        rates["floor"] = max(rates["floor"], rate(output_only, args.n))
    v_scenes, v_masks = vectorised(args.n_loop)
    l_scenes, l_masks = loop(args.n_loop)
    o_scenes, o_masks = original(args.n_loop)
    print(f"scene generation, {config.size}x{config.size}, {config.min_digits}-{config.max_digits} digits, "
          f"embedded train digits")
    print(f"  vectorised  {rates['vectorised']:>10,.0f} scenes/s   (n={args.n})")
    print(f"  uint8 levels{rates['levels']:>10,.0f} scenes/s   (n={args.n}; the same scenes as intensity levels: "
          f"what csslab's make_scenes generates and caches)")
    print(f"  original    {rates['original']:>10,.0f} scenes/s   (n={args.n_loop}; per-scene loop as the original)")
    print(f"  lean loop   {rates['loop']:>10,.0f} scenes/s   (n={args.n_loop}; per-scene loop, tightened)")
    for name in ("original", "loop"):
        print(f"  ratio       {rates['vectorised'] / rates[name]:>10,.0f}x float32 output, "
              f"{rates['levels'] / rates[name]:,.0f}x uint8 levels, against the {name.replace('loop', 'lean loop')}")
    print(f"  floor       {rates['floor']:>10,.0f} scenes/s   just allocating and writing the outputs once, "
          f"which caps the ratio at {rates['floor'] / rates['original']:,.0f}x (original), "
          f"{rates['floor'] / rates['loop']:,.0f}x (lean loop)")
    pixels = config.size * config.size
    print(f"  sanity: ink pixels per scene {np.mean(v_masks > 0) * pixels:.0f} (vectorised) vs "
          f"{np.mean(o_masks > 0) * pixels:.0f} (original) vs {np.mean(l_masks > 0) * pixels:.0f} (lean loop); "
          f"mean intensity {v_scenes.mean():.4f} vs {o_scenes.mean():.4f} vs {l_scenes.mean():.4f}")


if __name__ == "__main__":
    main()
