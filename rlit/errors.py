"""The error hierarchy. The CLI maps each type to an exit code in one place (rlit/cli/app.py)."""


class RlitError(Exception):
    """Base of every error rlit reports to the user as one line (exit code 2 unless stated)."""

    exit_code = 2


class ConfigError(RlitError):
    """A config file or option is malformed; the message names the file and key."""


class DataError(RlitError):
    """Input data is missing or malformed; the message names the file and line."""


class PluginError(RlitError):
    """A plugin failed to load, register or run; the message names the plugin."""


class SourceError(PluginError):
    """A reward source misbehaved at run time (raised, wrong length, NaN/inf, time-out)."""

    def __init__(self, source: str, problem: str):
        self.source = source
        self.problem = problem
        super().__init__(f"reward source {source!r}: {problem}")


class GateFailed(RlitError):
    """The release gate ran and at least one gate failed (exit code 1)."""

    exit_code = 1
