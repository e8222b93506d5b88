"""Imports every command module so its commands attach to the app."""

from rlit.cli import rewards  # noqa: F401  (plugins, rewards, score)
from rlit.cli import train_reward  # noqa: F401  (train reward-model, train preference-pairs)
from rlit.cli import train_trl  # noqa: F401  (train sft, grpo, rloo)
from rlit.cli import evaluate  # noqa: F401  (evaluate, gate, compare)
from rlit.cli import train_ppo  # noqa: F401  (train ppo)
from rlit.cli import pipeline  # noqa: F401  (pipeline)
from rlit.cli import serve  # noqa: F401  (serve)
