"""PLOP's code's histogram threshold rule, against values worked out by hand."""

import math

import pytest
import torch

from csslab.losses import pseudo_labels
from csslab.core.constants import BACKGROUND
from csslab.losses.pseudo_labels import histogram_median, histogram_thresholds


def counts(*head, n_bins=100):
    return list(head) + [0] * (n_bins - len(head))


def test_histogram_median_when_one_bin_holds_half():
    # total 10, half 5: bin 0 holds 6 >= 5, so the loop stops there: 0 + 5/6 · 0.01
    assert histogram_median(counts(6, 4), 100) == pytest.approx(5 / 6 * 0.01)
    # bin 0 holds 2: running sum += 0 (bin index 0), then bin 1 holds 8 >= 5: 0.01 + (5 - 0)/8 · 0.01
    assert histogram_median(counts(2, 8), 100) == pytest.approx(0.01 + 5 / 8 * 0.01)


def test_histogram_median_runs_off_the_end_and_divides_by_the_empty_last_bin():
    # A correct running sum would stop in bin 1 at 0.01 + (5 - 3)/4 · 0.01 = 0.015. PLOP's adds the
    # bin indices 0, 1, 2, ... (sum 4950 after the last bin), so no bin qualifies and the last, empty
    # bin divides: (5 - 4950)/0 -> -inf.
    assert histogram_median(counts(3, 4, 3), 100) == -math.inf
    # More than 2 x 4950 values and no bin with half of them: (half - 4950)/0 -> +inf.
    assert histogram_median(counts(4000, 4000, 4000), 100) == math.inf
    assert histogram_median(counts(), 100) == 0.0  # a class never predicted keeps PLOP's 0


def test_histogram_median_reads_the_bin_that_the_float_round_trip_picks():
    # PLOP's bin index is int(b / n_bins * n_bins): for b = 29 it is 28 (28.999...). With 50 values
    # in bin 28 and 850 in bin 50 (half 450): at b = 28 the running sum 0+...+27 = 378 fails
    # 378 <= 450 <= 378 + 50; at b = 29 it is 406 and the test reads bin 28 again: 406 <= 450 <= 456.
    assert int(29 / 100 * 100) == 28
    bins = counts(*([0] * 28), 50)
    bins[50] = 850
    assert histogram_median(bins, 100) == pytest.approx(0.29 + (450 - 406) / 50 * 0.01)


def test_histogram_thresholds_on_ours_scale_with_the_floor():
    n_old, n_channels = 2, 4
    scale = n_old * math.log(n_channels)  # PLOP's entropy / log(n_channels) = ours / scale
    # class 0: four pixels in PLOP's bin 5 (0.055 on its scale); class 1: none
    entropy = torch.full((4,), 0.055 * scale)
    prediction = torch.zeros(4, dtype=torch.int64)
    thresholds = histogram_thresholds(entropy, prediction, n_old, n_channels, min_threshold=0.001)
    # half 2: b=0..5 running sums 0, 0, 1, 3, 6, 10 -> at b=5 the test 10 <= 2 fails, ..., -inf -> floor
    assert thresholds.tolist() == pytest.approx([0.001 * scale, 0.001 * scale])
    # all four in bin 0: half 2 <= 4 at b=0, median 2/4 · 0.01 = 0.005 on PLOP's scale
    thresholds = histogram_thresholds(entropy * 0.1, prediction, n_old, n_channels, min_threshold=0.001)
    assert thresholds[0].item() == pytest.approx(0.005 * scale, rel=1e-6)
    with pytest.raises(ValueError, match="n_channels"):
        histogram_thresholds(entropy, prediction, n_old, None)


def test_entropy_thresholds_histogram_rule_counts_background_pixels_only():
    old_logits = torch.tensor([[10.0, 10.0, 0.0], [0.0, 0.0, 4.0]])[None, :, None, :]  # 1, 2, 1, 3
    target = torch.tensor([[[BACKGROUND, BACKGROUND, 3]]])
    thresholds = pseudo_labels.entropy_thresholds(old_logits, 2, target, rule="histogram", n_channels=3)
    entropy = pseudo_labels.normalised_entropy(old_logits).flatten()[:2]
    scale = 2 * math.log(3)
    bins = (entropy / scale * 100).long().tolist()
    assert bins == [0, 0]  # two background pixels predicted 0, both in bin 0: median 1/2 · 0.01
    assert thresholds.tolist() == pytest.approx([0.005 * scale, 0.001 * scale], rel=1e-6)
    with pytest.raises(ValueError, match="'mean'"):
        pseudo_labels.entropy_thresholds(old_logits, 2, rule="mean")
