"""rlit: evaluation-driven RL on top of instruction tuning, with pip-installable reward plugins."""

from rlit.errors import ConfigError, DataError, GateFailed, PluginError, RlitError, SourceError
from rlit.hookspecs import hookimpl
from rlit.plugins import load_reward
from rlit.rewards.batch import RewardBatch, Unscorable
from rlit.rewards.composite import CompositeReward
from rlit.rewards.functions import FunctionSource
from rlit.rewards.source import RewardSource, Verdicts
from rlit.rewards.trl import AsyncRewardFunction
from rlit.version import __version__

__all__ = [
    "RewardSource",
    "Unscorable",
    "Verdicts",
    "AsyncRewardFunction",
    "CompositeReward",
    "RewardBatch",
    "load_reward",
    "FunctionSource",
    "hookimpl",
    "RlitError",
    "ConfigError",
    "DataError",
    "PluginError",
    "SourceError",
    "GateFailed",
    "__version__",
]
