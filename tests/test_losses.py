"""Losses against values computed by hand on tiny tensors, and the contracts methods rely on."""

import math

import pytest
import torch
import torch.nn.functional as F

from csslab import losses
from csslab.core.constants import BACKGROUND, IGNORE


def pixels(*rows):
    """Logits [1, C, 1, W] from W per-pixel lists of C logits."""
    return torch.tensor(rows, dtype=torch.float32).T[None, :, None, :]


def labels(*values):
    return torch.tensor(values, dtype=torch.int64)[None, None, :]  # 1, 1, W


def lse(*xs):
    return math.log(sum(math.exp(x) for x in xs))


def test_cross_entropy_hand_value_ignores_and_weights():
    logits = pixels([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [4.0, 0.0, 0.0])
    target = labels(2, IGNORE, 0)
    expected = ((lse(1, 2, 3) - 3) + (lse(4, 0, 0) - 4)) / 2
    assert losses.cross_entropy(logits, target).item() == pytest.approx(expected, rel=1e-6)
    weighted = losses.cross_entropy(logits, target, weight=torch.tensor([0.25]))
    assert weighted.item() == pytest.approx(0.25 * expected, rel=1e-6)


PIXEL_LOSSES = [losses.cross_entropy, lambda x, t: losses.unbiased_ce(x, t, 2), losses.bce_with_unknown]


@pytest.mark.parametrize("fn", PIXEL_LOSSES)
def test_no_valid_pixel_gives_zero_with_grad(fn):
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    loss = fn(logits, torch.full((2, 4, 4), IGNORE))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_unbiased_ce_is_plain_ce_when_only_background_is_old():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, 6)
    target = torch.randint(0, 4, (2, 5, 6))
    target[0, :2] = IGNORE
    expected = F.cross_entropy(logits, target, ignore_index=IGNORE)
    assert losses.unbiased_ce(logits, target, 1).item() == pytest.approx(expected.item(), rel=1e-6)


def test_unbiased_ce_ignored_pixels_do_not_count():
    torch.manual_seed(1)
    logits = torch.randn(1, 4, 3, 3)
    target = torch.randint(0, 4, (1, 3, 3))
    target[0, 0, 0] = IGNORE
    changed = logits.clone()
    changed[0, :, 0, 0] = torch.tensor([9.0, -9.0, 3.0, 0.0])
    before = losses.unbiased_ce(logits, target, 2).item()
    assert losses.unbiased_ce(changed, target, 2).item() == pytest.approx(before)


def test_unbiased_ce_hand_value_with_two_old_classes():
    # C = 4: background, old classes 1 and 2 (n_old = 3), new class 3.
    x = [1.0, 2.0, 0.0, 3.0]
    logits = pixels(x, x, x, x)
    target = labels(1, 3, BACKGROUND, IGNORE)
    log_bg = lse(1, 2, 0) - lse(*x)  # old class 1 and background both score p(bg) + p(old)
    log_new = 3 - lse(*x)
    expected = -(log_bg + log_new + log_bg) / 3
    assert losses.unbiased_ce(logits, target, 3).item() == pytest.approx(expected, rel=1e-6)


def test_kd_hand_value():
    logits = pixels([1.0, 2.0, 5.0])  # the new channel (5.0) is not distilled
    old_logits = pixels([0.0, math.log(3.0)])  # teacher probabilities 1/4, 3/4
    expected = -(0.25 * (1 - lse(1, 2)) + 0.75 * (2 - lse(1, 2))) / 2
    assert losses.kd(logits, old_logits).item() == pytest.approx(expected, rel=1e-6)


def test_kd_is_minimal_at_teacher_and_equals_its_entropy():
    torch.manual_seed(2)
    old_logits = torch.randn(2, 3, 4, 4)
    logits = torch.cat([old_logits, torch.randn(2, 2, 4, 4)], 1)  # two extra new channels
    at_teacher = losses.kd(logits, old_logits)
    p = old_logits.softmax(1)
    entropy = -(p * p.log()).sum(1).mean() / 3
    assert at_teacher.item() == pytest.approx(entropy.item(), rel=1e-5)
    for seed in range(3):
        perturbed = logits.clone()
        perturbed[:, :3] += 0.5 * torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
        assert losses.kd(perturbed, old_logits).item() > at_teacher.item()


def test_kd_alpha_sharpens_teacher_only():
    logits = pixels([0.0, 0.0])
    old_logits = pixels([0.0, math.log(3.0)])
    q = 9 / 10  # softmax(2 * [0, log 3]) = [1/10, 9/10]
    expected = -((1 - q) * math.log(0.5) + q * math.log(0.5)) / 2
    assert losses.kd(logits, old_logits, alpha=2.0).item() == pytest.approx(expected, rel=1e-6)
    logits = pixels([0.0, 1.0])
    expected = -(0.1 * (0 - lse(0, 1)) + 0.9 * (1 - lse(0, 1))) / 2
    assert losses.kd(logits, old_logits, alpha=2.0).item() == pytest.approx(expected, rel=1e-6)


def test_unbiased_kd_equals_kd_without_new_channels():
    torch.manual_seed(3)
    logits, old_logits = torch.randn(2, 4, 3, 5), torch.randn(2, 4, 3, 5)
    for alpha in (1.0, 0.5):
        assert losses.unbiased_kd(logits, old_logits, alpha).item() == pytest.approx(
            losses.kd(logits, old_logits, alpha).item(), rel=1e-6
        )


def test_unbiased_kd_hand_value_with_one_new_channel():
    logits = pixels([0.5, 1.0, 2.0])  # background, old class 1, new class 2
    old_logits = pixels([0.0, 1.0])
    q0, q1 = 1 / (1 + math.e), math.e / (1 + math.e)
    log_bg = lse(0.5, 2.0) - lse(0.5, 1.0, 2.0)  # old background = background or new class
    log_old = 1.0 - lse(0.5, 1.0, 2.0)
    expected = -(q0 * log_bg + q1 * log_old) / 2
    assert losses.unbiased_kd(logits, old_logits).item() == pytest.approx(expected, rel=1e-6)


def pod_reference(x, old, s):
    """PLOP's region loops for one map and one scale whose size divides H and W."""
    def embed(t):
        t = t.pow(2)
        kh, kw = t.shape[2] // s, t.shape[3] // s
        parts = []
        for i in range(s):
            for j in range(s):
                region = t[..., i * kh:(i + 1) * kh, j * kw:(j + 1) * kw]
                parts += [region.mean(3).flatten(1), region.mean(2).flatten(1)]
        return F.normalize(torch.cat(parts, 1), dim=1)
    return (embed(x) - embed(old)).norm(dim=1).mean()


def test_local_pod_hand_value_on_2x2():
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])[None, None]  # squared: [[1, 4], [9, 16]]
    b = torch.ones(1, 1, 2, 2)
    va = [2.5, 12.5, 5.0, 10.0]  # row means, then column means
    na = math.sqrt(sum(v * v for v in va))
    expected = math.sqrt(sum((v / na - 0.5) ** 2 for v in va))
    assert losses.local_pod(a, b, scales=(1,)).item() == pytest.approx(expected, rel=1e-6)


def test_local_pod_matches_region_loops():
    torch.manual_seed(4)
    x, old = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    scales = (1, 2, 4)
    # Concatenating the per-scale unit vectors gives ||diff||² = Σ_s ||diff_s||².
    squared = [[pod_reference(x[k:k + 1], old[k:k + 1], s) ** 2 for k in range(2)] for s in scales]
    expected = torch.tensor(squared).sum(0).sqrt().mean()
    assert losses.local_pod(x, old, scales).item() == pytest.approx(expected.item(), rel=1e-5)


def test_local_pod_zero_for_equal_invariant_to_scale_positive_otherwise():
    torch.manual_seed(5)
    x, old = torch.randn(2, 4, 6, 10), torch.randn(2, 4, 6, 10)
    assert losses.local_pod(x, x.clone()).item() == pytest.approx(0.0, abs=1e-6)
    value = losses.local_pod(x, old).item()
    assert value > 0.1
    assert losses.local_pod(3.0 * x, 3.0 * old).item() == pytest.approx(value, rel=1e-5)
    assert torch.isfinite(losses.local_pod(torch.randn(1, 2, 5, 7), torch.randn(1, 2, 5, 7))).item()


def test_local_pod_averages_over_maps_and_accepts_dicts():
    torch.manual_seed(6)
    a, b = torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 4)
    c, d = torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8)
    mean = (losses.local_pod(a, b) + losses.local_pod(c, d)) / 2
    assert losses.local_pod([a, c], [b, d]).item() == pytest.approx(mean.item(), rel=1e-6)
    assert losses.local_pod({"x": a, "y": c}, {"y": d, "x": b}).item() == pytest.approx(mean.item(), rel=1e-6)
    with pytest.raises(ValueError, match="equal shape"):
        losses.local_pod(torch.randn(1, 3, 4, 4), torch.randn(1, 2, 4, 4))


def test_local_pod_gradient_is_finite_when_current_equals_old():
    x = torch.randn(2, 3, 4, 4)
    current = x.clone().requires_grad_(True)
    losses.local_pod(current, x).backward()
    assert torch.isfinite(current.grad).all()


def test_fold_new_channels_sums_new_into_background():
    logits = pixels([1.0, 2.0, 3.0, 4.0])
    assert losses.fold_new_channels(logits, 2).flatten().tolist() == [1.0 + 3.0 + 4.0, 2.0]


def test_entropy_pseudo_labels_hand_example():
    old_logits = pixels([0.0, 10.0, 0.0], [0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    target = labels(BACKGROUND, BACKGROUND, BACKGROUND, 3, IGNORE)
    thresholds = torch.tensor([0.5, 0.5, 0.5])
    pseudo = losses.entropy_pseudo_labels(old_logits, target, 3, thresholds)
    # sure old class 1 | unsure -> ignored | sure background stays background | foreground | ignored
    assert pseudo.flatten().tolist() == [1, IGNORE, BACKGROUND, 3, IGNORE]
    assert pseudo.dtype == torch.int64
    assert target.flatten().tolist() == [BACKGROUND, BACKGROUND, BACKGROUND, 3, IGNORE]


def test_entropy_pseudo_labels_uses_the_threshold_of_the_predicted_class():
    old_logits = pixels([0.0, 2.0, 0.0])
    p = [1 / (2 + math.e**2), math.e**2 / (2 + math.e**2), 1 / (2 + math.e**2)]
    entropy = -sum(q * math.log(q) for q in p) / math.log(3)
    target = labels(BACKGROUND)
    below = torch.tensor([0.0, entropy + 1e-3, 0.0])
    above = torch.tensor([1.0, entropy - 1e-3, 1.0])
    assert losses.entropy_pseudo_labels(old_logits, target, 3, below).item() == 1
    assert losses.entropy_pseudo_labels(old_logits, target, 3, above).item() == IGNORE
    assert losses.normalised_entropy(old_logits).item() == pytest.approx(entropy, rel=1e-5)


def binary_entropy(d):
    """Normalised entropy of softmax([0, d]) (log 2 = maximum)."""
    p = 1 / (1 + math.exp(-d))
    return -(p * math.log(p) + (1 - p) * math.log(1 - p)) / math.log(2)


def test_entropy_thresholds_are_per_class_medians():
    old_logits = pixels([0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [0.0, 3.0], [0.0, 1.0])
    thresholds = losses.entropy_thresholds(old_logits, 2)
    class_0 = (1.0 + binary_entropy(5.0)) / 2  # two pixels: mean of the middle pair
    class_1 = binary_entropy(3.0)  # three pixels: the middle one
    assert thresholds.tolist() == pytest.approx([class_0, class_1], rel=1e-5)
    # Only background pixels count when a target is given; batches may come one by one.
    target = labels(BACKGROUND, BACKGROUND, BACKGROUND, 7, BACKGROUND)
    batches = [old_logits[..., :2], old_logits[..., 2:]]
    targets = [target[..., :2], target[..., 2:]]
    thresholds = losses.entropy_thresholds(iter(batches), 2, target=iter(targets))
    class_1 = (binary_entropy(5.0) + binary_entropy(1.0)) / 2
    assert thresholds.tolist() == pytest.approx([class_0, class_1], rel=1e-5)


def hand_entropy(xs):
    """Normalised entropy of softmax(xs), computed in plain Python."""
    p = [math.exp(x - lse(*xs)) for x in xs]
    return -sum(q * math.log(q) for q in p) / math.log(len(xs))


def test_entropy_thresholds_missing_class_and_floor():
    rows = [[30.0, 0.0, -5.0], [0.0, 5.0, -5.0], [-5.0, 0.0, 0.0]]  # argmax 0, 1, 1 (first of a tie)
    old_logits = pixels(*rows)
    h = [hand_entropy(r) for r in rows]
    thresholds = losses.entropy_thresholds(old_logits, 3)
    assert h[0] < 1e-3 and thresholds[0].item() == pytest.approx(1e-3)  # floored
    assert thresholds[1].item() == pytest.approx((h[1] + h[2]) / 2, rel=1e-5)
    assert thresholds[2].item() == pytest.approx(sorted(h)[1], rel=1e-5)  # never predicted: global median
    assert losses.entropy_thresholds(old_logits, 3, missing=0.25)[2].item() == 0.25
    with pytest.raises(ValueError, match="n_old=2"):
        losses.entropy_thresholds(old_logits, 2)


def test_pseudo_label_factor_is_share_of_sure_background():
    target = torch.tensor([[[0, 0, 0, 5]], [[5, 6, IGNORE, 5]]])
    pseudo = torch.tensor([[[1, IGNORE, 0, 5]], [[5, 6, IGNORE, 5]]])
    assert losses.pseudo_label_factor(target, pseudo).tolist() == pytest.approx([2 / 3, 1.0])
    nothing_sure = torch.full_like(target, IGNORE)
    factor = losses.pseudo_label_factor(target, nothing_sure, min_factor=0.1)
    assert factor.tolist() == pytest.approx([0.1, 1.0])


def test_bce_with_unknown_hand_value_and_reference():
    logits = pixels([0.0, 1.0], [3.0, 3.0])
    target = labels(1, IGNORE)
    # one-hot [0, 1]: BCE = log(1 + e^0) for channel 0 and log(1 + e^-1) for channel 1
    expected = (math.log(2.0) + math.log(1 + math.exp(-1.0))) / 2
    assert losses.bce_with_unknown(logits, target).item() == pytest.approx(expected, rel=1e-6)
    torch.manual_seed(7)
    logits, target = torch.randn(2, 4, 3, 3), torch.randint(0, 4, (2, 3, 3))
    target[1] = IGNORE
    one_hot = F.one_hot(target[0], 4).permute(2, 0, 1).float()
    reference = F.binary_cross_entropy_with_logits(logits[0], one_hot)
    assert losses.bce_with_unknown(logits, target).item() == pytest.approx(reference.item(), rel=1e-6)


def test_feature_mse_over_maps():
    a, b = torch.zeros(1, 2, 2, 2), torch.full((1, 2, 2, 2), 2.0)
    c, d = torch.zeros(1, 1, 3, 3), torch.ones(1, 1, 3, 3)
    assert losses.feature_mse(a, b).item() == 4.0
    assert losses.feature_mse([a, c], [b, d]).item() == 2.5
    assert losses.feature_mse({"x": a, "y": c}, {"y": d, "x": b}).item() == 2.5


def test_ewc_penalty_hand_value():
    params = [torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])]
    old = [torch.tensor([0.0, 2.0]), torch.tensor([[1.0]])]
    fisher = [torch.tensor([2.0, 5.0]), torch.tensor([[0.5]])]
    assert losses.ewc_penalty(params, old, fisher).item() == 2.0 * 1 + 5.0 * 0 + 0.5 * 4
    named = losses.ewc_penalty(dict(enumerate(params)), dict(enumerate(old)), dict(enumerate(fisher)))
    assert named.item() == 4.0



def test_fisher_step_is_a_moving_average_of_squared_gradients():
    fisher = {"w": torch.tensor([1.0, 1.0]), "b": torch.tensor([4.0])}
    grads = {"w": torch.tensor([2.0, -1.0]), "b": None}  # no gradient: F unchanged
    out = losses.fisher_step(fisher, grads, decay=0.9)
    assert out is fisher
    assert fisher["w"].tolist() == pytest.approx([0.9 * 4 + 0.1 * 1, 0.9 * 1 + 0.1 * 1])
    assert fisher["b"].tolist() == [4.0]
    losses.fisher_step(fisher, {"w": torch.zeros(2)}, decay=0.5)
    assert fisher["w"].tolist() == pytest.approx([0.5 * 3.7, 0.5 * 1.0])


def test_normalise_fisher_per_tensor_and_global():
    fisher = {"a": torch.tensor([1.0, 3.0, 5.0]), "b": torch.tensor([[0.5, 1.0]])}
    per_tensor = losses.normalise_fisher(fisher, "tensor")
    assert per_tensor["a"].tolist() == pytest.approx([0.0, 0.5, 1.0])  # (F - 1) / (5 - 1)
    assert per_tensor["b"].flatten().tolist() == pytest.approx([0.0, 1.0])
    glob = losses.normalise_fisher(fisher, "global")
    assert glob["a"].tolist() == pytest.approx([0.2, 0.6, 1.0])  # F / 5 for every tensor
    assert glob["b"].flatten().tolist() == pytest.approx([0.1, 0.2])
    assert fisher["a"].tolist() == [1.0, 3.0, 5.0]  # a new dict
    assert losses.normalise_fisher({"c": torch.full((2,), 7.0)}, "tensor")["c"].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="'max'"):
        losses.normalise_fisher(fisher, "max")

LOSSES_WITH_TEACHER = {
    "kd": lambda x, old, t: losses.kd(x, old),
    "unbiased_kd": lambda x, old, t: losses.unbiased_kd(x, old, alpha=0.5),
    "local_pod": lambda x, old, t: losses.local_pod([x[:, :3]], [old]),
    "local_pod_logits": lambda x, old, t: losses.local_pod(losses.fold_new_channels(x, 3), old),
    "feature_mse": lambda x, old, t: losses.feature_mse(x[:, :3], old),
    "pseudo_ce": lambda x, old, t: losses.cross_entropy(
        x, losses.entropy_pseudo_labels(old, t, 3, losses.entropy_thresholds(old, 3, t))
    ),
    "unbiased_ce": lambda x, old, t: losses.unbiased_ce(x, t, 3),
    "bce_with_unknown": lambda x, old, t: losses.bce_with_unknown(x, t),
}


@pytest.mark.parametrize("name", sorted(LOSSES_WITH_TEACHER))
def test_gradients_reach_logits_and_never_the_teacher(name):
    torch.manual_seed(8)
    logits = torch.randn(2, 5, 6, 6, requires_grad=True)
    old_logits = torch.randn(2, 3, 6, 6, requires_grad=True)
    target = torch.randint(0, 5, (2, 6, 6))
    target[:, 0] = IGNORE
    loss = LOSSES_WITH_TEACHER[name](logits, old_logits, target)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    assert old_logits.grad is None


def test_bad_n_old_is_rejected():
    with pytest.raises(ValueError, match="n_old=4"):
        losses.unbiased_ce(torch.randn(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.int64), 4)
    with pytest.raises(ValueError, match="n_old=3"):
        target = torch.zeros(1, 2, 2, dtype=torch.int64)
        losses.entropy_pseudo_labels(torch.randn(1, 2, 2, 2), target, 3, torch.ones(3))
