"""Bad input, one table: each command exits with its code and ONE line on stderr naming the bad value (and what
is valid), nothing on stdout, no traceback, and leaves nothing on disk (not even a default run directory). A row
is a command line with placeholders: <TMP> the test's directory (also the working directory), <FILE> a plain
file there, <IN> a folder of prepared inputs (malformed configs, <IN>/config/NAME/c.yaml holding CONFIGS[NAME],
digits 0..4 only as <IN>/digits, 64x64 digits as <IN>/big, corrupt IDX files as <IN>/corrupt, a run and a
benchmark directory, a symbolic link to nothing). The method 'with-memory' is a test-only fine-tuning with a
memory_size parameter. Issue 29's cases are all here but those no command line can hold (the API, reports of an
edited results.json, locks, killed processes, the cache): the report of the helper that wrote this lists where
each of those is tested."""

import gzip
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from conftest import finetune_with_params
from test_bad_inputs import BIG_SEED, MEMORY, SEED_RULE
from test_method_params import BAD as BAD_PARAMS
from csslab.cli.main import main
from csslab.data.digits import write_idx
from csslab.methods import METHODS

# a tiny run's budget that the cases below refer to (16 training scenes: memories and batches must fit in them)
TINY = ["--tasks", "5-5", "--steps", "2", "--quiet", "--no-report", "--set", "scenario.train_scenes=16",
        "--set", "scenario.test_scenes=20", "--set", "train.batch_size=8", "--set", "train.threads=1",
        "--set", "train.frame_scenes=8"]
RUN = ["run", "--out", "<TMP>/r"]  # the run directory that must never appear
TINY_RUN_ARGS = ["run", *TINY]
LONG = "x" * 300


def case(args, needle, code=2, id=None):
    """A row: ``args`` (a csslab command line), the text the one line holds (str, or a tuple of texts), the code."""
    return pytest.param(args, needle if isinstance(needle, tuple) else (needle,), code, id=id)


# what <IN>/config/NAME/c.yaml holds (issue 29: tracebacks, unclear lines)
CONFIGS = {
    "nested": "[" * 5000, "train5": "train: 5\n", "params5": "params: 5\n", "params-list": "params: [1, 2]\n",
    "scenario-text": 'scenario: "abc"\n', "model-true": "model: true\n", "binary": b"\x89PNG\r\n\x1a\n\x00\x00",
    "lr-inf": "train:\n  lr: .inf\n", "ink-nan": "scenario:\n  ink: .nan\n", "big-seed": f"seed: {BIG_SEED}\n",
}


def config(name):
    return [*RUN, "--steps", "2", "--config", f"<IN>/config/{name}/c.yaml"]


CASES = [
    # --config files that are not configurations (a value as YAML parsed it: True, not true)
    case(config("nested"), "c.yaml is not valid YAML for csslab: nested too deeply to read"),
    case(config("train5"), "c.yaml: the train section is 5, expected a mapping of its keys (steps, "),
    case(config("params5"), "c.yaml: the params section is 5, expected a mapping of the method's parameters"),
    case(config("params-list"), "c.yaml: the params section is [1, 2], expected a mapping of the method's parameters"),
    case(config("scenario-text"), "c.yaml: the scenario section is 'abc', expected a mapping of its keys (tasks, "),
    case(config("model-true"), "c.yaml: the model section is True, expected a mapping of its keys (backbone, "),
    case(config("binary"), "c.yaml: not UTF-8 text (byte 0x89 at offset 0); expected a YAML file"),
    case(config("lr-inf"), "c.yaml: invalid value inf for train.lr: expected a finite number"),
    case(config("ink-nan"), "c.yaml: invalid value nan for scenario.ink: expected a finite number"),
    case(config("big-seed"), f"invalid seed {BIG_SEED}: {SEED_RULE}"),
    case([*RUN, "--config", "<IN>/unclosed.yaml"], ("is not valid YAML: expected ',' or ']'", "<IN>/unclosed.yaml")),
    case([*RUN, "--config", "<IN>/list.yaml"], ("holds a YAML list, expected a mapping", "<IN>/list.yaml")),
    case([*RUN, "--config", "<IN>/int.yaml"], ("holds a YAML int, expected a mapping", "<IN>/int.yaml")),
    case([*RUN, "--config", "<IN>"], "invalid --config"),
    # values out of range, or not finite
    case([*RUN, "--set", "train.weight_decay=inf"], "invalid value 'inf' for train.weight_decay: expected a finite "
                                                     "number"),
    case([*RUN, "--set", "train.lr=1e309"], "invalid value '1e309' for train.lr: expected a finite number"),
    case([*RUN, "--set", "train.lr=" + "[" * 5000], "' for train.lr: expected a number"),
    case([*RUN, "--seed", BIG_SEED], f"invalid seed {BIG_SEED}: {SEED_RULE}"),
    case([*RUN, "--seed", "-1"], f"invalid seed -1: {SEED_RULE}"),
    case([*RUN, "--seed", str(2**32)], f"invalid seed {2**32}: {SEED_RULE}"),
    *[case([*RUN, "--method", method, "--set", value], line, id=f"{method}:{value}")
      for method, value, line in BAD_PARAMS],  # each method's declared ranges and choices
    case([*RUN, "--steps", "99999999999999999999"], "invalid steps 99999999999999999999 (train.steps): must be a "
                                                    "number of steps per task in 1..10,000,000"),
    case([*RUN, "--method", "ssul", "--set", "params.pseudo_threshold=2"],
         "invalid params.pseudo_threshold=2.0 for method ssul: must be in [0, 1]"),
    case([*RUN, "--method", "lwf", "--set", "params.lam=-1"], "invalid params.lam=-1.0 for method lwf: must be >= 0"),
    case([*RUN, "--method", "replay", "--set", "params.refresh_threshold=1.5"], "must be in [0, 1]"),
    case([*RUN, "--set", "model.pretrain=imagenet"], "invalid model.pretrain 'imagenet': valid values are none, shapes"),
    case([*RUN, "--set", "model.pretrain_steps=-1"],
         "invalid model.pretrain_steps -1: must be a number of steps in 1..10,000,000, or 0 for the pretraining's "
         "own budget"),
    # unknown names and values
    case([*RUN, "--method", "magic"], "'magic'"),
    case([*RUN, "--setting", "weird"], "'weird'"),
    case([*RUN, "--tasks", "3-3"], "'3-3'"),
    case([*RUN, "--class-order", "1,2,3"], "[1, 2, 3]"),
    case([*RUN, "--steps", "0"], "steps 0"),
    case([*RUN, "--steps", "-5"], "steps -5"),
    case([*RUN, "--data", "mnist:/no/such/dir"], "/no/such/dir"),
    case([*RUN, "--data", "imagenet"], "'imagenet'"),
    case([*RUN, "--set", "train.lr=fast"], "'fast'"),
    case([*RUN, "--set", "train.lr_incremental=-1"], "lr_incremental -1"),
    case([*RUN, "--set", "train.steps_per_class=-2"], "steps_per_class -2"),
    case([*RUN, "--set", "train.nope=1"], "train.nope"),
    case([*RUN, "--backbone", "resnet"], "'resnet'"),
    case([*RUN, "--set", "params.lam=3"], "'lam'"),
    case([*RUN, *TINY, "--log", "wandb"], ("'wandb'", "csv, tensorboard")),
    case(["run", *TINY, "--method", "nope"], "'nope'", id="no-out-no-default-directory"),
    case([*RUN, "--data", "mnist:<IN>/corrupt"], "idx"),
    # values echoed as typed, not as YAML parsed them ('yes' is not True, 'mnist:' is not {'mnist': None})
    case([*RUN, "--set", "train.steps=yes"], "invalid value 'yes' for train.steps: expected an integer"),
    case([*RUN, "--set", "train.steps=null"], "invalid value 'null' for train.steps: expected an integer"),
    case([*RUN, "--set", "train.lr=no"], "invalid value 'no' for train.lr: expected a number"),
    case([*RUN, "--setting", "yes"], "unknown setting 'yes'"),
    case([*RUN, "--tasks", "on"], "invalid split 'on'"),
    case([*RUN, "--data", "mnist:"], "unknown digit source 'mnist:'"),
    case([*RUN, "--data", "None"], "unknown digit source 'None'"),
    case([*RUN, "--set", "scenario.old_labels=yes"], "old_labels='yes'"),
    case([*RUN, "--method", "lwf", "--set", "params.lam=yes"], "invalid value 'yes' for params.lam: expected a number"),
    case([*RUN, "--method", "replay", "--set", "params.refresh=off"], "invalid params.refresh='off' for method replay"),
    # options that contradict each other, the data or the machine: refused before anything is written
    case([*RUN, *TINY, "--tasks", "10", "--method", "with-memory"], "is a single task: continual method 'with-memory'"),
    case([*RUN, *TINY, "--set", "params.memory_size=17", "--method", "with-memory"],
         "invalid params.memory_size=17: must be 0..16"),
    case([*RUN, *TINY, "--set", "params.memory_size=-1", "--method", "with-memory"], "invalid params.memory_size=-1"),
    case([*RUN, *TINY, "--set", "train.batch_size=17"], "train.batch_size=17 is larger than scenario.train_scenes=16"),
    case([*RUN, *TINY, "--set", "scenario.train_scenes=0"], "train_scenes=0"),
    case([*RUN, *TINY, "--set", "train.lr=-1"], "invalid lr -1.0 (train.lr)"),
    case([*RUN, *TINY, "--set", "train.frame_scenes=0"], "invalid frame_scenes 0 (train.frame_scenes)"),
    case([*RUN, *TINY, "--device", "tpu"], "invalid device 'tpu'"),
    case([*RUN, *TINY, "--device", "cuda:7"], "invalid device 'cuda:7'"),
    case([*RUN, *TINY, "--data", "mnist:<IN>/digits"], "have none of class 5, 6, 7, 8, 9"),
    case([*RUN, *TINY, "--resume", "somewhere"], "--resume continues with somewhere/config.yaml: drop --tasks"),
    case(["scenario", "--data", "mnist:<IN>/digits", "--train-scenes", "16"], "have none of class 5, 6, 7, 8, 9"),
    # scenes that cannot be made: beyond memory, digits larger than the scenes, no training digit left, no room
    case([*RUN, "--steps", "2", "--set", "scenario.train_scenes=100000000"],
         f"scenario.train_scenes=100000000, test_scenes=500 of 60x60 pixels need about 5.0 TB {MEMORY}"),
    case([*RUN, "--steps", "2", "--set", "scenario.test_scenes=100000000"],
         f"scenario.train_scenes=2000, test_scenes=100000000 of 60x60 pixels need about 5.0 TB {MEMORY}"),
    case([*RUN, "--steps", "2", "--method", "joint", "--set", "scenario.train_scenes=20000000"],
         f"scenario.train_scenes=20000000 (x 5 tasks), test_scenes=500 of 60x60 pixels need about 5.0 TB {MEMORY}"),
    case([*RUN, *TINY, "--data", "mnist:<IN>/big"], "the digits of 'mnist:<IN>/big' are 64x64 pixels, larger than "
                                                    "the 60x60 scenes"),
    case([*RUN, *TINY, "--set", "scenario.val_scenes=10", "--set", "scenario.val_fraction=0.999"],
         "invalid scenario.val_fraction=0.999: it holds out every training digit of class 0"),
    case([*RUN, *TINY, "--set", "scenario.min_digits=4", "--set", "scenario.size=28", "--set",
          "scenario.max_box_iou=0"], "invalid scenario.min_digits=4: a 28x28 scene holds 1 digit of 28x28 pixels"),
    # a benchmark given no methods says what it would run, and stops
    case(["benchmark"], "no --methods given: the benchmark would run all "),
    case(["benchmark", "--methods", ""], "no --methods given"),
    case(["benchmark", "--all", "--methods", "lwf"], "--all runs every built-in method: drop it or --methods lwf"),
    # a run and a benchmark directory are never mixed
    case([*TINY_RUN_ARGS, "--out", "<IN>/benchmark"], "invalid --out <IN>/benchmark: it is a benchmark directory"),
    case(["benchmark", "--methods", "finetune", "--out", "<IN>/run"], "invalid --out <IN>/run: it is a run directory"),
    # output paths that cannot be written
    case(["run", *TINY, "--out", "<IN>/dangling"], "invalid --out <IN>/dangling: <IN>/dangling is a symbolic link "
                                                   "to <IN>/nowhere, which does not exist"),
    case(["run", *TINY, "--out", "<IN>/dangling/r"], "<IN>/dangling is a symbolic link"),
    case(["run", *TINY, "--out", "<FILE>"], "invalid --out <FILE>: it is a file; --out takes a directory"),
    case(["run", *TINY, "--out", "<FILE>/run"], "invalid --out <FILE>/run: <FILE> is a file, not a directory"),
    case(["run", *TINY, "--out", f"<TMP>/{LONG}"], "File name too long"),
    case(["run", *TINY, "--out", f"<TMP>/new/{LONG}"], "more than the"),
    case(["benchmark", "--out", "<FILE>"], "invalid --out <FILE>: it is a file"),
    case(["benchmark", "--out", "<FILE>/b"], "<FILE> is a file, not a directory"),
    case(["scenario", "--train-scenes", "8", "--save", "<FILE>/grid.png"], "invalid --save <FILE>/grid.png: <FILE> is "
                                                                           "a file"),
    case(["scenario", "--train-scenes", "8", "--save", "<TMP>"], "invalid --save <TMP>: it is a directory"),
    case(["scenario", "--train-scenes", "8", "--save-shift", f"<TMP>/{LONG}.png"], "invalid --save-shift"),
    case(["data", "download", "mnist", "--dir", "<FILE>"], "invalid --dir <FILE>: it is a file"),
    case(["data", "download", "mnist", "--dir", "<FILE>/mnist"], "<FILE> is a file, not a directory"),
    # scenario previews bounded
    case(["scenario", "--train-scenes", "8", "--samples", "100000"], "invalid --samples 100000: must be 1..20"),
    case(["scenario", "--train-scenes", "8", "--samples", "0"], "invalid --samples 0: must be 1..20"),
    case(["scenario", "--train-scenes", "8", "--samples", "9", "--save", "<TMP>/g.png"],
         "invalid --samples 9: must be 1..8"),
]


@dataclass
class MemoryParams:
    memory_size: int = 10


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The prepared inputs (<IN>), made once: read by the cases, never written."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "unclosed.yaml").write_text("method: [unclosed\n")
    (folder / "list.yaml").write_text("- 1\n- 2\n")
    (folder / "int.yaml").write_text("42\n")
    digits, rng = folder / "digits", np.random.default_rng(0)
    digits.mkdir()
    for prefix, n in (("train", 200), ("t10k", 100)):  # IDX files holding only digits 0..4
        write_idx(digits / f"{prefix}-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28), dtype=np.uint8))
        write_idx(digits / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 5).astype(np.uint8))
    for name, content in CONFIGS.items():
        (folder / "config" / name).mkdir(parents=True)
        (folder / "config" / name / "c.yaml").write_bytes(content if isinstance(content, bytes) else content.encode())
    big = folder / "big"
    big.mkdir()
    for prefix, n in (("train", 20), ("t10k", 10)):  # IDX files of 64x64 digits, every class
        write_idx(big / f"{prefix}-images-idx3-ubyte", rng.integers(0, 255, (n, 64, 64), dtype=np.uint8))
        write_idx(big / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    (folder / "run").mkdir()
    (folder / "run" / "results.json").write_text("{}")
    (folder / "benchmark").mkdir()
    (folder / "benchmark" / "benchmark.json").write_text("{}")
    (folder / "dangling").symlink_to(folder / "nowhere")
    (folder / "corrupt").mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        with gzip.open(folder / "corrupt" / f"{name}.gz", "wb") as f:
            f.write(b"\x00\x00\x08\x03\x00\x00\x00\x05")  # a header promising data that is not there
    return folder


def tree(folder) -> dict:
    return {str(p): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("args, needles, code", CASES)
def test_bad_input_is_one_clear_line_and_leaves_nothing(args, needles, code, tmp_path, inputs, monkeypatch, capsys):
    monkeypatch.setitem(METHODS, "with-memory", finetune_with_params("with-memory", MemoryParams,
                                                                     memory_param="memory_size"))
    monkeypatch.chdir(tmp_path)  # a default run directory would appear here
    (tmp_path / "afile").write_text("not a directory")
    places = {"<TMP>": str(tmp_path), "<FILE>": str(tmp_path / "afile"), "<IN>": str(inputs)}

    def fill(text):
        for key, value in places.items():
            text = text.replace(key, value)
        return text

    before, inputs_before = tree(tmp_path), tree(inputs)
    assert main([fill(a) for a in args]) == code
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and err.startswith("csslab: error: "), err
    assert out == "" and len(err) < 600, out
    assert all(fill(needle) in lines[0] for needle in needles), err
    if "--config" not in args:  # values as typed, not as parsed
        assert "True" not in err and "False" not in err and "{" not in err
    assert tree(tmp_path) == before and tree(inputs) == inputs_before  # nothing written, nothing changed


def test_no_traceback_from_the_real_entry_point():
    proc = subprocess.run([sys.executable, "-m", "csslab", "run", "--tasks", "7-2"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "Traceback" not in proc.stderr
    assert "'7-2'" in proc.stderr


def test_the_python_api_refuses_the_same_parameter():
    import csslab

    with pytest.raises(ValueError, match=r"invalid params.pseudo_threshold=2.0 for method ssul"):
        csslab.run(method="ssul", pseudo_threshold=2)
