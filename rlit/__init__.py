"""rlit: evaluation-driven RL on top of instruction tuning, with pip-installable reward plugins."""

from rlit.errors import ConfigError, DataError, GateFailed, PluginError, RlitError, SourceError
from rlit.hookspecs import hookimpl
from rlit.rewards.source import AsyncRewardFunction, RewardSource, Unscorable
from rlit.version import __version__


def __getattr__(name: str):  # imported on first use: the composite pulls in numpy
    if name == "CompositeReward":
        from rlit.rewards.composite import CompositeReward

        return CompositeReward
    if name == "FunctionSource":
        from rlit.rewards.functions import FunctionSource

        return FunctionSource
    raise AttributeError(f"module 'rlit' has no attribute {name!r}")

__all__ = [
    "RewardSource",
    "Unscorable",
    "AsyncRewardFunction",
    "CompositeReward",
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
