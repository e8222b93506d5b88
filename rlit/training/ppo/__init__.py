"""rlit's own PPO: rollout -> reward -> advantages -> clipped-loss update, on accelerate.

Semantics follow TRL 1.12's experimental PPOTrainer (the last upstream PPO); see docs/training-ppo.md.
Modules: config, data, rollout, advantages, losses, update, value, models, reward, checkpoint,
watch, steplog, evalhook, trainer.
"""

from rlit.training.ppo.config import PPORunConfig, load_ppo_config

__all__ = ["PPORunConfig", "load_ppo_config", "train_ppo"]


def train_ppo(*args, **kwargs):
    """See :func:`rlit.training.ppo.trainer.train_ppo`."""
    from rlit.training.ppo.trainer import train_ppo as _train

    return _train(*args, **kwargs)
