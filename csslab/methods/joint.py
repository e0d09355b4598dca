"""Joint training: one model on all classes at once with full labels (the upper bound)."""

from csslab.methods.finetune import FineTune


class Joint(FineTune):
    """Sees every class in one task, with the scenes and the step budget of all tasks together."""

    name = "joint"
    designed_for = "any backbone (a reference: the upper bound)"
    base_task = None  # one task of every class: no base to share
    bound = "upper"

    def prepare(self, scenario, steps):
        return scenario.joint(), steps * len(scenario)
