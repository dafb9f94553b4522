"""What training and evaluation change about an episode, as Gymnasium wrappers.

The environments stay the tasks; each change to what a reset, a step or a reward does is one
wrapper here, used alike by training (`training/loop.py`) and by `tools/evaluate.py`:

- `Pushes`: horizontal pushes of the pole or torso at scheduled steps of every episode.
- `MarginReward`: a reward that keeps away from the episode's termination limits (the
  environment's own reward stays in `info["env_reward"]`).

    env = Pushes(gymnasium.make("Pymunk/Cartpole-v0"), strength=0.5, rng=np.random.default_rng(0))
    observation, info = env.reset(options={"push_strength": 0.25})  # this episode's strength
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import gymnasium
import numpy as np


def push_steps(every: int, max_steps: int) -> range:
    """The steps after which an episode is pushed: every `every` steps, the first at half of it
    (an episode of 400 steps pushed every 100: after steps 50, 150, 250 and 350)."""
    return range(every // 2, max_steps, every)


class Pushes(gymnasium.Wrapper):
    """Pushes of `strength` (x 100 px/s) to the pole or the torso, after the steps `at` of every
    episode (default: every `every` steps, the first at half of it; see `push_steps`), each
    to the left or the right.

    A push comes after the policy has seen the observation and chosen its action, just before
    the step simulates: the policy meets it one step later, as a sudden change of velocity.

    Sides and strengths are drawn from `rng`, whose state is the run's to keep (a checkpoint
    saves it, so a resumed run pushes as the uninterrupted one would):
    - `draw="each"` (training's): at each push a side (left or right, even odds) and, with
      `uniform`, a strength uniform in [0, strength];
    - `draw="episode"` (evaluation's): at reset, the sides of all the episode's pushes at once.
    `side` "left" or "right" fixes every push's side (the draws still happen, so the same
    seed pushes at the same steps either way).

    `reset(options={"push_strength": s})` sets the strength from that episode on (a curriculum
    growing the pushes). `pushed_at` lists the steps the current episode was pushed after.
    """

    def __init__(
        self,
        env: gymnasium.Env,
        strength: float,
        rng: np.random.Generator,
        every: int = 100,
        at: Sequence[int] | None = None,
        uniform: bool = False,
        draw: Literal["each", "episode"] = "each",
        side: Literal["both", "left", "right"] = "both",
    ) -> None:
        super().__init__(env)
        if draw not in ("each", "episode"):
            raise ValueError(f'draw must be "each" or "episode", got {draw!r}')
        if side not in ("both", "left", "right"):
            raise ValueError(f'side must be "both", "left" or "right", got {side!r}')
        cap = env.unwrapped.max_episode_steps
        self.steps_pushed = push_steps(every, cap) if at is None else sorted(set(at))
        if self.steps_pushed and self.steps_pushed[-1] >= cap:
            raise ValueError(
                f"push at step {self.steps_pushed[-1]}: pushes must come before the episode "
                f"cap of {cap}"
            )
        self.strength, self.rng, self.uniform = float(strength), rng, uniform
        self.draw, self.side = draw, side
        self.pushed_at: list[int] = []
        self._sides: dict[int, float] = {}
        self._step = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        options = dict(options or {})
        if "push_strength" in options:
            self.strength = float(options.pop("push_strength"))
        observation, info = self.env.reset(seed=seed, options=options or None)
        self.pushed_at, self._step = [], 0
        if self.draw == "episode":
            sides = self.rng.choice([-1.0, 1.0], size=len(self.steps_pushed))
            self._sides = dict(zip(self.steps_pushed, sides.tolist(), strict=True))
        return observation, info

    def step(self, action: Any):
        if self._step in self.steps_pushed:  # at strength 0 too: the draws stay in step
            self.env.unwrapped.push(self._draw_push())
            self.pushed_at.append(self._step)
        self._step += 1
        return self.env.step(action)

    def _draw_push(self) -> float:
        if self.draw == "episode":
            side = self._sides[self._step]
            strength = self.strength
        else:
            side = 1.0 if self.rng.random() < 0.5 else -1.0
            strength = self.rng.uniform(0.0, self.strength) if self.uniform else self.strength
        if self.side != "both":
            side = -1.0 if self.side == "left" else 1.0
        return side * strength


class MarginReward(gymnasium.Wrapper):
    """Learn from a reward that keeps away from the limits that end an episode.

    Each step's reward becomes reward * (1 - weight * mean(share^2)), where the shares are how
    much of each termination limit the state reached uses (`limit_shares`, clipped to [0, 1]):
    the nearer the limits, the less a step earns, but with a weight of at most 1 a surviving
    step always earns more than the terminating one (0). The environment's own reward is kept
    in `info["env_reward"]`: scores and the solved rule count that one.
    """

    def __init__(self, env: gymnasium.Env, weight: float) -> None:
        super().__init__(env)
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must lie in [0, 1], got {weight!r}")
        self.weight = float(weight)

    def step(self, action: Any):
        observation, reward, terminated, truncated, info = self.env.step(action)
        shares = np.clip(
            np.asarray(self.env.unwrapped.limit_shares(observation), np.float64), 0.0, 1.0
        )
        info["env_reward"] = reward
        learned = float(reward) * (1.0 - self.weight * float(np.mean(shares**2)))
        return observation, learned, terminated, truncated, info
