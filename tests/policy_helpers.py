"""Policies for the tests of training/policy.py and the tools that play or evaluate one.

`tiny_run` trains a real run folder with main.py once per test session (2 episodes, 8 x 8
networks, a checkpoint after each episode: about 8 s); tests copy it before damaging it.
`results_folder` writes a shipped-results folder (config.json + actor.weights.h5) around a fresh
actor of any size. `balancing_policy` is a hand-made cartpole controller wrapped as a Policy: it
keeps the pole up for 400 steps and through pushes of 0.5, and drops it after a push of 2.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TINY_RUN_ARGS = (
    "--n_games", "2", "--save_every", "1", "--layer1_size", "8", "--layer2_size", "8",
    "--batch_size", "4", "--no_record", "--seed", "0",
)  # fmt: skip
_RUNS: dict[str, Path] = {}


def tiny_run(tmp_path_factory, env_name: str = "cartpole") -> Path:
    """A run folder as main.py makes it (checkpoints of episodes 1 and 2), trained in this
    process without XLA (the same update, traced but not compiled: seconds saved per folder);
    shared: do not modify."""
    if env_name not in _RUNS:
        from unittest import mock

        import training.loop
        from training.runs import make_agent

        folder = tmp_path_factory.mktemp(f"tiny_run_{env_name}") / "run"
        settings = dict(
            env_name=env_name, n_games=2, save_every=1, layer1_size=8, layer2_size=8,
            batch_size=4, no_record=True, seed=0, no_progress=True,
        )  # fmt: skip
        plain = lambda config, env: make_agent(config, env, jit_compile=False)  # noqa: E731
        with mock.patch.object(training.loop, "make_agent", plain):
            result = training.loop.train(settings, folder, log=lambda _: None)
        assert result.finished and result.episodes == 2
        _RUNS[env_name] = folder
    return _RUNS[env_name]


def copy_run(run: Path, target: Path) -> Path:
    shutil.copytree(run, target)
    return target


def run_config(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())


def results_folder(
    folder: Path,
    config: dict,
    n_inputs: int,
    n_actions: int,
    sizes: tuple[int, int] = (6, 5),
    seed: int = 3,
):
    """config.json (with `sizes` as layer sizes) and a fresh actor's weights; returns the actor."""
    from agent.networks import ActorNetwork

    folder.mkdir(parents=True, exist_ok=True)
    config = {**config, "layer1_size": sizes[0], "layer2_size": sizes[1]}
    (folder / "config.json").write_text(json.dumps(config))
    actor = ActorNetwork(n_actions, sizes[0], sizes[1], seed=seed)
    actor(np.zeros((1, n_inputs), dtype=np.float32))
    actor.save_weights(str(folder / "actor.weights.h5"))
    return actor


class BalancingActor:
    """A cartpole PD controller posing as NumpyActor: (mean, std) with tanh(mean) the action."""

    def __call__(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, vx, angle, spin = np.asarray(state, dtype=np.float64)
        mean = np.array([5.0 * angle + 0.5 * spin + 0.05 * (x - 3.0) + 0.3 * vx])
        return mean.astype(np.float32), np.full(1, 0.1, dtype=np.float32)


def balancing_policy(config: dict):
    from training.policy import Policy

    return Policy(
        BalancingActor(), folder=Path("controller"), config=dict(config),
        weights_path=Path("controller"),
    )  # fmt: skip
