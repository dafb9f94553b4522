"""A 1-D point that must reach a target: an environment that exists only to test the agent fast.

Observation: [x, target], both in [-1, 1] (dimensionless).
Action: one value in [-1, 1]; x <- clip(x + STEP * action, -1, 1).
Reward: -|x - target| after the move, so the return counts the distance left at every step.
Start: x and target uniform in [-1, 1], from the environment's own generator.
Episode end: terminated when |x - target| < GOAL_RADIUS; truncated after `max_episode_steps`.
A policy that heads straight for the target scores about -1.5 on average; one that does not
move scores about -0.67 * max_episode_steps.
"""

from __future__ import annotations

import numpy as np

STEP = 0.25  # largest move per step
GOAL_RADIUS = 0.1


class PointEnv:
    state_size = 2
    action_size = 1

    def __init__(self, max_episode_steps: int = 25, seed: int | None = None) -> None:
        self.max_episode_steps = max_episode_steps
        self.np_random = np.random.default_rng(seed)
        self.x = self.target = 0.0
        self.steps = 0

    def _obs(self) -> np.ndarray:
        return np.array([self.x, self.target], dtype=np.float32)

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict]:
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        self.x, self.target = self.np_random.uniform(-1.0, 1.0, size=2)
        self.steps = 0
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        move = float(np.clip(np.asarray(action).reshape(-1)[0], -1.0, 1.0))
        self.x = float(np.clip(self.x + STEP * move, -1.0, 1.0))
        self.steps += 1
        distance = abs(self.x - self.target)
        terminated = distance < GOAL_RADIUS
        truncated = not terminated and self.steps >= self.max_episode_steps
        return self._obs(), -distance, terminated, truncated, {"steps": self.steps}


def evaluate(agent, n_episodes: int = 20, seed: int = 12345) -> float:
    """Mean return of the deterministic policy over fixed start states."""
    env = PointEnv(seed=seed)
    total = 0.0
    for _ in range(n_episodes):
        obs, _ = env.reset()
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.choose_action(obs, True))
            total += reward
            done = terminated or truncated
    return total / n_episodes
