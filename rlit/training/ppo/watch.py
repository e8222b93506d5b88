"""The reward-hacking watch: flags a training reward that rises while a validation metric falls,
and one reward source whose share of the total passes a bound (a lone rule is hacked fast)."""

from __future__ import annotations

from typing import Any

from rlit.training.ppo.config import WatchConfig


class HackingWatch:
    """Feed it every step's reward and shares and every evaluation; it returns warning strings."""

    def __init__(self, cfg: WatchConfig):
        self.cfg = cfg
        self.rewards: list[float] = []
        self.baseline: dict[str, Any] | None = None  # first evaluation: metric value and reward then
        self.flagged_sources: set[str] = set()
        self.warnings: list[dict[str, Any]] = []

    def _recent_reward(self) -> float | None:
        recent = self.rewards[-self.cfg.window:]
        return sum(recent) / len(recent) if recent else None

    def on_step(self, step: int, mean_reward: float | None, shares: dict[str, float]) -> list[str]:
        """Warnings for this step: each source above ``max_source_share`` (every step it holds)."""
        if mean_reward is not None:
            self.rewards.append(mean_reward)
        out = [
            f"source {name!r} is {share:.0%} of the total reward (bound {self.cfg.max_source_share:.0%}): the policy may be optimising it alone"
            for name, share in shares.items() if share is not None and share > self.cfg.max_source_share
        ]
        self._record(step, "source-share", out)
        return out

    def new_console_warnings(self, warnings: list[str], shares: dict[str, float]) -> list[str]:
        """The subset worth printing: a source's share warning only when it first appears."""
        fresh = []
        for name in shares:
            hit = [w for w in warnings if f"source {name!r}" in w]
            if hit and name not in self.flagged_sources:
                fresh += hit
                self.flagged_sources.add(name)
            elif not hit:
                self.flagged_sources.discard(name)
        return fresh + [w for w in warnings if not w.startswith("source ")]

    def on_eval(self, step: int, metric: str, value: float | None, higher_is_better: bool = True) -> list[str]:
        """Compare with the first evaluation: reward up and metric down is flagged."""
        reward = self._recent_reward()
        if value is None:
            return []
        if self.baseline is None:
            self.baseline = {"step": step, "metric": metric, "value": value, "reward": reward}
            return []
        out = []
        drop = (self.baseline["value"] - value) if higher_is_better else (value - self.baseline["value"])
        base_reward = self.baseline["reward"] if self.baseline["reward"] is not None else (self.rewards[0] if self.rewards else None)
        if reward is not None and base_reward is not None:
            rise = reward - base_reward
            if rise > self.cfg.min_reward_rise and drop > self.cfg.min_metric_drop:
                out.append(
                    f"training reward rose {base_reward:.3f} -> {reward:.3f} while validation {metric} {'fell' if higher_is_better else 'rose (lower is better)'} "
                    f"{self.baseline['value']:.3f} -> {value:.3f} (since step {self.baseline['step']}): possible reward hacking"
                )
        self._record(step, "reward-vs-validation", out)
        return out

    def _record(self, step: int, kind: str, messages: list[str]) -> None:
        for m in messages:
            self.warnings.append({"step": step, "kind": kind, "message": m})

    def state_dict(self) -> dict[str, Any]:
        return {"rewards": self.rewards, "baseline": self.baseline, "flagged": sorted(self.flagged_sources), "warnings": self.warnings}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rewards = list(state.get("rewards", []))
        self.baseline = state.get("baseline")
        self.flagged_sources = set(state.get("flagged", []))
        self.warnings = list(state.get("warnings", []))

    def summary(self) -> dict[str, Any]:
        """For the final report: every distinct warning with the first and last step it fired."""
        seen: dict[str, dict[str, Any]] = {}
        for w in self.warnings:
            key = w["message"].split(" is ")[0] if w["kind"] == "source-share" else w["message"]
            entry = seen.setdefault(key, {"kind": w["kind"], "message": w["message"], "first_step": w["step"], "last_step": w["step"], "count": 0})
            entry["last_step"] = w["step"]
            entry["count"] += 1
        return {"n_warnings": len(self.warnings), "warnings": list(seen.values())}
