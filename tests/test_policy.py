"""training/policy.py: loading the final actor of a run or results folder, and acting with it."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from agent.networks import ActorNetwork
from tests.policy_helpers import REPO, TINY_RUN_ARGS, copy_run, results_folder, run_config, tiny_run
from training.policy import ACTOR_WEIGHTS, AVERAGE_WEIGHTS, PolicyError, load_policy


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_run(tmp_path_factory)


def keras_mean(actor: ActorNetwork, observation: np.ndarray) -> np.ndarray:
    mean, _ = actor(observation[None].astype(np.float32))
    return np.asarray(mean)[0]


def test_results_folder_acts_like_its_network(run, tmp_path):
    actor = results_folder(tmp_path / "results", run_config(run), 4, 1)
    policy = load_policy(tmp_path / "results")
    assert policy.episode is None and policy.weights_path == tmp_path / "results" / ACTOR_WEIGHTS
    assert policy.env_name == "CartpoleEnvironment" and "results" in policy.describe()
    env = policy.make_environment()
    assert env.max_episode_steps == 400
    observation, _ = env.reset(seed=0)
    for _ in range(5):
        action = policy.act(observation)
        assert action.dtype == np.float32 and action.shape == (1,)
        np.testing.assert_allclose(action, np.tanh(keras_mean(actor, observation)), atol=1e-6)
        observation, *_ = env.step(action)


def test_stochastic_actions_are_seeded(run, tmp_path):
    results_folder(tmp_path / "results", run_config(run), 4, 1)
    observation = np.array([3.0, 0.5, 0.0, 0.0], dtype=np.float32)
    draws = []
    for _ in range(2):
        policy = load_policy(tmp_path / "results", seed=7)
        draws.append([policy.act(observation, deterministic=False)[0] for _ in range(5)])
    assert draws[0] == draws[1] and len(set(draws[0])) == 5
    assert np.all(np.abs(draws[0]) < 1)
    assert policy.act(observation)[0] not in draws[0]


def test_run_folder_uses_the_newest_checkpoint(run):
    policy = load_policy(run)
    assert policy.episode == 2
    assert policy.weights_path == run / "models_ep2" / ACTOR_WEIGHTS
    actor = ActorNetwork(1, 8, 8)
    actor(np.zeros((1, 4), dtype=np.float32))
    actor.load_weights(str(policy.weights_path))
    observation = np.array([2.9, -0.3, 0.05, 0.4], dtype=np.float32)
    np.testing.assert_allclose(
        policy.act(observation), np.tanh(keras_mean(actor, observation)), atol=1e-6
    )


def test_a_run_that_keeps_an_averaged_actor_hands_over_the_average(tmp_path):
    """With --average_actor the averaged actor is the run's policy (evaluate.py, the tools)."""
    folder = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "main.py", *TINY_RUN_ARGS, "--average_actor", "50", "--save_dir",
         str(folder)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert run_config(folder)["average_actor"] == 50
    policy = load_policy(folder)
    assert policy.weights_path == folder / "models_ep2" / AVERAGE_WEIGHTS
    observation = np.array([2.9, -0.3, 0.05, 0.4], dtype=np.float32)
    means = {}
    for name in (AVERAGE_WEIGHTS, ACTOR_WEIGHTS):
        actor = ActorNetwork(1, 8, 8)
        actor(np.zeros((1, 4), dtype=np.float32))
        actor.load_weights(str(folder / "models_ep2" / name))
        means[name] = keras_mean(actor, observation)
    np.testing.assert_allclose(policy.act(observation), np.tanh(means[AVERAGE_WEIGHTS]), atol=1e-6)
    assert not np.allclose(means[AVERAGE_WEIGHTS], means[ACTOR_WEIGHTS])  # the average lags


def test_a_damaged_newest_checkpoint_falls_back_to_an_older_one(run, tmp_path):
    folder = copy_run(run, tmp_path / "run")
    with open(folder / "models_ep2" / ACTOR_WEIGHTS, "ab") as handle:
        handle.write(b"x")
    warnings = []
    policy = load_policy(folder, warn=warnings.append)
    assert policy.episode == 1 and policy.weights_path == folder / "models_ep1" / ACTOR_WEIGHTS
    assert len(warnings) == 1 and "episode 2" in warnings[0]


def test_older_configs_take_the_defaults_and_the_environment_options_are_kept(run, tmp_path):
    config = {**run_config(run), "env_name": "BollaRollaEnvironment"}
    config.pop("upright", None)
    results_folder(tmp_path / "old", config, 60, 8)
    assert load_policy(tmp_path / "old").make_environment().upright is False
    results_folder(tmp_path / "upright", {**config, "upright": True}, 60, 8)
    policy = load_policy(tmp_path / "upright")
    env = policy.make_environment(start_noise=0.1)
    assert env.upright is True and env.start_noise == 0.1
    observation, _ = env.reset(seed=0)
    assert policy.act(observation).shape == (8,)
    assert env.relative_x is False
    results_folder(tmp_path / "relative", {**config, "relative_x": True}, 60, 8)
    env = load_policy(tmp_path / "relative").make_environment()
    assert env.relative_x is True and env.reset(seed=0)[0][2] == 0.0


def _garble(folder):
    (folder / ACTOR_WEIGHTS).write_bytes(b"\x89HDF\r\n" + bytes(range(256)) * 8)


def _truncate(folder):
    data = (folder / ACTOR_WEIGHTS).read_bytes()
    (folder / ACTOR_WEIGHTS).write_bytes(data[: len(data) // 2])


def _other_sizes(folder):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "layer1_size": 7}))


def _other_task(folder):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "env_name": "standing"}))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: shutil.rmtree(f) or f.write_text("x"), "is not a folder"),
        (lambda f: (f / "config.json").unlink(), "has no config.json"),
        (lambda f: (f / "config.json").write_text("{not json"), "not valid JSON"),
        (lambda f: (f / ACTOR_WEIGHTS).unlink(), "neither actor.weights.h5 nor a good checkpoint"),
        (_garble, "unreadable or damaged"),
        (_truncate, "unreadable or damaged"),
        (_other_sizes, "does not fit"),
        (_other_task, "does not fit"),
    ],
)
def test_bad_folders_raise_one_line_policy_errors(run, tmp_path, damage, message):
    folder = tmp_path / "results"
    results_folder(folder, run_config(run), 4, 1)
    damage(folder)
    with pytest.raises(PolicyError, match=message) as error:
        load_policy(folder)
    assert "\n" not in str(error.value)


def test_a_run_without_any_good_checkpoint(run, tmp_path):
    folder = copy_run(run, tmp_path / "run")
    for manifest in folder.glob("checkpoint_ep*.json"):
        manifest.write_text("{}")
    warnings = []
    with pytest.raises(PolicyError, match="nor a good checkpoint"):
        load_policy(folder, warn=warnings.append)
    assert len(warnings) == 2


def test_a_run_trained_with_the_symmetric_policy_acts_with_it(run, tmp_path):
    """config.json's symmetric_policy: the loaded policy acts in the mirror as the mirror of
    itself (here a cartpole: the reflected state gets the opposite push)."""
    from agent.networks import NumpyActor, symmetric_mean_std

    actor = results_folder(
        tmp_path / "results", {**run_config(run), "symmetric_policy": True}, 4, 1
    )
    policy = load_policy(tmp_path / "results", seed=1)
    assert policy.mirror is not None and "left-right symmetric" in policy.describe()
    observation = np.array([3.4, 0.5, 0.1, -0.2], dtype=np.float32)
    reflected = policy.mirror.observation(observation)
    np.testing.assert_allclose(policy.act(reflected), -policy.act(observation), atol=2e-6)
    mean, _ = symmetric_mean_std(NumpyActor(actor), policy.mirror, observation)
    np.testing.assert_allclose(policy.act(observation), np.tanh(mean), atol=1e-6)
    assert abs(policy.act(observation)[0] - np.tanh(keras_mean(actor, observation))[0]) > 1e-4
    assert load_policy(tmp_path / "results").mirror is not None
    plain = tmp_path / "plain"
    results_folder(plain, run_config(run), 4, 1)
    assert load_policy(plain).mirror is None
