"""``csslab new-method NAME``: a method file to start from and a test that runs it (docs/getting-started.md)."""

from __future__ import annotations

import re
from pathlib import Path

from csslab.core.files import atomic_write, check_output

METHOD = '''"""{cls}: cross-entropy on the task's labels + lam * distillation of the old model's softmax (edit me).

Written by `csslab new-method {name}` as a place to start: a distillation in the manner of LwF (Li &
Hoiem, Learning without Forgetting, ECCV 2016) on the old channels. Run it with

    csslab run --method {file}:{cls} --tasks 5-5 --steps 5

and test it with `python -m pytest -q test_{stem}.py`. docs/getting-started.md explains each part.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from csslab.core.constants import IGNORE
from csslab.methods import Method
from csslab.methods.base import param


@dataclass
class {cls}Params:  # each field's range is declared once: csslab refuses a value outside it in one line
    lam: float = param(1.0, low=0)  # weight of the distillation term (--set params.lam=5, --grid params.lam=1,10)
    temperature: float = param(1.0, low=1e-3)  # of the softmaxes distilled


class {cls}(Method):
    """Cross-entropy on the task's labels + lam * KL from the old model's softmax over the old channels."""

    name = "{name}"  # what tables, run directories and `--set params.*` messages call it
    Params = {cls}Params
    head_init = "random"  # new heads start random; "mib": from the background channel
    base_task = "ce"  # its first task is plain cross-entropy: a benchmark trains it once for every such method

    def loss(self, model, images, masks):
        logits = model(images)  # B, C, H, W: background + every class seen so far
        terms = {{"ce": F.cross_entropy(logits, masks, ignore_index=IGNORE)}}
        if self.teacher is not None:  # from the second task on: the frozen model of the previous task
            t = self.params.temperature
            with torch.no_grad():
                old = F.softmax(self.teacher(images) / t, dim=1)  # B, n_old, H, W
            new = F.log_softmax(logits[:, :self.task.n_old] / t, dim=1)
            terms["kd"] = self.params.lam * F.kl_div(new, old, reduction="none").sum(1).mean()
        return terms
'''

TEST = '''"""A test of {file}: the method trains through csslab's own command, every loss term finite."""

import math
from pathlib import Path

from csslab import Results
from csslab.cli.main import main

METHOD = Path(__file__).resolve().parent / "{file}"


def test_{stem}_runs_two_tasks(tmp_path):
    out = tmp_path / "run"
    reference = f"{{METHOD}}:{cls}"
    assert main(["run", "--method", reference, "--tasks", "5-5", "--steps", "3", "--out", str(out),
                 "--set", "scenario.train_scenes=16", "--set", "scenario.test_scenes=20",
                 "--set", "train.batch_size=8", "--set", "params.lam=2", "--quiet", "--no-report"]) == 0
    results = Results.load(out).data  # the run's results.json
    assert results["config"]["method"] == reference and results["config"]["params"]["lam"] == 2.0
    assert [sorted(t["loss"]) for t in results["tasks"]] == [["ce"], ["ce", "kd"]]
    assert all(math.isfinite(v) for t in results["tasks"] for v in t["loss"].values())
    assert results["versions"]["method"]  # the digest of this file, as it ran
'''


def method_class(name: str) -> str:
    """``half-kd`` -> ``HalfKd``: the class a new method's file defines."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-]", name) if part) or "Mine"


def write_method(name: str, folder=None) -> tuple[Path, Path]:
    """Write ``NAME.py`` (hyphens as underscores) and ``test_NAME.py`` into ``folder`` (default: here); a name that
    is not a CLI word or is a built-in's, or a file already there, is refused before anything is written."""
    from csslab.methods import METHODS

    if not re.fullmatch(r"[a-z][a-z0-9-]*", name or "") or name.endswith("-"):
        raise ValueError(f"invalid method name {name!r}: use lowercase letters, digits and hyphens, starting with a "
                         "letter, e.g. half-kd")
    if name in METHODS:
        raise ValueError(f"invalid method name {name!r}: a built-in method's; choose another")
    folder = check_output(Path(folder or "."), "--dir")
    stem = name.replace("-", "_")
    files = folder / f"{stem}.py", folder / f"test_{stem}.py"
    for path in files:
        if path.exists():
            raise ValueError(f"{path} exists already: choose another name or --dir")
    values = {"name": name, "cls": method_class(name), "stem": stem, "file": files[0].name}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(files[0], METHOD.format(**values))
    atomic_write(files[1], TEST.format(**values))
    return files
