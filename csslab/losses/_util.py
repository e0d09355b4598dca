"""Helpers shared by the loss modules: masked means and argument checks."""

from collections.abc import Mapping

import torch


def _masked_mean(values, valid):
    """Mean of `values` [B, H, W] over `valid` pixels; 0 (with grad) when none is valid."""
    return (values * valid).sum() / valid.sum().clamp(min=1)


def _check_n_old(logits, n_old):
    if not 1 <= n_old <= logits.shape[1]:
        raise ValueError(f"n_old={n_old} must be in 1..{logits.shape[1]} (channels of logits)")


def _pairs(features, old_features):
    """(current, old) map pairs from two tensors, two equal-length sequences or two dicts."""
    if isinstance(features, torch.Tensor):
        features, old_features = [features], [old_features]
    elif isinstance(features, Mapping):
        old_features = [old_features[name] for name in features]
        features = list(features.values())
    features, old_features = list(features), list(old_features)
    if len(features) != len(old_features) or not features:
        raise ValueError(f"need as many maps as old maps (>0), got {len(features)} and {len(old_features)}")
    return [(f, o.detach()) for f, o in zip(features, old_features)]
