"""A training run's folder: what lives in it, its configuration and the objects it describes.

A run folder holds `config.json`, the checkpoints (`training/checkpoints.py`), the CSV log, the
learning curve `train.png`, the final recording and, with --tensorboard, `tensorboard/`. A
folder holding any of these is a used folder: a fresh run never writes into it (continue it
with --recover, or start over with --overwrite).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from training import checkpoints as ckpt
from training.config import ConfigError, RunConfig
from training.log import LOG_FILE

CONFIG_FILE = "config.json"
SAVE_ROOT = Path(__file__).resolve().parents[1] / "save"  # default home of the run folders
# Every file or folder a run writes beside its checkpoints (globs).
RUN_OUTPUTS = (
    CONFIG_FILE, LOG_FILE, "train_log.unreadable*.csv", "train.png", "simulation.mp4",
    "simulation_h264.mp4", "recordings", "tensorboard",
)  # fmt: skip


class RunError(Exception):
    """A problem with a run folder the user can fix; reported in one line."""


def used_by(run_dir: Path) -> list[str]:
    """The names of what earlier runs left in `run_dir` (empty: the folder is free)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = sorted({p.name for pattern in RUN_OUTPUTS for p in run_dir.glob(pattern)})
    if ckpt.has_checkpoint_files(run_dir):
        found.append("checkpoints")
    return found


def remove_run(run_dir: Path) -> None:
    """Delete everything a run wrote into its folder (only with an explicit --overwrite)."""
    ckpt.remove_checkpoints(run_dir)
    for pattern in RUN_OUTPUTS:
        for path in Path(run_dir).glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def load_config(run_dir: Path) -> dict[str, Any]:
    """The run's configuration from its config.json, checked like flags; missing settings (a
    run written before they existed) take their defaults. ValueError in one line otherwise."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (not a run folder made by main.py)")
    return _config_from_json(path.read_bytes(), str(path)).to_dict()


def _config_from_json(data: bytes, source: str) -> RunConfig:
    try:
        values = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(f"{source} is not valid JSON") from None
    if not isinstance(values, dict) or "env_name" not in values:
        raise ConfigError(f"{source} is not a configuration written by main.py")
    return RunConfig.from_record(values, source)


def recovered_config(run_dir: Path, checkpoint: ckpt.Checkpoint) -> tuple[RunConfig, str | None]:
    """The run's configuration: config.json, or the checkpoint manifest's copy when config.json
    is gone (written back then; the note says so)."""
    path = Path(run_dir) / CONFIG_FILE
    if path.exists():
        return _config_from_json(path.read_bytes(), str(path)), None
    config, source = manifest_config(checkpoint)
    ckpt.write_json_atomic(path, {**config.to_dict(), "save_dir": str(run_dir)})
    return config, f"{CONFIG_FILE} was missing: restored from {source}"


def manifest_config(checkpoint: ckpt.Checkpoint) -> tuple[RunConfig, str]:
    """The configuration a checkpoint's manifest holds, checked like flags, and its source."""
    saved = checkpoint.manifest.get("config")
    if not isinstance(saved, dict):
        raise RunError(
            f"{checkpoint.run_dir / CONFIG_FILE} is missing and the checkpoint's manifest holds "
            "no configuration"
        )
    source = f"the manifest of episode {checkpoint.episode}"
    return RunConfig.from_record(saved, source), source


def as_config(config: RunConfig | Mapping[str, Any]) -> RunConfig:
    return config if isinstance(config, RunConfig) else RunConfig.from_mapping(config)


def make_environment(config: RunConfig | Mapping[str, Any], **kwargs: Any):
    """The run's environment (task, options, episode cap), built with `kwargs` on top."""
    from environment import create_environment

    config = as_config(config)
    return create_environment(config.env_name, **{**config.environment_kwargs(), **kwargs})


def make_agent(config: RunConfig | Mapping[str, Any], env, **options: Any):
    """A SACAgent with the run's agent settings; sizes come from the environment's spaces.
    `options` are further SACAgent arguments that are not settings of a run (jit_compile)."""
    from agent.agent import SACAgent

    config = as_config(config)
    mirrored = config.mirror or config.symmetric_policy
    return SACAgent(
        input_dims=env.observation_space.shape,
        n_actions=env.action_space.shape[0],
        seed=config.seed,
        **config.agent_kwargs(),
        mirror=task_mirror(config) if mirrored else None,
        **options,
    )


def task_mirror(config: RunConfig | Mapping[str, Any]):
    """The task's left-right reflection (environment.Mirror) for a run's settings. A humanoid's
    is read off its start layout, so it takes a reset of an environment of its own."""
    env = make_environment(config)
    try:
        env.reset(seed=0)
        return env.unwrapped.mirror
    finally:
        env.close()


def most_recent_run(save_root: Path) -> Path | None:
    """The run folder under `save_root` whose newest checkpoint manifest is the newest."""
    runs = {p.parent for p in Path(save_root).glob(f"*/{CONFIG_FILE}")}
    runs |= {p.parent for p in Path(save_root).glob("*/checkpoint_ep*.json")}

    def last_activity(run_dir: Path) -> float:
        stamps = [p.stat().st_mtime for p in run_dir.glob("checkpoint_ep*.json")]
        config = run_dir / CONFIG_FILE
        return max(stamps, default=config.stat().st_mtime if config.exists() else 0.0)

    return max(runs, key=last_activity, default=None)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what native code prints to file descriptor 2 meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly():
    """Import TensorFlow without the notes its C++ side prints while loading (CUDA, oneDNN)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # probes for GPUs now, quietly
    return tf
