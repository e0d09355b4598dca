from csslab.scenarios.labels import PRESETS, Setting, all_settings, make_setting
from csslab.scenarios.scenario import Scenario, make_scenario
from csslab.scenarios.tasks import Task, make_tasks, parse_class_order, parse_split

__all__ = [
    "PRESETS", "Scenario", "Setting", "Task", "all_settings", "make_scenario", "make_setting",
    "make_tasks", "parse_class_order", "parse_split",
]
