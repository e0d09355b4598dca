"""Switches that follow a method's official code where csslab's default differs (docs/methods.md#recipes):
SSUL's per-layer learning rates and DKD's frozen BatchNorm affine parameters. The losses' switches (DKD's
ignored pixels as negatives, PLOP's cross-entropy over all pixels) are in csslab.losses."""

from torch import nn

BACKBONE_LR_SCALE = 0.1  # SSUL's main.py: backbone 0.001 against the classifier's 0.01 in step 0
BACKGROUND_LR_SCALE = 1e-4  # ... and background's head at lr * 1e-4 in later steps


def classifier_of(head: nn.Module) -> nn.Conv2d:
    """The 1x1 classifier of a head: the head itself, or an ``MLPHead``'s last layer."""
    return head if isinstance(head, nn.Conv2d) else head[-1]


def layer_lr_groups(model, unknown: nn.Module, task) -> list[dict]:
    """SSUL's param groups (``layer_lrs``), as ``{"params", "lr_scale"}`` groups: in task 0 the backbone at
    ``BACKBONE_LR_SCALE`` times the learning rate and every head (the unknown one too) at 1x; from task 1 on the
    new head and the unknown head at 1x, and background's classifier at ``BACKGROUND_LR_SCALE`` (made trainable
    here). Background shares the first head with task 0's classes here (SSUL gives it a head of its own), so that
    head's hidden layers stay frozen and its classifier's rows of task 0's classes train at the same 1e-4x."""
    heads = list(unknown.parameters())
    if task.index == 0:
        return [{"params": list(model.backbone.parameters()), "lr_scale": BACKBONE_LR_SCALE},
                {"params": list(model.heads.parameters()) + heads, "lr_scale": 1.0}]
    background = classifier_of(model.heads[0])
    for p in background.parameters():
        p.requires_grad_(True)
    return [{"params": list(model.heads[-1].parameters()) + heads, "lr_scale": 1.0},
            {"params": list(background.parameters()), "lr_scale": BACKGROUND_LR_SCALE}]


def freeze_batchnorm_affine(model: nn.Module) -> None:
    """Every BatchNorm's weight and bias out of training (``requires_grad`` False): DKD's ``--freeze_bn`` leaves
    them out of its optimiser's param groups from step 1 on (``get_backbone_params``, ``get_aspp_params``)."""
    for layer in model.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.affine:
            layer.weight.requires_grad_(False)
            layer.bias.requires_grad_(False)
