"""A class-incremental segmentation scenario: tasks, a setting, and the scenes each task sees."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from csslab.core.config import SETTING_SWITCHES, ScenarioConfig
from csslab.core.constants import N_DIGITS
from csslab.data.digits import load_digits
from csslab.data.scenes import DIGIT_SHAPE, SceneConfig, capacity, make_scenes
from csslab.scenarios.labels import (
    Setting,
    allowed_digits,
    channel_to_digit_index,
    make_setting,
    eval_lut,
    train_lut,
)
from csslab.scenarios.tasks import Task, make_tasks, parse_class_order


def _tensors(*arrays):
    """The arrays as torch tensors (sharing memory). torch is imported here, when tensors are asked for,
    so that importing csslab (e.g. to read saved results and write reports) does not load it."""
    import torch

    return tuple(torch.from_numpy(a) for a in arrays)


SCENE_KEYS = tuple(f.name for f in fields(SceneConfig))  # how scenes look: keys of both configs


def _stream_seed(*parts) -> int:
    """A seed for one independent random stream, derived from the run seed and a purpose."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def partition(labels, n_parts: int, seed: int) -> list[np.ndarray]:
    """A seeded, class-stratified partition of digit instances into ``n_parts`` disjoint parts (sorted
    indices into ``labels``): each class's instances shuffled and split as evenly as possible, so every
    part holds about 1/n_parts of every class (Kwak et al.'s partitioned scenario, per digit instance)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts = [[] for _ in range(n_parts)]
    for digit in np.unique(labels):
        for part, chunk in zip(parts, np.array_split(rng.permutation(np.flatnonzero(labels == digit)), n_parts)):
            part.append(chunk)
    return [np.sort(np.concatenate(part)) for part in parts]


@dataclass(frozen=True)
class Scenario:
    """Validated, immutable description of a continual segmentation benchmark.

    Iterating yields the ``Task``s; ``train_set(task)`` and ``test_set(task)`` give scenes labelled
    as the setting prescribes. Scenes are generated lazily and cached on disk.
    """

    tasks: tuple[Task, ...]
    setting: Setting
    class_order: tuple[int, ...]
    data: str = ScenarioConfig.data
    seed: int = 0
    train_scenes: int = ScenarioConfig.train_scenes
    test_scenes: int = ScenarioConfig.test_scenes
    test_seed: int = 0
    # > 0: scenes of held-out training digits (val_set), and those digits leave every task
    val_scenes: int = ScenarioConfig.val_scenes
    val_fraction: float = ScenarioConfig.val_fraction  # of each class's training digits held out when val_scenes > 0
    scene: SceneConfig = field(default_factory=SceneConfig)
    split: str = ""
    cache_dir: object = None

    def __post_init__(self):
        for name in ("train_scenes", "test_scenes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"invalid {name}={getattr(self, name)}: must be a positive number of scenes")
        if self.val_scenes < 0:
            raise ValueError(f"invalid val_scenes={self.val_scenes}: must be 0 (no validation set) or a number of "
                             "scenes")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"invalid val_fraction={self.val_fraction}: must be in (0, 1), the share of each class's "
                             "training digits held out for validation")
        c, (h, w) = self.scene, DIGIT_SHAPE
        if (fit := capacity(c, DIGIT_SHAPE, enough=c.min_digits)) < c.min_digits:  # else scenes hold fewer, silently
            raise ValueError(f"invalid scenario.min_digits={c.min_digits}: a {c.size}x{c.size} scene holds {fit} "
                             f"digit{'s' * (fit != 1)} of {h}x{w} pixels at scenario.max_box_iou={c.max_box_iou:g} "
                             "(placed row by row); use a larger scenario.size or max_box_iou, or fewer min_digits")

    @classmethod
    def from_config(cls, config: ScenarioConfig, seed: int = 0, cache_dir=None) -> "Scenario":
        """The scenario ``config`` (a run's ``scenario`` section) describes, with the run's ``seed``."""
        return make_scenario(
            tasks=config.tasks, setting=config.setting, data=config.data, seed=seed, class_order=config.class_order,
            train_scenes=config.train_scenes, test_scenes=config.test_scenes, cache_dir=cache_dir,
            val_scenes=config.val_scenes, val_fraction=config.val_fraction,
            scene=SceneConfig(**{key: getattr(config, key) for key in SCENE_KEYS}),
            **{switch: getattr(config, switch) for switch in SETTING_SWITCHES},
        )

    def config(self) -> ScenarioConfig:
        """The inverse of ``from_config``, resolved: the setting's switches written out and its name
        derived from them (a preset's, or the compact one ``make_setting`` reads), the class order
        ``natural`` or the permutation itself. A run saves its scenario in this form."""
        natural = self.class_order == tuple(range(len(self.class_order)))
        return ScenarioConfig(
            tasks=self.split or "-".join(str(len(task.classes)) for task in self.tasks), setting=self.setting.name,
            class_order="natural" if natural else ",".join(map(str, self.class_order)), data=self.data,
            train_scenes=self.train_scenes, test_scenes=self.test_scenes, val_scenes=self.val_scenes,
            val_fraction=self.val_fraction, **asdict(self.setting), **asdict(self.scene),
        )

    # --- a scenario is a sequence of tasks
    def __iter__(self):
        return iter(self.tasks)

    def __len__(self):
        return len(self.tasks)

    def __getitem__(self, index):
        return self.tasks[index]

    @property
    def n_classes(self) -> int:
        return len(self.class_order)

    @property
    def digit_index(self) -> np.ndarray:
        """Model channel -> results index (0 = background, d+1 = digit d)."""
        return channel_to_digit_index(self.class_order)

    def joint(self) -> "Scenario":
        """The same data as one task of all classes with full labels: the joint-training upper bound.
        It gets the scenes of all tasks together."""
        return Scenario(
            tasks=make_tasks(str(self.n_classes), self.class_order, self.n_classes),
            setting=self.setting,
            class_order=self.class_order,
            data=self.data,
            seed=self.seed,
            train_scenes=self.train_scenes * len(self.tasks),
            test_scenes=self.test_scenes,
            test_seed=self.test_seed,
            val_scenes=self.val_scenes,
            val_fraction=self.val_fraction,
            scene=self.scene,
            split=str(self.n_classes),
            cache_dir=self.cache_dir,
        )

    # --- data
    def digits(self):
        return load_digits(self.data)

    def held_out(self) -> np.ndarray:
        """bool per training digit: held out for the validation scenes (none when ``val_scenes`` is 0). Per class,
        ``val_fraction`` of its digits (at least one), drawn with a fixed seed: the same for every run seed, so a
        sweep over seeds is validated on one set of digits, never seen in training."""
        labels = self.digits().train_labels
        held = np.zeros(len(labels), dtype=bool)
        if not self.val_scenes:
            return held
        rng = np.random.default_rng(_stream_seed("validation digits", self.test_seed))
        for digit in np.unique(labels):
            index = np.flatnonzero(labels == digit)
            held[rng.choice(index, max(1, round(self.val_fraction * len(index))), replace=False)] = True
        return held

    def _train_digits(self, task: Task) -> np.ndarray:
        """Indices of the training digits ``task``'s scenes may use: every digit not held out for validation
        (``instances=shared``), or the task's own part of a seeded, class-stratified partition of them into one
        part per task (``partitioned``: no digit instance is in two tasks' scenes; the joint bound, one task, has
        them all)."""
        use = np.flatnonzero(~self.held_out())
        if self.setting.instances == "shared":
            return use
        labels = self.digits().train_labels[use]
        return use[partition(labels, len(self.tasks), _stream_seed("partition", self.seed))[task.index]]

    def train_digits(self, task: Task):
        """The training digits (images, labels) ``task``'s scenes are built from (``_train_digits``)."""
        digits = self.digits()
        use = self._train_digits(task)
        if len(use) == len(digits.train_labels):  # every digit: the arrays themselves, scenes (and cache) as before
            return digits.train_images, digits.train_labels
        return digits.train_images[use], digits.train_labels[use]

    def train_labels(self, task: Task) -> np.ndarray:
        """The labels of the training digits ``task``'s scenes are built from (``train_digits`` without images)."""
        return self.digits().train_labels[self._train_digits(task)]

    def train_raw(self, task: Task):
        """Training scenes of ``task`` with digit masks (0 = background, d+1 = digit d)."""
        digits = self.digits()
        allowed = allowed_digits(task, self.setting, self.class_order)
        images, labels = self.train_digits(task)
        return make_scenes(
            images, labels, self.train_scenes, self.scene,
            allowed=allowed, required=task.classes,
            seed=_stream_seed("train", self.seed, task.index, allowed, task.classes),
            cache_dir=self.cache_dir, source_key=f"{digits.name}:train",
        )

    def val_raw(self):
        """The validation scenes over all classes, from the held-out training digits, with digit masks."""
        if not self.val_scenes:
            raise ValueError("this scenario has no validation set: set scenario.val_scenes to a number of scenes")
        digits = self.digits()
        held = self.held_out()
        return make_scenes(
            digits.train_images[held], digits.train_labels[held], self.val_scenes, self.scene,
            allowed=None, required=None, seed=_stream_seed("validation", self.test_seed),
            cache_dir=self.cache_dir, source_key=f"{digits.name}:validation",
        )

    def val_set(self, task: Task):
        """The validation scenes labelled for evaluation after ``task``, as ``test_set``."""
        images, masks = self.val_raw()
        lut = eval_lut(task, self.setting, self.class_order)
        return _tensors(images[:, None], lut[masks])

    def test_raw(self):
        """The fixed test scenes over all classes, with digit masks."""
        digits = self.digits()
        return make_scenes(
            digits.test_images, digits.test_labels, self.test_scenes, self.scene,
            allowed=None, required=None, seed=_stream_seed("test", self.test_seed),
            cache_dir=self.cache_dir, source_key=f"{digits.name}:test",
        )

    def train_set(self, task: Task):
        """float32 [N,1,H,W] images and uint8 [N,H,W] channel labels as seen when training ``task``."""
        images, masks = self.train_raw(task)
        lut = train_lut(task, self.setting, self.class_order)
        return _tensors(images[:, None], lut[masks])

    def test_set(self, task: Task):
        """The fixed test scenes labelled for evaluation after ``task``."""
        images, masks = self.test_raw()
        lut = eval_lut(task, self.setting, self.class_order)
        return _tensors(images[:, None], lut[masks])


def make_scenario(
    tasks: str = ScenarioConfig.tasks,
    setting: str | Setting = ScenarioConfig.setting,
    data: str = ScenarioConfig.data,
    seed: int = 0,
    class_order=None,
    train_scenes: int = ScenarioConfig.train_scenes,
    test_scenes: int = ScenarioConfig.test_scenes,
    scene: SceneConfig | None = None,
    val_scenes: int = ScenarioConfig.val_scenes,
    val_fraction: float = ScenarioConfig.val_fraction,
    cache_dir=None,
    **switches,
) -> Scenario:
    """Build a scenario, by default ``ScenarioConfig``'s; switches (``old_in_images``, ``future_in_images``,
    ``old_labels``, ``test_future``, ``instances``) override the preset's, and ``SceneConfig``'s keys (``size``,
    ``min_digits``, ...) those of ``scene``."""
    unknown = sorted(set(switches) - set(SETTING_SWITCHES) - set(SCENE_KEYS))
    if unknown:
        raise ValueError(f"unknown argument {unknown[0]}= of make_scenario: besides its named ones, valid are the "
                         f"setting's switches ({', '.join(SETTING_SWITCHES)}) and the scenes' "
                         f"({', '.join(SCENE_KEYS)})")
    looks = {key: switches.pop(key) for key in SCENE_KEYS if key in switches}
    scene = replace(scene or SceneConfig(), **looks)
    order = parse_class_order(class_order, N_DIGITS)
    return Scenario(
        tasks=make_tasks(tasks, order, N_DIGITS),
        setting=make_setting(setting, **switches),
        class_order=order,
        data=data,
        seed=int(seed),
        train_scenes=int(train_scenes),
        test_scenes=int(test_scenes),
        val_scenes=int(val_scenes),
        val_fraction=float(val_fraction),
        scene=scene,
        split=str(tasks),
        cache_dir=cache_dir,
    )
