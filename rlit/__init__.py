"""rlit: evaluation-driven RL on top of instruction tuning, with pip-installable reward plugins."""

from rlit.errors import ConfigError, DataError, GateFailed, PluginError, RlitError, SourceError
from rlit.hookspecs import hookimpl
from rlit.rewards.source import RewardSource, Unscorable

__version__ = "0.1.0"

__all__ = [
    "RewardSource",
    "Unscorable",
    "hookimpl",
    "RlitError",
    "ConfigError",
    "DataError",
    "PluginError",
    "SourceError",
    "GateFailed",
    "__version__",
]
