"""Numerical precision of training and evaluation (``train.precision``): float32, or bfloat16 autocast where
the hardware computes it (CUDA, or a CPU with AVX512-BF16 or AMX). Whether bf16 pays: docs/decisions/bf16-off.md."""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16")


def bf16_problem(device: torch.device) -> str | None:
    """Why ``device`` cannot train in bfloat16 (None: it can): a CPU without AVX512-BF16 or AMX would
    emulate it, slower than float32."""
    if device.type == "cuda":
        return None if torch.cuda.is_bf16_supported() else f"the GPU of {device} has no bfloat16"
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    avx512_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    return None if amx or avx512_bf16 else "this CPU has neither AVX512-BF16 nor AMX"


def autocast(device, precision: str):
    """The context the forward passes run in: nothing for fp32 (the numbers as before), bfloat16 autocast
    for bf16 (matmuls and convolutions in bf16, reductions and losses in float32, as torch's policy)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
