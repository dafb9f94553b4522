"""Training runs: settings (config), recipes (recipe), the loop (loop), checkpoints, logs, run
folders and main.py's command line (train_cli).

from training import RunConfig, train
train(RunConfig(env_name="cartpole", seed=0), "save/cartpole-seed0", callbacks=[print])
"""

from training.callbacks import EpisodeReport, StopTraining
from training.config import ConfigError, RunConfig
from training.loop import RunResult, train
from training.runs import RunError

__all__ = [
    "ConfigError", "EpisodeReport", "RunConfig", "RunError", "RunResult", "StopTraining", "train",
]  # fmt: skip
