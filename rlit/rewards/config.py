"""The reward config (``reward.toml``): which sources, their options, weights, normalisation,
vetoes, failure policy and the score cache. Every key is documented in docs/reward-config.md.

Validation errors are one line naming the file and the key, e.g.
``reward.toml: sources[1].weight: Input should be a valid number (got 'high')``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from rlit.configfile import ConfigModel, ConfigPath, build, config_folder, read_toml, resolve_path
from rlit.errors import ConfigError

Normalize = Literal["none", "batch", "running"]


class VetoConfig(ConfigModel):
    """Past the threshold (in the source's raw units), the row's total becomes ``penalty``."""

    above: float | None = Field(None, description="Veto when the raw score is greater than this.")
    below: float | None = Field(None, description="Veto when the raw score is less than this.")
    penalty: float = Field(description="The total that replaces the row's reward when the veto fires.")

    @model_validator(mode="after")
    def _one_threshold(self) -> "VetoConfig":
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of 'above' or 'below'")
        return self


class SourceConfig(ConfigModel):
    """One ``[[sources]]`` entry."""

    name: str | None = Field(None, description="A registered reward source (see `rlit rewards`); with `function`, the source's name (default: the function's).")
    function: str | None = Field(None, description="A plain reward function instead of a registered source: 'package.module:attr' or 'path/to/file.py:attr' (relative to the config file). Importing it runs its module's code.")
    signature: Literal["trl", "verl"] = Field("trl", description="How `function` is called: trl = fn(prompts, completions, **columns) per batch; verl = compute_score(data_source, solution_str, ground_truth, extra_info) per row.")
    columns: dict[str, str] = Field(default_factory=dict, description="`function` only: parameter -> the row column it is given from (verl defaults: data_source, ground_truth, extra_info).")
    completions: Literal["auto", "text", "messages"] = Field("auto", description="`function` with signature trl only: completions as strings or as TRL's conversational [{role, content}] lists; auto = messages when the function's `completions` is annotated as message lists (trl.rewards).")
    label: str | None = Field(None, description="Key for this entry in scores and stats; defaults to `name`. Needed when one source appears twice.")
    weight: float = Field(1.0, description="Multiplies the (normalised) score; a negative weight turns a score into a penalty.")
    options: dict[str, Any] = Field(default_factory=dict, description="Constructor keywords of the source.")
    normalize: Normalize | None = Field(None, description="none | batch | running; defaults to the top-level `normalize`.")
    veto: VetoConfig | None = Field(None, description="Replace the total with a penalty when the raw score passes a threshold.")
    on_error: Literal["fail", "skip"] = Field("fail", description="fail: stop with an error; skip: score this batch as 'no score' and warn.")
    timeout: float | None = Field(None, gt=0, description="Seconds to wait for one batch from this source; unset = no limit.")
    cache: bool = Field(True, description="Cache this source's scores (turn off for non-deterministic sources).")

    @field_validator("function")
    @classmethod
    def _function_spec(cls, value: str | None) -> str | None:
        if value is not None:
            parse_function_spec(value)  # ValueError -> "sources[i].function: ..."
        return value

    @model_validator(mode="after")
    def _name_or_function(self) -> "SourceConfig":
        if self.function is None:
            if self.name is None:
                raise ValueError(".name: Field required: give 'name' (a registered reward source, see `rlit rewards`) or 'function' ('package.module:function')")
            extra = [k for k in ("signature", "columns", "completions") if k in self.model_fields_set]
            if extra:
                raise ValueError(f".{extra[0]}: applies only to a 'function' source (this entry has 'name' = {self.name!r})")
            return self
        if self.name is None:
            self.name = default_name(self.function)
        if self.signature == "verl" and "completions" in self.model_fields_set:
            raise ValueError(".completions: applies to signature = \"trl\" only (verl passes solution_str)")
        return self

    @property
    def key(self) -> str:
        return self.label or self.name  # type: ignore[return-value]  # set by the validator


def parse_function_spec(spec: str) -> tuple[str, str, bool]:
    """``(module_or_file, attribute, is_file)`` from ``"pkg.mod:attr"`` or ``"dir/file.py:attr"``."""
    target, sep, attr = spec.strip().rpartition(":")
    if not sep or not target or not attr:
        raise ValueError(f"expected 'package.module:function' or 'path/to/file.py:function' (got {spec!r})")
    if not all(part.isidentifier() for part in attr.split(".")):
        raise ValueError(f"{attr!r} is not a Python attribute name (got {spec!r})")
    is_file = target.endswith(".py") or "/" in target or "\\" in target
    if not is_file and not all(part.isidentifier() for part in target.split(".")):
        raise ValueError(f"{target!r} is neither a dotted module name nor a path to a .py file (got {spec!r})")
    return target, attr, is_file


def default_name(spec: str) -> str:
    """A function source's name when the config gives none: the attribute's (last) name."""
    return spec.rpartition(":")[2].split(".")[-1]


class RewardConfig(ConfigModel):
    """The whole reward config: top-level defaults plus a list of sources."""

    normalize: Normalize = Field("none", description="Default normalisation of every source: none | batch | running.")
    clip: float | None = Field(None, gt=0, description="Clip the total to [-clip, clip] (after vetoes); unset = no clipping.")
    cache_size: int = Field(100_000, ge=0, description="Rows kept per process in the in-memory score cache (0 = no memory cache).")
    cache_dir: ConfigPath | None = Field(None, description="Folder for a persistent sqlite score cache, relative to the config file.")
    sources: list[SourceConfig] = Field(min_length=1, description="The reward sources, as [[sources]] tables.")
    _origin: str = PrivateAttr("reward config")
    _base_dir: str | None = PrivateAttr(None)  # the config file's folder: relative function files resolve here

    @model_validator(mode="after")
    def _unique_keys(self) -> "RewardConfig":
        seen: set[str] = set()
        for i, s in enumerate(self.sources):
            if s.key in seen:
                raise ValueError(f"sources[{i}]: {s.key!r} appears twice; give one a distinct 'label'")
            seen.add(s.key)
        return self

    @property
    def origin(self) -> str:
        """Where this config came from (the file name), for error messages."""
        return self._origin

    @property
    def base_dir(self) -> Path | None:
        """The folder relative ``function`` file paths resolve against (the config file's)."""
        return Path(self._base_dir) if self._base_dir else None


def load_reward_config(source: str | Path | dict | RewardConfig, origin: str | None = None,
                       base_dir: str | Path | None = None) -> RewardConfig:
    """A validated ``RewardConfig`` from a TOML path, a dict, or a config (returned as is).

    Errors are ``ConfigError`` naming the file (or ``origin``) and the key. ``base_dir`` is where
    a dict config's relative paths resolve (a file's own folder otherwise; else the current one).
    """
    if isinstance(source, RewardConfig):
        return source
    base: Path | None = Path(base_dir) if base_dir is not None else None
    if isinstance(source, (str, Path)):
        data, origin, base = read_toml(source), origin or str(source), config_folder(source)
    elif isinstance(source, dict):
        data, origin = source, origin or "reward config"
    else:
        raise ConfigError(f"reward config must be a path, a dict or a RewardConfig, not {type(source).__name__}")
    config = build(RewardConfig, data, origin, base, unknown="listed")
    config._origin = origin
    config._base_dir = str(base) if base is not None else None
    return config



def anchor_inline_reward(table: Any, base: Path | None) -> Any:
    """An inline ``[reward]`` table of a trainer's config with its relative paths (``function``
    files, ``cache_dir``) made absolute against ``base``, the folder of the file it is written in.
    Without this a trainer would resolve them against the working directory, unlike a
    ``reward_config`` file, whose paths resolve beside it. Anything malformed is left for the
    reward config's own validation to report."""
    if base is None or not isinstance(table, dict):
        return table
    out = dict(table)
    if isinstance(out.get("cache_dir"), str):
        out["cache_dir"] = resolve_path(out["cache_dir"], base)
    if isinstance(out.get("sources"), list):
        out["sources"] = [_anchor_function(s, base) for s in out["sources"]]
    return out


def _anchor_function(source: Any, base: Path) -> Any:
    spec = source.get("function") if isinstance(source, dict) else None
    if not isinstance(spec, str):
        return source
    try:
        target, attr, is_file = parse_function_spec(spec)
    except ValueError:
        return source
    if not is_file:
        return source
    return {**source, "function": f"{resolve_path(target, base)}:{attr}"}


def _anchored(value: Any, info: ValidationInfo) -> Any:
    return anchor_inline_reward(value, (info.context or {}).get("base"))


# A trainer config's inline ``[reward]`` table: its relative paths resolve beside the config file.
InlineReward = Annotated[dict[str, Any], BeforeValidator(_anchored)]
