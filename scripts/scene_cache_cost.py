"""What the scene cache saves: for a few scene configurations, the time to paint N scenes against the time to
read their cache file back (and convert it, as a hit does), with the candidate corners the placement drew per
KB of file (what the cache's rule, ``csslab.data.cache.MIN_DRAWS_PER_KB``, weighs). Medians of REPEATS calls in one process, digits already
loaded; numbers of runs are not touched.

    python scripts/scene_cache_cost.py [N] [REPEATS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

from csslab.data import cache
from csslab.data.digits import load_digits
from csslab.data.scenes import SceneConfig, _generate, _to_scenes, make_scenes

CONFIGS = {
    "default (60 px, 2-4 digits, IoU 0.2, 20 tries)": SceneConfig(),
    "200 tries": SceneConfig(max_tries=200),
    "120 px, 6-12 digits, 100 tries": SceneConfig(size=120, min_digits=6, max_digits=12, max_tries=100),
    "4 digits, IoU 0, 200 tries": SceneConfig(min_digits=4, max_box_iou=0.0, max_tries=200),
    "4 digits, IoU 0, 2000 tries": SceneConfig(min_digits=4, max_box_iou=0.0, max_tries=2000),
}


def median_ms(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(n: int = 2000, repeats: int = 5) -> None:
    digits = load_digits("embedded")
    images, labels = digits.train_images, digits.train_labels
    print(f"{n} scenes; median of {repeats}; break-even rule: written at >= {cache.MIN_DRAWS_PER_KB} draws/KB")
    print(f"{'configuration':48s} {'MB':>6s} {'draws/KB':>9s} {'paint ms':>9s} {'read ms':>8s}  written by auto")
    for name, config in CONFIGS.items():
        levels, masks, draws = _generate(images, labels, n, config, None, None, 1, False, True)
        size = levels.nbytes + masks.nbytes
        paint = median_ms(lambda: make_scenes(images, labels, n, config, seed=1, cache_dir=False), repeats)
        with tempfile.TemporaryDirectory() as folder:
            path = cache.scene_file("x", folder)
            cache.write_scenes(path, levels, masks)
            shape = (n, config.size, config.size)
            read = median_ms(lambda: _to_scenes(cache.read_scenes(path, shape)[0]), repeats)  # what a hit does
        worth = draws >= cache.MIN_DRAWS_PER_KB * size / 1e3
        print(f"{name:48s} {size / 1e6:6.1f} {draws / (size / 1e3):9.1f} {paint:9.0f} {read:8.0f}  "
              f"{'yes' if worth else 'no'}")


if __name__ == "__main__":
    main(*map(int, sys.argv[1:3]))
