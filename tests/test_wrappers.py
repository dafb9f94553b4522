"""environment/wrappers.py: pushes and the margin reward, on a stub task and on the real ones."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

from environment import CartpoleEnvironment
from environment.wrappers import MarginReward, Pushes, push_steps


class Still(gymnasium.Env):
    """A task that never ends before its cap and records the pushes it gets."""

    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, max_episode_steps: int = 400) -> None:
        self.max_episode_steps, self.pushes, self.steps = max_episode_steps, [], 0
        self.start_noise = None

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps, self.pushes = 0, []
        self.start_noise = (options or {}).get("start_noise")
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.steps += 1
        return np.zeros(2, np.float32), 1.0, False, self.steps >= self.max_episode_steps, {}

    def push(self, strength: float) -> None:
        self.pushes.append((self.steps, strength))

    def limit_shares(self, observation):
        return [0.5, 1.5]  # one limit half used, one past its end (clipped to 1)


def play(env: gymnasium.Env, options=None) -> list[tuple[int, float]]:
    env.reset(options=options)
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
        done = terminated or truncated
    return env.unwrapped.pushes


def test_pushes_follow_one_schedule_for_training_and_evaluation():
    """Every 100 steps of 400 from step 50, before the step simulates; at `at` instead."""
    assert list(push_steps(100, 400)) == [50, 150, 250, 350]
    pushes = play(Pushes(Still(), 0.5, np.random.default_rng(0)))
    assert [step for step, _ in pushes] == [50, 150, 250, 350]
    assert {abs(s) for _, s in pushes} == {0.5}
    pushes = play(Pushes(Still(), 0.5, np.random.default_rng(0), at=[300, 10, 10]))
    assert [step for step, _ in pushes] == [10, 300]
    with pytest.raises(ValueError, match="before the episode cap of 400"):
        Pushes(Still(), 0.5, np.random.default_rng(0), at=[400])


def test_uniform_pushes_draw_their_strength_up_to_the_strength_on_either_side():
    """draw="each" with `uniform`: each push has its own strength, uniform in [0, strength],
    to either side; the same generator state gives the same pushes (a resume stays exact)."""

    def strengths(seed: int) -> list[float]:
        env = Pushes(Still(4000), 0.8, np.random.default_rng(seed), every=10, uniform=True)
        return [s for _, s in play(env)]

    drawn = np.array(strengths(0))
    assert len(drawn) == 400 and np.all(np.abs(drawn) <= 0.8)
    assert 0.35 < np.mean(np.abs(drawn)) < 0.45 and np.mean(np.abs(drawn) < 0.2) > 0.15
    assert 0.4 < np.mean(drawn > 0) < 0.6
    assert strengths(0) == list(drawn) and strengths(1) != list(drawn)


@pytest.mark.parametrize("draw", ["each", "episode"])
def test_a_fixed_side_pushes_that_way_and_both_sides_draw_either(draw):
    rng = np.random.default_rng(3)
    both = [s for _ in range(10) for _, s in play(Pushes(Still(), 0.5, rng, draw=draw))]
    assert {np.sign(s) for s in both} == {-1.0, 1.0}
    for side, sign in (("left", -1.0), ("right", 1.0)):
        env = Pushes(Still(), 0.5, np.random.default_rng(3), draw=draw, side=side)
        assert [s for _, s in play(env)] == [sign * 0.5] * 4


def test_a_push_moves_the_real_pole_to_its_side():
    """Pushed right, the pole's horizontal velocity grows by 100 px/s per unit of strength."""
    for side, sign in (("left", -1.0), ("right", 1.0)):
        env = Pushes(CartpoleEnvironment(), 1.0, np.random.default_rng(0), at=[0], side=side)
        env.reset(seed=0)
        before = env.unwrapped.push_body.velocity.x
        env.unwrapped.push(0.0)  # a push of nothing changes nothing
        assert env.unwrapped.push_body.velocity.x == before
        env.step(np.zeros(1, np.float32))
        assert env.pushed_at == [0]
        assert np.sign(env.unwrapped.push_body.velocity.x - before) == sign


def test_evaluation_draws_every_side_of_an_episode_at_its_reset():
    """draw="episode": one draw of all the episode's sides at reset, as evaluate.py made its
    published figures."""
    rng, reference = np.random.default_rng(7), np.random.default_rng(7)
    env = Pushes(Still(), 0.5, rng, draw="episode")
    for _ in range(3):
        sides = reference.choice([-1.0, 1.0], size=4)
        assert [s for _, s in play(env)] == (0.5 * sides).tolist()


def test_the_push_strength_of_an_episode_comes_with_its_reset_and_draws_go_on_at_zero():
    """A curriculum sets each episode's strength through reset(options); at strength 0 the
    pushes still draw (and push by nothing), so the draws stay in step with the schedule."""
    env = Pushes(Still(), 1.0, np.random.default_rng(0), uniform=True)
    assert {abs(s) for _, s in play(env, {"push_strength": 0.0, "start_noise": 0.1})} == {0.0}
    assert env.unwrapped.start_noise == 0.1  # the options the wrapper does not take go on
    after_zero = [s for _, s in play(env, {"push_strength": 0.5})]
    rng = np.random.default_rng(0)
    for _ in range(4):
        rng.random(), rng.uniform(0.0, 1.0)  # the draws of the episode at strength 0
    expected = [(1.0 if rng.random() < 0.5 else -1.0) * rng.uniform(0.0, 0.5) for _ in range(4)]
    assert after_zero == expected


def test_the_margin_reward_shapes_what_is_learned_and_keeps_the_environments_reward():
    env = MarginReward(Still(), 0.8)
    env.reset()
    _, reward, _, _, info = env.step(np.zeros(1, np.float32))
    assert reward == pytest.approx(1.0 * (1 - 0.8 * (0.5**2 + 1.0**2) / 2))
    assert info["env_reward"] == 1.0
    with pytest.raises(ValueError, match=r"weight must lie in \[0, 1\]"):
        MarginReward(Still(), 1.5)


def test_start_noise_goes_through_reset_options():
    """reset(options={"start_noise": x}) perturbs that reset by x; the constructor's value
    (here 0: a deterministic start) holds for the resets without it."""
    env = CartpoleEnvironment()
    still, _ = env.reset(seed=0)
    noisy, _ = env.reset(seed=0, options={"start_noise": 0.5})
    again, _ = env.reset(seed=0)
    assert not np.array_equal(still, noisy) and np.array_equal(still, again)
    with pytest.raises(ValueError, match="start_noise must be a number in"):
        env.reset(options={"start_noise": float("nan")})
