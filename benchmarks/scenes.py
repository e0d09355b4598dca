"""Scene generation speed: csslab's vectorised generator against a per-scene Python loop.

    python benchmarks/scenes.py [--n 5000] [--n-loop 500] [--repeats 3]

Both run in this process on the same embedded train digits and the same SceneConfig; each is timed
`--repeats` times, interleaved (so a busy machine slows both alike), and the best run counts. A third
line, the floor, only allocates the two returned arrays and writes them once: no generator can beat it.
"""

import argparse
import time

import numpy as np

from csslab.constants import BACKGROUND, N_DIGITS
from csslab.data.digits import load_digits
from csslab.data.scenes import SceneConfig, generate_scenes


def loop_scenes(images, labels, n, config=SceneConfig(), seed=0):
    """The same algorithm, one scene at a time, the way the original MNIST-Extended generator works.

    Per scene: draw k, then per digit draw an instance and rejection-sample a position with a Python
    IoU check against the digits already placed (a digit still clashing after max_tries is dropped),
    paste it into a float image with max, and keep a float64 one-hot target [S, S, 10] per scene, as
    the original does; the mask is the target's argmax where the target's max is ink.
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

    def vectorised_levels(n):
        return generate_scenes(images, labels, n, config, seed=0, levels=True)

    def loop(n):
        return loop_scenes(images, labels, n, config, seed=0)

    def output_only(n):  # fresh memory, as generate_scenes returns: the kernel zeroes it on first touch
        np.empty((n, config.size, config.size), dtype=np.float32).fill(0.5)
        np.empty((n, config.size, config.size), dtype=np.uint8).fill(1)

    vectorised(args.n)  # warm-up: first-touch of the output memory, imports, caches
    rates = {"vectorised": 0.0, "levels": 0.0, "loop": 0.0, "floor": 0.0}
    for _ in range(args.repeats):  # interleaved, so load from other processes hits all alike
        rates["vectorised"] = max(rates["vectorised"], rate(vectorised, args.n))
        rates["levels"] = max(rates["levels"], rate(vectorised_levels, args.n))
        rates["loop"] = max(rates["loop"], rate(loop, args.n_loop))
        rates["floor"] = max(rates["floor"], rate(output_only, args.n))
    v_scenes, v_masks = vectorised(args.n_loop)
    l_scenes, l_masks = loop(args.n_loop)
    print(f"scene generation, {config.size}x{config.size}, {config.min_digits}-{config.max_digits} digits, "
          f"embedded train digits")
    print(f"  vectorised  {rates['vectorised']:>10,.0f} scenes/s   (n={args.n})")
    print(f"  uint8 levels{rates['levels']:>10,.0f} scenes/s   (n={args.n}; the same scenes as intensity levels)")
    print(f"  loop        {rates['loop']:>10,.0f} scenes/s   (n={args.n_loop})")
    print(f"  ratio       {rates['vectorised'] / rates['loop']:>10,.0f}x float32 output, "
          f"{rates['levels'] / rates['loop']:,.0f}x uint8 levels, against the per-scene loop")
    print(f"  floor       {rates['floor']:>10,.0f} scenes/s   just allocating and writing the outputs once, "
          f"which caps the ratio at {rates['floor'] / rates['loop']:,.0f}x")
    pixels = config.size * config.size
    print(f"  sanity: ink pixels per scene {np.mean(v_masks > 0) * pixels:.0f} (vectorised) vs "
          f"{np.mean(l_masks > 0) * pixels:.0f} (loop); "
          f"mean intensity {v_scenes.mean():.4f} vs {l_scenes.mean():.4f}")


if __name__ == "__main__":
    main()
