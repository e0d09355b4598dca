"""csslab: continual (class-incremental) semantic segmentation on MNIST-digit scenes.

    import csslab
    scenario = csslab.make_scenario(tasks="2-2-2-2-2", setting="overlap", seed=0)
    results = csslab.run(method="mib", scenario=scenario, steps=250)
"""

__version__ = "0.1.0"

from csslab.api import run  # noqa: E402
from csslab.config import Config  # noqa: E402
from csslab.results import Results  # noqa: E402
from csslab.scenarios import Scenario, Task, make_scenario  # noqa: E402

__all__ = ["Config", "Results", "Scenario", "Task", "make_scenario", "run"]
