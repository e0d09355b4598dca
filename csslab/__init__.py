"""csslab: continual (class-incremental) semantic segmentation on MNIST-digit scenes.

    import csslab
    scenario = csslab.make_scenario(tasks="2-2-2-2-2", setting="overlap", seed=0)
    results = csslab.run(method="mib", scenario=scenario, steps=250)
"""

from csslab.core.version import __version__
from csslab.api import run
from csslab.core.config import Config
from csslab.store.results import Results
from csslab.scenarios import Scenario, Task, make_scenario

__all__ = ["__version__", "Config", "Results", "Scenario", "Task", "make_scenario", "run"]
