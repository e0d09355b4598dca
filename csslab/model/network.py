"""IncrementalSegmenter: a backbone and one 1x1 classifier head per task (docs/architecture.md#the-model)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _conv(c_in, c_out, stride=1, dilation=1, norm=False):
    """3x3 convolution + ReLU, with BatchNorm when ``norm`` (then the convolution has no bias)."""
    layers = [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SeedBackbone(nn.Module):
    """The original notebook's 32-filter encoder-decoder (U-Net-like, 84k parameters).

    Kept for fidelity: it spends most of its 0.83 GFLOP per training image in three
    full-resolution convolutions, which is why it is ~6x slower than ``FastBackbone`` on a CPU.
    """

    out_channels = 32
    output_stride = 1

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.enc1 = nn.Sequential(_conv(1, w), _conv(w, w))  # full resolution
        self.enc2 = nn.Sequential(_conv(w, w), _conv(w, w))  # 1/2
        self.bottleneck = nn.Sequential(_conv(w, w), _conv(w, w))  # 1/4
        self.dec2 = _conv(2 * w, w)  # 1/2, with the enc2 skip
        self.dec1 = nn.Sequential(_conv(w, w), _conv(w, w))  # full resolution
        self.out_channels = w

    def forward(self, x):
        e1 = self.enc1(x)  # B, w, H, W
        e2 = self.enc2(F.max_pool2d(e1, 2))  # B, w, H/2, W/2
        b = self.bottleneck(F.max_pool2d(e2, 2))  # B, w, H/4, W/4
        d2 = self.dec2(torch.cat([F.interpolate(b, size=e2.shape[-2:]), e2], 1))  # B, w, H/2, W/2
        d1 = self.dec1(F.interpolate(d2, size=e1.shape[-2:]))  # B, w, H, W
        return d1, {"enc1": e1, "enc2": e2, "encoder": b, "decoder": d1}


class FastBackbone(nn.Module):
    """The CPU-efficient default: a strided stem leaves full resolution at once, the encoder
    works at 1/2 and 1/4 scale with dilations for a receptive field wider than a digit, the
    decoder fuses back to 1/2 scale, and the heads' logits are upsampled bilinearly.
    BatchNorm, because without it learning often did not start within a task's budget; cheaper variants
    lost joint accuracy (both measured: docs/decisions/fast-backbone.md)."""

    output_stride = 2

    def __init__(self, width: int = 24, deep_width: int = 48):
        super().__init__()
        w, w2 = width, deep_width
        self.stem = _conv(1, 16, stride=2, norm=True)  # 1/2
        self.enc1 = _conv(16, w, norm=True)  # 1/2
        self.down = _conv(w, w2, stride=2, norm=True)  # 1/4
        self.enc2 = nn.Sequential(*(_conv(w2, w2, dilation=d, norm=True) for d in (1, 2, 4)))
        self.reduce = nn.Sequential(nn.Conv2d(w2, w, 1), nn.ReLU(inplace=True))
        self.fuse = _conv(2 * w, w, norm=True)  # 1/2, with the enc1 skip
        self.out_channels = w

    def forward(self, x):
        e1 = self.enc1(self.stem(x))  # B, w, H/2, W/2
        e2 = self.enc2(self.down(e1))  # B, w2, H/4, W/4
        up = F.interpolate(self.reduce(e2), size=e1.shape[-2:], mode="bilinear", align_corners=False)
        d = self.fuse(torch.cat([up, e1], 1))  # B, w, H/2, W/2
        return d, {"enc1": e1, "encoder": e2, "decoder": d}


BACKBONES = {"fast": FastBackbone, "seed": SeedBackbone}
MIB_BIAS_MARGIN = 4.0  # add_head's default: new biases this far below the background's (docs/methods.md, MiB)


def mib_background_shift(n_new: int, bias_margin: float = MIB_BIAS_MARGIN) -> float:
    """How far ``add_head(init="mib")`` lowers the background bias: log(1 + n_new·e^-margin), so that the
    background and ``n_new`` copies of it, ``margin`` lower, together keep the old background's probability
    (log(n_new + 1) with margin 0: MiB's exact init)."""
    return math.log1p(n_new * math.exp(-bias_margin))


def make_backbone(name: str) -> nn.Module:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}: valid backbones are {', '.join(BACKBONES)}")
    return BACKBONES[name]()


class IncrementalSegmenter(nn.Module):
    """Backbone + a growing list of heads (1x1 convs unless a method builds its own); channel 0 is
    background, channel c the c-th seen class."""

    def __init__(self, backbone: str = "fast"):
        super().__init__()
        self.backbone_name = backbone
        self.backbone = make_backbone(backbone).to(memory_format=torch.channels_last)
        self.heads = nn.ModuleList()

    @property
    def n_channels(self) -> int:
        return sum(h.out_channels for h in self.heads)

    def add_head(self, n_new: int, init: str = "random", symmetry_noise: float = 1.0,
                 bias_margin: float = MIB_BIAS_MARGIN) -> nn.Module:
        """Append a 1x1 conv head with ``n_new`` channels (the first head includes background).

        ``init="mib"`` (MiB): new weights copy the background weights and new biases and the
        background bias become ``b_bg - log(n_new + 1)``, so the new model starts out predicting
        what the old one did while the background probability is shared with the new classes.
        Under Adam identical new channels stay identical (MiB trained with SGD), so
        ``symmetry_noise`` adds that multiple of the head's default random init to the copied
        weights, and ``bias_margin`` lowers the new biases by that much more so that the noise
        does not lift a new channel above the background; the background bias is lowered by
        ``mib_background_shift`` so that background and new channels still sum to the old
        background's probability. The old argmax is kept and both new classes are learnt
        (docs/methods.md, MiB, measured on a trained model). With both 0 it is MiB's exact init.
        """
        if n_new <= 0:
            raise ValueError(f"invalid n_new={n_new}: a head needs at least one channel")
        if init not in ("random", "mib"):
            raise ValueError(f"unknown head init {init!r}: valid values are random, mib")
        head = nn.Conv2d(self.backbone.out_channels, n_new, 1)
        first = self.heads[0] if len(self.heads) else None
        head = head.to(next(self.backbone.parameters()).device)
        if init == "mib" and first is not None:
            with torch.no_grad():
                bias = first.bias[0] - mib_background_shift(n_new, bias_margin)
                noise = symmetry_noise * head.weight  # the default (Kaiming-uniform) init
                head.weight.copy_(first.weight[0:1].expand_as(head.weight) + noise)
                head.bias.fill_(bias.item() - bias_margin)
                first.bias[0] = bias
        return self.append_head(head)

    def append_head(self, head: nn.Module) -> nn.Module:
        """Append a head a method built itself (SSUL's), moved to the backbone's device; like the 1x1 heads
        it maps the backbone's features to ``head.out_channels`` logits."""
        head = head.to(next(self.backbone.parameters()).device)
        self.heads.append(head)
        return head

    def forward_features(self, x, heads=None):
        """Logits [B, C, H, W] of ``heads`` (default: the model's, C = 1+n_seen), joined in order, and the
        backbone's named feature maps. A method may pass extra heads of its own (SSUL's unknown head)."""
        # channels-last: oneDNN's convolutions run ~25% faster on it for these small maps (benchmarks/train.py)
        features, named = self.backbone(x.contiguous(memory_format=torch.channels_last))
        logits = torch.cat([head(features) for head in (self.heads if heads is None else heads)], 1)  # B, C, h, w
        if logits.shape[-2:] != x.shape[-2:]:
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        if logits.dtype != x.dtype:  # bf16 autocast (train.precision): the losses take float32, as CUDA's autocast
            logits, named = logits.to(x.dtype), {name: f.to(x.dtype) for name, f in named.items()}
        return logits, named

    def forward(self, x):
        return self.forward_features(x)[0]

    def features(self, x) -> dict:
        return self.forward_features(x)[1]
