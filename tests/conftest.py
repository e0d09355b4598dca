import functools
import importlib.util
import os
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _share_the_cores() -> None:
    """Under pytest-xdist (the README's ``pytest -n auto``) each worker, and every process its tests start, gets its
    share of the cores (``OMP_NUM_THREADS``, read when torch loads; a value the user set is kept): two workers each
    on both of a 2-core machine's cores oversubscribe it, and a test that trains then took 5x as long
    (docs/speed.md#the-test-suite). Serial (``-n 0``), a test process keeps torch's default, every core."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        os.environ["OMP_NUM_THREADS"] = str(max(1, cores // workers))


_share_the_cores()  # at import: a worker loads this file before any test module imports torch


@pytest.fixture(autouse=True, scope="session")
def _scene_cache(tmp_path_factory):
    """Tests never touch the user's cache: scenes go to a per-session temporary directory."""
    os.environ["CSSLAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield


@pytest.fixture(autouse=True)
def _default_threads():
    """Every test starts with this process's default torch threads, whichever test ran before it in this process
    (a run sets its ``train.threads``): a test that trains outside a run gets the same numbers in any order, on
    any pytest-xdist worker."""
    import torch

    from csslab.core.runtime import default_threads

    torch.set_num_threads(default_threads())


@functools.lru_cache
def _source(name: str) -> str:
    path = Path(__file__).parent / name
    return path.read_text() if path.is_file() else ""


def _xdist_unit(nodeid: str) -> str:
    """The unit of work a pytest-xdist worker takes whole: the test files that use ``method_run`` together (one
    worker trains each shared run once), the files that start a local Ray cluster together (one cluster at a time),
    any other file with a module- or session-scoped fixture on its own (built once); every other test alone, to
    whichever worker is free."""
    name = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    text = _source(name)
    if "method_run" in text:
        return "method_run"
    if '"--ray"' in text:
        return "ray"
    if 'scope="module"' in text or 'scope="session"' in text:
        return name
    return nodeid


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which may not be installed
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scheduler by ``_xdist_unit`` (its ``--dist loadgroup`` marks no longer group anything under
    pytest 9.2, whose node ids ignore the group suffix it writes). It overrides a method xdist does not document:
    should a later xdist drop the class, its own scheduler runs every test the same, only without the grouping
    (shared runs trained on each worker that needs them, Ray clusters that may overlap)."""
    try:
        from xdist.scheduler import LoadScopeScheduling
    except ImportError:
        return None

    class Units(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _xdist_unit(nodeid)

    return Units(config, log)


def finetune_with_params(name: str, params_cls, **declarations):
    """A test-only continual method (not a bound): fine-tuning with ``params_cls`` as its
    hyper-parameters and ``declarations`` as class attributes (e.g. ``memory_param``), to be
    registered in METHODS with monkeypatch.setitem."""
    from csslab.methods.finetune import FineTune

    attributes = {"name": name, "Params": params_cls, "bound": None,
                  "__doc__": f"Fine-tuning with {params_cls.__name__}."}
    return type(name.title().replace("-", ""), (FineTune,), attributes | declarations)


def load_module(path, name: str | None = None):
    """A Python file that is not part of the package (a script, an example) imported by its path."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# a whole run in seconds (6-2-2, 3 steps per task, 32 training scenes), for scripts that read a run's checkpoints
TINY_RUN = ("--tasks", "6-2-2", "--steps", "3", "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=30",
            "--set", "train.batch_size=8", "--set", "train.threads=1", "--quiet", "--no-report")


def tiny_run(out, method: str, *extra: str) -> Path:
    """``csslab run --method METHOD`` at ``TINY_RUN``'s budget into ``out`` (``extra``: more arguments, later
    ones win), checked to succeed."""
    from csslab.cli.main import main

    assert main(["run", "--method", method, "--out", str(out), *TINY_RUN, *extra]) == 0
    return Path(out)


# every method's shared run: a 15-1 style split (a six-class base, then one class per task) on partitioned scenes
# with a pretrained backbone, checkpoints, frames after every step and the per-step logs; seconds per method
SHARED_RUN = ("--tasks", "6-1", "--setting", "partitioned", "--steps", "2", "--set", "model.pretrain=shapes",
              "--set", "model.pretrain_steps=2", "--set", "scenario.train_scenes=24", "--set", "scenario.test_scenes=12",
              "--set", "train.batch_size=8", "--set", "train.threads=1", "--set", "train.frame_every=1",
              "--set", "train.frame_scenes=8", "--quiet", "--no-report")
SHARED_MEMORY = 20  # a memory no larger than the scenes it is filled from


def _digest(run_dir: Path) -> dict:
    import hashlib

    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def method_run(tmp_path_factory, _scene_cache):
    """``method_run(name)``: the directory of a finished ``csslab run --method NAME`` with ``SHARED_RUN``'s
    arguments, trained the first time a test of the session asks for it (test_methods, test_resume,
    test_reevaluate share it). Read it only; a test that changes a run works on ``copy_run``'s copy. At the
    end of the session every shared run is checked to be byte for byte as it was trained."""
    from csslab.cli.main import main
    from csslab.methods import METHODS

    runs, digests = {}, {}

    def get(name: str) -> Path:
        if name not in runs:
            out = tmp_path_factory.mktemp(f"shared-{name}") / "run"
            memory = METHODS[name].memory_param
            extra = ["--set", f"params.{memory}={SHARED_MEMORY}"] if memory else []
            assert main(["run", "--method", name, "--out", str(out), *SHARED_RUN, *extra]) == 0
            runs[name], digests[name] = out, _digest(out)
        return runs[name]

    yield get
    changed = [name for name, out in runs.items() if _digest(out) != digests[name]]
    assert not changed, f"tests changed the shared runs of {changed}: work on copy_run(...) instead"


def copy_run(run_dir, dest) -> Path:
    """A copy of the run directory ``run_dir`` at ``dest``, for a test that changes it."""
    import shutil

    return Path(shutil.copytree(run_dir, dest))


def saved_as_before(run_dir) -> None:
    """Rewrite a run directory's configuration (config.yaml and results.json) as csslab saved it before
    settings were saved resolved: the four switches null (the preset's), and no scenario.max_tries and no
    scenario.instances (keys added since)."""
    import json

    import yaml

    from csslab.scenarios import PRESETS

    def old(config):
        scenario = config["scenario"]
        assert scenario["setting"] in PRESETS, "only a preset setting had null switches"
        del scenario["max_tries"], scenario["instances"]
        scenario.update(old_in_images=None, future_in_images=None, old_labels=None, test_future=None)
        return config

    run_dir = Path(run_dir)
    path = run_dir / "config.yaml"
    path.write_text(yaml.safe_dump(old(yaml.safe_load(path.read_text())), sort_keys=False))
    data = json.loads((run_dir / "results.json").read_text())
    data["config"] = old(data["config"])
    (run_dir / "results.json").write_text(json.dumps(data))


TINY_TASKS = None  # set below: two tasks of two classes, for method tests on random scenes


def make_method(name: str, **params):
    """A registered method with ``params`` (checked as the CLI checks them), seed 0."""
    from csslab.methods import get_method

    cls = get_method(name)
    return cls(cls.make_params(params), seed=0)


def tiny_data(task, n=6, size=24):
    """``n`` random scenes with random labels of ``task``'s channels (seeded by the task)."""
    import torch

    g = torch.Generator().manual_seed(task.index)
    images = torch.rand(n, 1, size, size, generator=g)
    masks = torch.randint(0, task.n_old + len(task.classes), (n, size, size), generator=g).to(torch.uint8)
    return images, masks


def train_tiny(method, steps=3, tasks=None):
    """``method`` over ``tasks`` on ``tiny_data`` through the trainer's own ``fit_task`` (batch 4, Adam 1e-3):
    no test keeps a copy of the training loop."""
    import torch

    from csslab.core.config import TrainConfig
    from csslab.model.network import IncrementalSegmenter
    from csslab.training.train import TaskData, fit_task

    torch.manual_seed(0)
    model = IncrementalSegmenter()
    train = TrainConfig(batch_size=4, lr=1e-3)
    for task in tasks or TINY_TASKS:
        images, masks = tiny_data(task)
        fit_task(model, method, task, TaskData(images, masks, steps, torch.Generator().manual_seed(task.index)), train)
    return model


def _tiny_tasks():
    from csslab.scenarios.tasks import Task

    return [Task(0, (0, 1), ()), Task(1, (2, 3), (0, 1))]


TINY_TASKS = _tiny_tasks()


@pytest.fixture
def figures(monkeypatch):
    """Every figure a plotting function draws, kept instead of written (closed at the end)."""
    from csslab.reports import benchmark_plots, plots, preview, shift

    drawn = []

    def keep(fig, path, dpi=100):
        drawn.append(fig)
        fig.canvas.draw()
        return Path(path)

    for module in (plots, shift, benchmark_plots, preview):
        monkeypatch.setattr(module, "save_figure", keep)
    yield drawn
    for fig in drawn:
        plots.pyplot().close(fig)


def changed_run(run_dir: Path, tmp_path: Path, change):
    """``run_dir``'s results passed through ``change(data)``, saved in ``tmp_path`` and read back as a report reads
    them (RunData)."""
    import json

    from csslab.reports.tables import RunData

    data = json.loads((run_dir / "results.json").read_text())
    change(data)
    (tmp_path / "results.json").write_text(json.dumps(data))
    return RunData(tmp_path)
