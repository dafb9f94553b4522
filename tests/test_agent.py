import json

import numpy as np
import pytest

from agent import SACAgent
from agent.agent import NETWORK_NAMES
from agent.networks import NumpyActor
from tests.point_env import PointEnv, evaluate

STATE, ACTIONS, BATCH = 5, 2, 32
# Small networks: none of these properties depends on the layer sizes.
SMALL = dict(layer1_size=32, layer2_size=16, batch_size=BATCH, max_size=1000)


def make_agent(seed: int = 0, n_transitions: int = 200, **kwargs) -> SACAgent:
    agent = SACAgent(STATE, ACTIONS, seed=seed, **{**SMALL, **kwargs})
    rng = np.random.default_rng(1234)  # the same transitions whatever the agent's seed
    for _ in range(n_transitions):
        agent.remember(
            rng.standard_normal(STATE),
            rng.uniform(-1, 1, ACTIONS),
            rng.standard_normal(),
            rng.standard_normal(STATE),
            rng.uniform() < 0.2,
        )
    return agent


def weights(agent: SACAgent) -> dict[str, list[np.ndarray]]:
    return {name: [w.numpy() for w in agent.network(name).weights] for name in agent.rule.networks}


def optimizer_state(agent: SACAgent) -> dict[str, list[np.ndarray]]:
    return {name: [v.numpy() for v in opt.variables] for name, opt in agent.optimizers.items()}


def assert_same(a, b, rtol: float = 0.0, atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for key in a:
        for x, y in zip(a[key], b[key], strict=True):
            if rtol == atol == 0.0:
                np.testing.assert_array_equal(x, y, err_msg=key)
            else:
                np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=key)


def block(agent: SACAgent, n_updates: int, seed: int = 5) -> list[np.ndarray]:
    """A fixed (n_updates, batch, ...) block of batches, independent of the agent's sampler."""
    memory, rng = agent.memory, np.random.default_rng(seed)
    index = rng.integers(0, len(memory), size=(n_updates, agent.batch_size))
    return [
        memory.state_memory[index],
        memory.action_memory[index],
        memory.reward_memory[index],
        memory.new_state_memory[index],
        memory.terminal_memory[index].astype(np.float32),
    ]


def test_construction_builds_everything_and_copies_target():
    agent = SACAgent(STATE, ACTIONS, seed=3, **SMALL)
    for name in NETWORK_NAMES:
        assert agent.network(name).built and agent.network(name).weights
    for v, t in zip(agent.value.weights, agent.target_value.weights, strict=True):
        np.testing.assert_array_equal(v.numpy(), t.numpy())
    assert all(len(opt.variables) > 2 for opt in agent.optimizers.values())
    assert all(int(opt.iterations.numpy()) == 0 for opt in agent.optimizers.values())
    assert agent.learn() is None  # empty memory
    config = agent.get_config()
    assert SACAgent(**json.loads(json.dumps(config))).get_config() == config


def test_choose_action_range_and_determinism():
    """(Its speed is measured by benchmarks/update_throughput.py, column "act".)"""
    agent = SACAgent(60, 8, seed=0, jit_compile=False)  # full-size networks, as in training
    obs = np.random.default_rng(0).standard_normal(60).astype(np.float32)
    action = agent.choose_action(obs)
    assert action.shape == (8,) and action.dtype == np.float32
    assert np.all(np.abs(action) <= 1.0)
    assert not np.array_equal(action, agent.choose_action(obs))
    mean, _ = agent.actor(obs[None])
    deterministic = agent.choose_action(obs, deterministic=True)
    np.testing.assert_allclose(deterministic, np.tanh(mean.numpy()[0]), rtol=1e-5, atol=1e-6)
    state = agent.action_rng.bit_generator.state
    np.testing.assert_array_equal(deterministic, agent.choose_action(obs, deterministic=True))
    assert agent.action_rng.bit_generator.state == state  # deterministic draws no noise
    assert agent.choose_action(np.stack([obs, obs])).shape == (2, 8)


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=2.5), "batch_size"),
        (dict(gamma=float("nan")), "gamma"),
        (dict(gamma=0.0), "gamma"),
        (dict(tau=1.5), "tau"),
        (dict(input_dims=0), "input_dims"),
        (dict(input_dims=(3, -1)), "input_dims"),
        (dict(n_actions=0), "n_actions"),
        (dict(max_size=0), "max_size"),
        (dict(layer1_size=0), "layer1_size"),
        (dict(actor_lr=float("inf")), "actor_lr"),
        (dict(critic_lr=-1e-3), "critic_lr"),
        (dict(reward_scale=0), "reward_scale"),
        (dict(policy_samples=3), "policy_samples"),
        (dict(policy_samples=True), "policy_samples"),
        (dict(average_actor=-1), "average_actor"),
        (dict(average_actor=2.5), "average_actor"),
        (dict(seed=-1), "seed"),
        (dict(seed=1.5), "seed"),
        (dict(algo="sac3"), "algo"),
        (dict(policy_delay=0), "policy_delay"),
        (dict(target_entropy=float("nan")), "target_entropy"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_arguments_that_cannot_work_are_refused_up_front(arguments, name):
    """A ValueError that names the argument and its rule, before anything is built."""
    with pytest.raises(ValueError, match=rf"^{name} must ") as error:
        SACAgent(**{"input_dims": STATE, "n_actions": ACTIONS, **SMALL, **arguments})
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("n_updates", [0, -1, 1.5, True, "2"])
def test_learn_refuses_a_count_of_updates_that_cannot_work(n_updates):
    agent = make_agent(seed=0, n_transitions=BATCH, jit_compile=False)
    with pytest.raises(ValueError, match="^n_updates must be"):
        agent.learn(n_updates)
    assert agent.update_count == 0


def test_learn_waits_for_one_batch():
    agent = make_agent(n_transitions=BATCH - 1)
    assert agent.learn() is None
    assert agent.update_count == 0


def test_one_learn_changes_every_network_and_moves_target_by_tau():
    agent = make_agent(seed=1, jit_compile=False)  # the XLA path is held to this one below
    before = weights(agent)
    losses = agent.learn()
    after = weights(agent)
    assert set(losses) == {
        "value_loss",
        "actor_loss",
        "critic_1_loss",
        "critic_2_loss",
        "alpha",
        "skipped",
    }
    assert losses["skipped"] == 0 and losses["alpha"] == 1.0
    for name in ("actor", "critic_1", "critic_2", "value"):
        for old, new in zip(before[name], after[name], strict=True):
            assert not np.array_equal(old, new), name
    for old_target, new_value, new_target in zip(
        before["target_value"], after["value"], after["target_value"], strict=True
    ):
        expected = agent.tau * new_value + (1.0 - agent.tau) * old_target
        np.testing.assert_allclose(new_target, expected, rtol=1e-6, atol=1e-9)
    iterations = {name: int(opt.iterations.numpy()) for name, opt in agent.optimizers.items()}
    assert iterations == {"actor": 1, "critic_1": 1, "critic_2": 1, "value": 1, "alpha": 0}
    assert agent.update_count == 1 and agent.skipped_updates == 0


def test_critic_loss_uses_reward_scale_and_terminated():
    agent = make_agent(seed=2, reward_scale=3.0, jit_compile=False)
    states, actions, rewards, states_, terminated = block(agent, 1)
    assert 0 < terminated.sum() < BATCH
    q_hat = agent.reward_scale * rewards[0] + agent.gamma * (1.0 - terminated[0]) * (
        agent.target_value(states_[0]).numpy()
    )
    expected = 0.5 * np.mean((agent.critic_1(states[0], actions[0]).numpy() - q_hat) ** 2)
    losses = agent.learn_from_batches(states, actions, rewards, states_, terminated)
    np.testing.assert_allclose(losses["critic_1_loss"], expected, rtol=1e-5)


@pytest.mark.parametrize(
    "jit_compile, learn_alpha, algo",
    [(True, True, "sac1"), (False, False, "sac1"), (True, True, "sac2"), (True, True, "crossq")],
)
def test_compiled_update_matches_eager(jit_compile, learn_alpha, algo):
    """The tf.function (XLA by default) update against the same update run op by op."""
    config = dict(learn_alpha=learn_alpha, reward_scale=1.0, algo=algo)
    compiled = make_agent(seed=4, jit_compile=jit_compile, **config)
    eager = make_agent(seed=4, **config)
    data = block(compiled, 3)
    compiled_losses = compiled.learn_from_batches(*data)
    eager_losses = eager.learn_from_batches(*data, eager=True)
    assert compiled_losses.keys() == eager_losses.keys()
    for key in compiled_losses:
        np.testing.assert_allclose(compiled_losses[key], eager_losses[key], rtol=1e-5, atol=1e-6)
    assert_same(weights(compiled), weights(eager), rtol=1e-5, atol=1e-6)
    # Batch statistics are sums in another order under XLA: Adam's moments differ by ~3e-8.
    atol = 1e-7 if algo == "crossq" else 1e-8
    assert_same(optimizer_state(compiled), optimizer_state(eager), rtol=1e-4, atol=atol)
    if learn_alpha:
        assert compiled.alpha != 1.0
        np.testing.assert_allclose(compiled.alpha, eager.alpha, rtol=1e-6)


def test_same_seed_gives_identical_updates():
    a, b = make_agent(seed=7, jit_compile=False), make_agent(seed=7, jit_compile=False)
    for agent in (a, b):
        agent.learn(2)
        agent.learn(2)
    assert_same(weights(a), weights(b))
    assert_same(optimizer_state(a), optimizer_state(b))
    assert a._learn_function.experimental_get_tracing_count() == 1  # no retracing per call
    obs = np.ones(STATE, np.float32)
    np.testing.assert_array_equal(a.choose_action(obs), b.choose_action(obs))
    other = make_agent(seed=8, n_transitions=0)
    assert not np.array_equal(weights(a)["actor"][0], weights(other)["actor"][0])


@pytest.mark.parametrize(
    "learn_alpha, algo", [(True, "sac1"), (False, "sac1"), (True, "sac2"), (True, "crossq")]
)
def test_save_load_resumes_exactly(tmp_path, learn_alpha, algo):
    """Without XLA here; the compiled update resumes exactly too: the runs of main.py that
    tests/test_resume.py kills, or whose disk fills up, end byte-identical to one never stopped."""
    config = dict(learn_alpha=learn_alpha, jit_compile=False, algo=algo)
    saved = make_agent(seed=11, **config)
    saved.learn(2)
    saved.learn_from_batches(*block(saved, 2, seed=1))
    obs = np.linspace(-1, 1, STATE, dtype=np.float32)
    saved.choose_action(obs)
    saved.skipped_updates = 5  # a counter value that only a restore can reproduce
    saved.save_models(tmp_path / "models")
    saved.save_replay_buffer(tmp_path / "buffer")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == sorted(
        [f"{name}.weights.h5" for name in saved.network_names] + ["agent_state.npz"]
    )
    assert (
        set(saved.network_names)
        == {
            "sac1": set(NETWORK_NAMES),
            "sac2": {"actor", "critic_1", "critic_2", "target_critic_1", "target_critic_2"},
            "crossq": {"actor", "critic_1", "critic_2"},
        }[algo]
    )

    # Another seed and an empty memory: everything that matters must come from the files.
    restored = make_agent(seed=12, n_transitions=0, **config)
    restored.load_models(tmp_path / "models")
    restored.load_replay_buffer(tmp_path / "buffer")
    assert_same(weights(restored), weights(saved))
    assert_same(optimizer_state(restored), optimizer_state(saved))
    assert restored.update_count == saved.update_count == 4
    assert restored.skipped_updates == 5
    assert restored.alpha == saved.alpha
    np.testing.assert_array_equal(
        restored.choose_action(obs, deterministic=True), saved.choose_action(obs, True)
    )

    assert restored.learn(2) == saved.learn(2)
    assert_same(weights(restored), weights(saved))
    assert_same(optimizer_state(restored), optimizer_state(saved))
    np.testing.assert_array_equal(restored.choose_action(obs), saved.choose_action(obs))


def test_load_refuses_other_sizes_and_missing_files(tmp_path):
    agent = SACAgent(STATE, ACTIONS, seed=0, **SMALL)
    agent.save_models(tmp_path)
    with pytest.raises(ValueError, match="layer1_size"):
        SACAgent(STATE, ACTIONS, **{**SMALL, "layer1_size": 64}).load_models(tmp_path)
    with pytest.raises(ValueError, match="algo: saved sac1, this agent sac2"):
        SACAgent(STATE, ACTIONS, **{**SMALL, "algo": "sac2"}).load_models(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing"):
        agent.load_models(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="missing"):
        agent.load_replay_buffer(tmp_path / "nowhere")


def test_load_refuses_a_checkpoint_of_the_two_sample_agent(tmp_path):
    """Agents before the one-sample update saved a TensorFlow generator instead of noise_rng."""
    agent = SACAgent(STATE, ACTIONS, seed=0, **SMALL)
    agent.save_models(tmp_path)
    path = tmp_path / "agent_state.npz"
    with np.load(path) as data:
        state = {key: data[key] for key in data.files if key != "noise_rng_state"}
    state["tf_rng_state"] = np.zeros(3, np.int64)
    with open(path, "wb") as f:
        np.savez(f, **state)
    with pytest.raises(ValueError, match="earlier version"):
        SACAgent(STATE, ACTIONS, seed=0, **SMALL).load_models(tmp_path)


def test_non_finite_batch_is_skipped():
    agent = make_agent(seed=9)  # XLA: the skip is a conditional inside the compiled loop
    before_weights, before_optimizers = weights(agent), optimizer_state(agent)
    all_bad = block(agent, 3)
    all_bad[2][:] = np.nan
    losses = agent.learn_from_batches(*all_bad)
    assert losses["skipped"] == 3 and np.isnan(losses["value_loss"])
    assert_same(weights(agent), before_weights)
    assert_same(optimizer_state(agent), before_optimizers)

    states, actions, rewards, states_, terminated = block(agent, 3)
    rewards[1, 4] = np.nan
    states_[2, 0, 1] = np.inf
    losses = agent.learn_from_batches(states, actions, rewards, states_, terminated)
    assert losses["skipped"] == 2 and np.isfinite(losses["critic_1_loss"])
    assert agent.skipped_updates == 5 and agent.update_count == 6
    iterations = {name: int(opt.iterations.numpy()) for name, opt in agent.optimizers.items()}
    assert iterations == {"actor": 1, "critic_1": 1, "critic_2": 1, "value": 1, "alpha": 0}
    for values in weights(agent).values():
        assert all(np.all(np.isfinite(v)) for v in values)
    assert agent._learn_function.experimental_get_tracing_count() == 1


def test_agent_learns_to_reach_the_point():
    """Reference hyperparameters, small networks: the deterministic return must improve a lot.
    (Without XLA, which computes the same update: see test_compiled_update_matches_eager.)"""
    env = PointEnv(seed=1)
    agent = SACAgent(
        env.state_size, env.action_size, layer1_size=64, layer2_size=64, batch_size=64, seed=0,
        jit_compile=False,
    )  # fmt: skip
    initial = evaluate(agent)
    obs, _ = env.reset()
    for step in range(1, 2001):
        action = agent.choose_action(obs)
        new_obs, reward, terminated, truncated, _ = env.step(action)
        agent.remember(obs, action, reward, new_obs, terminated)
        obs = new_obs
        if terminated or truncated:
            obs, _ = env.reset()
        if step % 4 == 0:
            agent.learn(n_updates=4)
    final = evaluate(agent)
    assert initial < -8.0  # the untrained policy does not head for the target
    assert final > -3.0 and final > initial + 5.0, (initial, final)


def actor_weights(agent: SACAgent, name: str = "actor") -> list[np.ndarray]:
    return [w.numpy() for w in agent.network(name).weights]


@pytest.mark.parametrize("jit_compile", [False])  # XLA's: test_agent_maths, reference logs
def test_the_averaged_actor_is_a_moving_average_of_the_actor(jit_compile):
    """average_actor=N: A starts as a copy of the actor and every applied update moves it by
    (actor - A) / N; the actor and everything else learn exactly as without it."""
    n = 4
    averaged = make_agent(seed=2, average_actor=n, jit_compile=jit_compile)
    plain = make_agent(seed=2, jit_compile=jit_compile)
    assert averaged.network_names == (*NETWORK_NAMES, "average_actor")
    assert "average_actor" not in plain.network_names
    expected = actor_weights(averaged)
    assert_same({"a": actor_weights(averaged, "average_actor")}, {"a": expected})
    for seed in range(3):  # one update per call, so the actor's weights after each are known
        for agent in (averaged, plain):
            agent.learn_from_batches(*block(agent, 1, seed=seed))
        expected = [e + (a - e) / n for e, a in zip(expected, actor_weights(averaged), strict=True)]
        assert_same(
            {"a": actor_weights(averaged, "average_actor")}, {"a": expected}, rtol=1e-5, atol=1e-7
        )
    assert_same(weights(averaged), weights(plain))  # the average changes no other network
    assert not np.allclose(expected[0], actor_weights(averaged)[0])

    obs = np.linspace(-1, 1, STATE, dtype=np.float32)
    assert not np.array_equal(
        averaged.choose_action(obs, deterministic=True, averaged=True),
        averaged.choose_action(obs, deterministic=True),
    )
    np.testing.assert_array_equal(
        averaged.choose_action(obs, deterministic=True), plain.choose_action(obs, True)
    )
    np.testing.assert_array_equal(  # without an averaged actor, averaged=True is the actor
        plain.choose_action(obs, True, averaged=True), plain.choose_action(obs, True)
    )
    # Both actors act from the weights the update handed back: a fresh read of the variables
    # gives the same actions.
    for name, flag in (("actor", False), ("average_actor", True)):
        fresh_mean, _ = NumpyActor(averaged.network(name))(obs)
        np.testing.assert_array_equal(
            averaged.choose_action(obs, deterministic=True, averaged=flag), np.tanh(fresh_mean)
        )


def test_the_averaged_actor_is_saved_and_resumes_exactly(tmp_path):
    saved = make_agent(seed=11, average_actor=3, jit_compile=False)
    saved.learn(2)
    saved.save_models(tmp_path / "models")
    assert (tmp_path / "models" / "average_actor.weights.h5").is_file()
    restored = make_agent(seed=12, n_transitions=0, average_actor=3, jit_compile=False)
    restored.load_models(tmp_path / "models")
    assert_same(
        {"a": actor_weights(restored, "average_actor")},
        {"a": actor_weights(saved, "average_actor")},
    )
    obs = np.ones(STATE, np.float32)
    np.testing.assert_array_equal(
        restored.choose_action(obs, True, averaged=True), saved.choose_action(obs, True, True)
    )
    # An agent without the average (or with another horizon) cannot take these files, and an
    # agent with it cannot take a checkpoint without them.
    with pytest.raises(ValueError, match="average_actor"):
        make_agent(n_transitions=0, average_actor=5, jit_compile=False).load_models(
            tmp_path / "models"
        )
    with pytest.raises(ValueError, match="average_actor"):
        make_agent(n_transitions=0, jit_compile=False).load_models(tmp_path / "models")
    make_agent(seed=1, jit_compile=False).save_models(tmp_path / "plain")
    with pytest.raises(ValueError, match="average_actor: saved 0, this agent 3"):
        restored.load_models(tmp_path / "plain")
    (tmp_path / "models" / "average_actor.weights.h5").unlink()
    with pytest.raises(FileNotFoundError, match="average_actor.weights.h5"):
        restored.load_models(tmp_path / "models")


def test_a_checkpoint_saved_before_the_averaged_actor_existed_still_loads(tmp_path):
    agent = make_agent(seed=1, jit_compile=False)
    agent.learn(2)  # optimizer state and counters worth comparing
    agent.save_models(tmp_path)
    state = dict(np.load(tmp_path / "agent_state.npz"))
    config = json.loads(str(state["config"]))
    del config["average_actor"]  # what an agent of an earlier version wrote
    state["config"] = np.asarray(json.dumps(config))
    np.savez(tmp_path / "agent_state.npz", **state)
    restored = make_agent(seed=2, n_transitions=0, jit_compile=False)
    restored.load_models(tmp_path)
    assert_same(weights(restored), weights(agent))
    assert_same(optimizer_state(restored), optimizer_state(agent))
    assert restored.update_count == agent.update_count == 2
    assert restored.average_actor is None
    obs = np.linspace(-1, 1, STATE, dtype=np.float32)
    np.testing.assert_array_equal(
        restored.choose_action(obs, True, averaged=True), agent.choose_action(obs, True)
    )
