"""Softmax losses over background + classes: cross-entropy, KD, and their background-shift-aware
forms (MiB's unbiased CE and KD, MiB-AugM's memory CE, EIR's region KD), and PLOP's folding of new
channels into the background."""

import torch
import torch.nn.functional as F

from csslab.core.constants import BACKGROUND, IGNORE
from csslab.losses._util import _check_n_old, _masked_mean


def cross_entropy(logits, target, weight=None):
    """Cross-entropy over non-ignored pixels: mean of w_b,p · −log softmax(logits)_target.

    `weight` (optional) is a per-image [B] or per-pixel [B, H, W] factor, e.g. PLOP's
    `pseudo_label_factor`; the mean still divides by the number of non-ignored pixels.
    """
    nll = F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="none")  # B, H, W
    if weight is not None:
        nll = nll * (weight.view(-1, 1, 1) if weight.dim() == 1 else weight)  # B, H, W
    return _masked_mean(nll, target != IGNORE)


def cross_entropy_all_pixels(logits, target, weight=None):
    """``cross_entropy`` averaged over all pixels, ignored ones counting 0, as PLOP's code (its train.py:
    ``CrossEntropyLoss(ignore_index=255, reduction="none")``, times the per-image factor, then ``.mean()``).
    Equals ``cross_entropy`` where no pixel is ignored; with ignored pixels it is smaller by their share.
    References: Douillard et al., PLOP, CVPR 2021.
    """
    nll = F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="none")  # B, H, W; IGNORE: 0
    if weight is not None:
        nll = nll * (weight.view(-1, 1, 1) if weight.dim() == 1 else weight)  # B, H, W
    return nll.mean()


def unbiased_ce(logits, target, n_old):
    """MiB's unbiased cross-entropy: old classes are folded into the background.

    Targets < n_old (background and old classes) score log p(bg) = logsumexp(logits[:n_old]) −
    logsumexp(logits); a new class c ≥ n_old scores logits[c] − logsumexp(logits). Mean NLL over
    non-ignored pixels (MiB averages over all pixels, ignored ones counting 0).
    References: Cermelli et al., Modeling the Background for Incremental Learning in Semantic
    Segmentation (MiB), CVPR 2020.
    """
    _check_n_old(logits, n_old)
    den = torch.logsumexp(logits, 1, keepdim=True)  # B, 1, H, W
    log_bg = torch.logsumexp(logits[:, :n_old], 1, keepdim=True) - den  # B, 1, H, W
    log_probs = torch.cat([log_bg, logits[:, 1:] - den], 1)  # B, C, H, W (channels 1..n_old-1 unused)
    labels = torch.where(target < n_old, BACKGROUND, target)  # B, H, W
    nll = F.nll_loss(log_probs, labels, ignore_index=IGNORE, reduction="none")  # B, H, W
    return _masked_mean(nll, labels != IGNORE)


def kd(logits, old_logits, alpha=1.0):
    """LwF's distillation on the old channels, mean over pixels of
    −Σ_{c<n_old} softmax(alpha·old_logits)_c · log_softmax(logits[:n_old])_c / n_old.

    References: Li & Hoiem, Learning without Forgetting, ECCV 2016 (as in MiB's KD loss).
    """
    n_old = old_logits.shape[1]
    _check_n_old(logits, n_old)
    log_probs = torch.log_softmax(logits[:, :n_old], 1)  # B, n_old, H, W
    old_probs = torch.softmax(alpha * old_logits.detach(), 1)  # B, n_old, H, W
    return -(old_probs * log_probs).sum(1).mean() / n_old


def _bg_or_new_log_probs(logits, n_old):
    """log p [B, n_old, H, W] over all C channels: background = logsumexp(logits[0], logits[n_old:]) −
    logsumexp(logits) (background or a class new since), old class c in 1..n_old-1 its own channel."""
    _check_n_old(logits, n_old)
    den = torch.logsumexp(logits, 1, keepdim=True)  # B, 1, H, W
    bg_and_new = torch.cat([logits[:, :1], logits[:, n_old:]], 1)  # B, 1+C-n_old, H, W
    log_bg = torch.logsumexp(bg_and_new, 1, keepdim=True) - den  # B, 1, H, W
    return torch.cat([log_bg, logits[:, 1:n_old] - den], 1)  # B, n_old, H, W


def unbiased_kd(logits, old_logits, alpha=1.0):
    """MiB's unbiased distillation: the old background may now be background or a new class.

    log p over all C channels; the background term is logsumexp(logits[0], logits[n_old:]) −
    logsumexp(logits), old class c in 1..n_old-1 uses logits[c] − logsumexp(logits); per pixel
    −Σ_{c<n_old} softmax(alpha·old_logits)_c · log p_c / n_old, mean over all pixels. Equals `kd`
    when there is no new channel.
    References: Cermelli et al., Modeling the Background for Incremental Learning in Semantic
    Segmentation (MiB), CVPR 2020.
    """
    n_old = old_logits.shape[1]
    log_probs = _bg_or_new_log_probs(logits, n_old)  # B, n_old, H, W
    old_probs = torch.softmax(alpha * old_logits.detach(), 1)  # B, n_old, H, W
    return -(old_probs * log_probs).sum(1).mean() / n_old


def fold_new_channels(logits, n_old):
    """Logits [B, C, H, W] → [B, n_old, H, W] with the new channels summed into the background,
    so the current model's logits can be compared with the old model's (PLOP's POD on logits)."""
    _check_n_old(logits, n_old)
    bg = logits[:, :1] + logits[:, n_old:].sum(1, keepdim=True)  # B, 1, H, W
    return torch.cat([bg, logits[:, 1:n_old]], 1)  # B, n_old, H, W


# --- MiB-AugM (Kwak, Cha & Moon, 2024) and EIR (Yin et al., 2025) ---
def memory_ce(logits, target, n_old):
    """MiB-AugM's cross-entropy on replayed scenes: a stored scene keeps its old-class labels, and its
    background may hide a class of the current task, so background scores log p(bg) = logsumexp(logits[0],
    logits[n_old:]) − logsumexp(logits) and old class c < n_old scores logits[c] − logsumexp(logits);
    targets ≥ n_old count as background. Mean over non-ignored pixels. Equals `cross_entropy` when there is
    no new channel (n_old = C), and is `unbiased_ce` with the roles of old and new classes swapped.
    References: Kwak, Cha & Moon, Towards Realistic Incremental Scenario in Class Incremental Semantic
    Segmentation, 2024 (UnbiasedCrossEntropyMem in their code).
    """
    log_probs = _bg_or_new_log_probs(logits, n_old)  # B, n_old, H, W
    labels = torch.where((target >= n_old) & (target != IGNORE), BACKGROUND, target)  # B, H, W
    nll = F.nll_loss(log_probs, labels, ignore_index=IGNORE, reduction="none")  # B, H, W
    return _masked_mean(nll, labels != IGNORE)


def region_kd(logits, old_logits, region, alpha=1.0):
    """EIR's region-specific distillation: MiB's `unbiased_kd` per pixel, averaged over the pixels of
    `region` [B, H, W] bool only (EIR: outside the current classes' ground truth, where the old model
    has knowledge to keep). Equals `unbiased_kd` when `region` is everywhere True; 0 where it is empty.
    References: Yin et al., Beyond Background Shift: Rethinking Instance Replay in Continual Semantic
    Segmentation, CVPR 2025 (RSKD).
    """
    n_old = old_logits.shape[1]
    log_probs = _bg_or_new_log_probs(logits, n_old)  # B, n_old, H, W
    old_probs = torch.softmax(alpha * old_logits.detach(), 1)  # B, n_old, H, W
    per_pixel = -(old_probs * log_probs).sum(1) / n_old  # B, H, W
    return _masked_mean(per_pixel, region)
