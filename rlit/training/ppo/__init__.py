"""rlit's own PPO: rollout -> reward -> advantages -> clipped-loss update, on accelerate.

Semantics follow TRL 1.12's experimental PPOTrainer (the last upstream PPO); see docs/training-ppo.md.
Modules: config, data, rollout, advantages, losses, update, value, models, reward, checkpoint,
watch, steplog, evalhook, trainer.
"""

from rlit.training.ppo.config import PPORunConfig, load_ppo_config
from rlit.training.ppo.trainer import train_ppo

__all__ = ["PPORunConfig", "load_ppo_config", "train_ppo"]
