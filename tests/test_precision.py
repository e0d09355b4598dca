"""train.precision (issue 17 item 5a): fp32 keeps every number; bf16 runs the forward passes in bfloat16 autocast
(checked, not emulated: refused where the hardware has no bfloat16), with float32 logits for the losses."""

import pytest
import torch

from csslab.core import precision
from csslab.training.spec import validate
from csslab.core.config import Config
from csslab.model.network import IncrementalSegmenter
from csslab.training.train import run

TINY = {"scenario": {"tasks": "5-5", "train_scenes": 40, "test_scenes": 30}, "train": {"steps": 3, "threads": 1}}


def tiny(**train) -> Config:
    return Config.from_dict({"method": "mib", **TINY, "train": TINY["train"] | train})


def test_bf16_autocast_computes_in_bfloat16_and_hands_float32_to_the_losses():
    torch.manual_seed(0)
    model = IncrementalSegmenter("fast")
    model.add_head(3)
    model.eval()
    x = torch.rand(2, 1, 60, 60)
    with torch.no_grad():
        full = model.forward_features(x)
        with precision.autocast("cpu", "bf16"):
            low = model.forward_features(x)
            assert model.heads[0](torch.rand(1, model.heads[0].in_channels, 4, 4)).dtype == torch.bfloat16
    assert low[0].dtype == torch.float32 and all(f.dtype == torch.float32 for f in low[1].values())
    assert not torch.equal(low[0], full[0])  # computed in bfloat16...
    assert torch.allclose(low[0], full[0], atol=0.1)  # ...to bfloat16's precision
    assert isinstance(precision.autocast("cpu", "fp32"), type(precision.autocast("cuda", "fp32")))  # fp32: nothing


def test_a_bf16_run_trains_to_other_numbers_and_fp32_is_the_default():
    if precision.bf16_problem(torch.device("cpu")) is not None:  # a CPU without bfloat16: refused, not emulated
        with pytest.raises(ValueError, match="invalid precision 'bf16'"):
            validate(tiny(precision="bf16"))
        return
    default, fp32, bf16 = (run(c, progress=False, log=None) for c in (tiny(), tiny(precision="fp32"),
                                                                       tiny(precision="bf16")))
    assert default.data["config"]["train"]["precision"] == "fp32"
    numbers = lambda r: [(t["loss"], t["iou"], t["confusion"]) for t in r.data["tasks"]]  # noqa: E731
    assert numbers(default) == numbers(fp32)
    losses = [t["loss"] for t in bf16.data["tasks"]]
    assert all(v == v and abs(v) < 1e3 for terms in losses for v in terms.values())  # finite
    assert losses != [t["loss"] for t in fp32.data["tasks"]]


def test_bad_precision_and_unsupported_hardware_are_one_line(monkeypatch):
    with pytest.raises(ValueError, match=r"^invalid precision fp16 \(train.precision\): valid values are fp32, bf16$"):
        validate(tiny(precision="fp16"))
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    with pytest.raises(ValueError, match="neither AVX512-BF16 nor AMX; valid here: fp32") as error:
        validate(tiny(precision="bf16"))
    assert "\n" not in str(error.value)
