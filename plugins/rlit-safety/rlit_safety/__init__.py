"""rlit-safety: the ``toxicity`` and ``bias`` reward sources, and counterfactual (identity-swap) gaps.

See docs/plugins/safety.md. ``rlit_safety.counterfactual`` is the API the eval suite uses to check
that demographic swaps of a prompt get the same score from any source.
"""

import rlit

from rlit_safety.bias import BiasSource
from rlit_safety.toxicity import ToxicitySource


@rlit.hookimpl
def register_rewards(register):
    register(ToxicitySource)
    register(BiasSource)


__all__ = ["ToxicitySource", "BiasSource"]
