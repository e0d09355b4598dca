"""Methods declare once: each Params field's range or choices (``csslab.methods.base.param``), checked by
``Method.make_params`` before anything is written; ``base_task`` a class attribute; the scenario's defaults in
the configuration's dataclasses only."""

import dataclasses
from typing import get_type_hints

import pytest
import torch
from conftest import make_method, tiny_data

import csslab
from csslab.cli.main import main
from csslab.cli.parser import build_parser
from csslab.core.config import ScenarioConfig, TrainConfig
from csslab.data.scenes import SceneConfig
from csslab.methods import METHODS, get_method
from csslab.methods.base import FEATURE_MAPS, check_params
from csslab.model.network import BACKBONES
from csslab.scenarios import Scenario, make_scenario
from csslab.scenarios.tasks import Task

# (method, --set value, what the one line must say): issue 29's cases first, then one per kind of declaration;
# each is a row of tests/test_refusals.py's table (`csslab run --method METHOD --set VALUE`)
BAD = [
    ("ewc", "params.decay=2", "invalid params.decay=2.0 for method ewc: must be in [0, 1]"),
    ("ewc", "params.fisher_batches=0", "invalid params.fisher_batches=0 for method ewc: must be >= 1"),
    ("mib", "params.lam=nan", "invalid params.lam=nan for method mib: must be a finite number >= 0"),
    ("mib", "params.lam=1e309", "invalid params.lam=1e309 for method mib: must be a finite number >= 0"),
    ("mib", "params.alpha=-inf", "invalid params.alpha=-inf for method mib: must be a finite number >= 0"),
    ("sdr", "params.lam_pm=nan", "invalid params.lam_pm=nan for method sdr: must be a finite number >= 0"),
    ("ilt", "params.feature=nosuch",
     "invalid params.feature='nosuch' for method ilt: valid values are enc1, enc2, encoder, decoder"),
    ("plop", "params.scales=0,-1", "invalid params.scales='0,-1' for method plop: a comma-separated list, e.g. 1,2,4; "
                                   "every item must be an integer >= 1"),
    ("plop", "params.pod_maps=nosuch", "invalid params.pod_maps='nosuch' for method plop: a comma-separated list, "
                                       "e.g. enc1,encoder,decoder; valid items are enc1, enc2, encoder, decoder"),
    ("plop", "params.threshold_rule=mean",
     "invalid params.threshold_rule='mean' for method plop: valid values are median, histogram"),
    ("ssul", "params.head_hidden=-1", "invalid params.head_hidden=-1 for method ssul: must be >= 0"),
    ("ewc", "params.fisher=always", "invalid params.fisher='always' for method ewc: valid values are steps, after"),
    ("replay", "params.refresh=off", "invalid params.refresh='off' for method replay: valid values are pseudo, none"),
    ("dkd", "params.replay_fraction=5", "invalid params.replay_fraction=5.0 for method dkd: must be in [0, 4]"),
    ("eir", "params.threshold=1.5", "invalid params.threshold=1.5 for method eir: must be in [0, 1]"),
    ("microseg", "params.unseen_clusters=0", "invalid params.unseen_clusters=0 for method microseg: must be >= 1"),
    ("sdr", "params.feature=enc3",
     "invalid params.feature='enc3' for method sdr: valid values are enc1, enc2, encoder, decoder"),
]


@pytest.mark.parametrize("method, setting, line", BAD[:8], ids=[f"{m}:{s}" for m, s, _ in BAD[:8]])
def test_the_api_raises_the_same_line(tmp_path, method, setting, line):
    key, value = setting.removeprefix("params.").split("=", 1)
    with pytest.raises(ValueError) as error:
        csslab.run(method=method, out=tmp_path / "run", **{key: value})
    assert str(error.value) == line
    assert list(tmp_path.iterdir()) == []


def _number_fields(cls):
    hints = get_type_hints(cls.Params)
    return [f for f in dataclasses.fields(cls.Params) if hints[f.name] in (int, float)]


@pytest.mark.parametrize("name", list(METHODS))
def test_every_number_param_declares_a_range_and_every_word_its_choices(name):
    cls = METHODS[name]
    hints = get_type_hints(cls.Params)
    for f in dataclasses.fields(cls.Params):
        if hints[f.name] in (int, float):
            assert f.metadata.get("low") is not None or f.metadata.get("high") is not None, f"{name}: {f.name}"
        elif hints[f.name] is str:
            assert f.metadata.get("choices") or f.metadata.get("items"), f"{name}: {f.name}"
        else:
            assert hints[f.name] is bool, f"{name}: {f.name} is {hints[f.name]}"
    check_params(name, cls.Params())  # the defaults are valid


@pytest.mark.parametrize("name", [n for n in METHODS if _number_fields(METHODS[n])])
def test_each_declared_end_is_enforced(name):
    """Just past each declared end is refused; the end itself is accepted."""
    cls = METHODS[name]
    for f in _number_fields(cls):
        step = 1 if get_type_hints(cls.Params)[f.name] is int else 1e-6
        for end, outside in ((f.metadata["low"], -step), (f.metadata["high"], step)):
            if end is None:
                continue
            assert getattr(cls.make_params({f.name: end}), f.name) == end
            with pytest.raises(ValueError, match=rf"^invalid params\.{f.name}=\S+ for method {name}: must be "):
                cls.make_params({f.name: end + outside})


def test_a_params_object_given_directly_is_checked_too():
    ewc = get_method("ewc")
    with pytest.raises(ValueError, match=r"^invalid params.normalise='max' for method ewc: valid values are"):
        ewc(dataclasses.replace(ewc.Params(), normalise="max"))


def test_feature_map_choices_are_the_backbones_maps():
    seen = set()
    for backbone in BACKBONES.values():
        with torch.no_grad():
            _, named = backbone().eval()(torch.zeros(1, 1, 60, 60))
        seen |= set(named)
    assert seen == set(FEATURE_MAPS)


def test_base_task_is_a_class_attribute_and_dkd_keys_its_base_by_its_params():
    for name, cls in METHODS.items():
        assert "base_task" not in vars(cls) or isinstance(vars(cls)["base_task"], (str, type(None))), name
        assert all(f in {g.name for g in dataclasses.fields(cls.Params)} for f in cls.base_params), name
    assert METHODS["dkd"].base_task == METHODS["dkd-m"].base_task == "dkd-bce"
    dkd = make_method("dkd")
    assert dkd.base_key() == make_method("dkd-m").base_key()  # the memory is empty in task 0
    assert dkd.base_key() == make_method("dkd", memory_size=5, kd=1.0).base_key()  # nothing of task 0
    assert dkd.base_key() != make_method("dkd", head_lr=1.0).base_key() != make_method("dkd", ac=0).base_key()
    assert make_method("lwf").base_key() == "ce" and make_method("ssul").base_key() is None


def test_microseg_skips_ssuls_weight_transfer_through_its_hook():
    from csslab.methods.microseg import MicroSeg
    from csslab.methods.ssul import SSUL

    assert MicroSeg.before_task is SSUL.before_task and MicroSeg.init_new_head is not SSUL.init_new_head
    method = make_method("microseg", head_hidden=0)
    head = torch.nn.Conv2d(4, 2, 1)
    before = head.weight.detach().clone()
    method.unknown = method.unknown_head(4)
    assert method.unknown.out_channels == method.params.unseen_clusters
    method.init_new_head(head)
    assert torch.equal(head.weight, before)
    ssul = make_method("ssul", head_hidden=0)
    ssul.unknown = ssul.unknown_head(4)
    ssul.init_new_head(head)
    assert torch.equal(head.weight, ssul.unknown.weight.expand_as(head.weight))


def test_evaluation_batches_come_from_train_eval_batch_size():
    """SDR's prototypes are taken in batches of ``eval_batch_size`` (train.eval_batch_size), not 250."""
    from csslab.model.network import IncrementalSegmenter

    task = Task(0, (0, 1), ())
    images, masks = tiny_data(task, n=7)
    model = IncrementalSegmenter()
    model.add_head(3)
    sizes = []
    model.backbone.register_forward_hook(lambda module, inputs, output: sizes.append(len(inputs[0])))
    sdr = get_method("sdr")
    method = sdr(sdr.Params(), eval_batch_size=3)
    method.after_task(task, model, images, masks)
    assert sizes == [3, 3, 1]
    assert sdr().eval_batch_size == TrainConfig.eval_batch_size


def test_scenario_defaults_are_the_configurations():
    config = ScenarioConfig()
    assert dataclasses.asdict(SceneConfig()) == {k: getattr(config, k) for k in dataclasses.asdict(SceneConfig())}
    assert make_scenario() == Scenario.from_config(config)
    assert make_scenario(min_digits=3, size=56).scene == SceneConfig(size=56, min_digits=3)
    with pytest.raises(ValueError, match=r"^unknown argument sizes= of make_scenario: .* \(size, min_digits"):
        make_scenario(sizes=40)


def test_help_texts_state_the_configurations_defaults():
    commands = build_parser()._subparsers._group_actions[0].choices
    helps = {action.dest: action.help for action in commands["run"]._actions}
    assert f"(default {TrainConfig.steps};" in helps["steps"] and f"(default {ScenarioConfig.tasks})" in helps["tasks"]
    assert commands["scenario"].get_default("train_scenes") == ScenarioConfig.train_scenes


def test_pretrained_params_are_the_defaults_only_on_a_backbone_that_knows_the_classes():
    """SSUL's (and MicroSeg's) per-layer rates are on under model.pretrain=digits or joint, off from scratch or on
    shapes, an explicit value wins in every regime, and the run's saved configuration says which was used."""
    from csslab.core.config import Config, apply_overrides
    from csslab.methods.base import KNOWS_THE_CLASSES
    from csslab.store.runstore import resolved

    for name, cls in METHODS.items():  # every recipe names a field of the method's params, with a valid value
        assert set(cls.pretrained_params) <= {f.name for f in dataclasses.fields(cls.Params)}, name
        cls.make_params({}, KNOWS_THE_CLASSES[0])
    for name in ("ssul", "microseg"):
        cls = get_method(name)
        assert [cls.make_params({}, g).layer_lrs for g in ("none", "shapes", "digits", "joint")] == [False, False,
                                                                                                    True, True]
        assert cls.make_params({"layer_lrs": "false"}, "digits").layer_lrs is False
        assert cls.make_params({"layer_lrs": True}, "none").layer_lrs is True
        saved = [resolved(apply_overrides(Config(), [f"method={name}", f"model.pretrain={g}"]))["params"]["layer_lrs"]
                 for g in ("none", "digits")]
        assert saved == [False, True]
    assert not get_method("mib").pretrained_params and not get_method("dkd").pretrained_params
