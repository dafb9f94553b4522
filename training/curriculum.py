"""The perturbation curriculum of a run: how strong each episode's perturbations are, and which
episodes count toward solving.

With `--perturb_ramp N`, the start noise and the push strength of an episode are a share of
their full values (`--start_noise`, `--train_push`) that grows linearly from 0 to 1 over the
first N episodes, or with `--ramp_by_success` over the first N successes (episodes that scored
at least `--solve_score`): the perturbations then grow as the agent copes. Only an episode at
the full share counts toward solving. Without a ramp every episode is at the full share.

The share is a function of the scores so far, so a resumed run (whose checkpoint keeps its
scores) continues the curriculum exactly, and a run's log replays it (`solved_at`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def ramp_factor(done: int, ramp: int) -> float:
    """The share after `done` episodes (or successes) of a ramp of `ramp`: 0 at first, growing
    linearly to 1 (1 from the start without a ramp)."""
    return 1.0 if ramp <= 0 else min(1.0, done / ramp)


@dataclass(frozen=True)
class Curriculum:
    ramp: int = 0
    by_success: bool = False
    solve_score: float = 395.0
    solve_count: int = 10
    start_noise: float = 0.0
    train_push: float = 0.0

    @classmethod
    def from_config(cls, config: Any) -> Curriculum:
        """The curriculum of a run's settings (training.config.RunConfig)."""
        return cls(
            ramp=config.perturb_ramp,
            by_success=config.ramp_by_success,
            solve_score=config.solve_score,
            solve_count=config.solve_count,
            start_noise=config.start_noise,
            train_push=config.train_push,
        )

    def share(self, scores: Sequence[float]) -> float:
        """The share of the perturbations of the episode after those that scored `scores`."""
        successes = sum(s >= self.solve_score for s in scores) if self.by_success else 0
        return self._share(len(scores), successes)

    def _share(self, episodes: int, successes: int) -> float:
        return ramp_factor(successes if self.by_success else episodes, self.ramp)

    def reset_options(self, share: float) -> dict[str, float]:
        """What an episode at `share` resets with (see environment.wrappers.Pushes)."""
        options = {"start_noise": self.start_noise * share}
        if self.train_push > 0:
            options["push_strength"] = self.train_push * share
        return options

    def counts(self, score: float, share: float) -> bool:
        """Whether an episode at `share` that scored `score` counts toward solving."""
        return score >= self.solve_score and share >= 1.0

    def solved_at(self, scores: Sequence[float]) -> int | None:
        """The episode at which a run that scored `scores` was solved, or None: the solved rule
        (`solve_count` counted episodes in a row) replayed over its log."""
        streak = successes = 0
        for episode, score in enumerate(scores):
            counted = self.counts(score, self._share(episode, successes))
            streak = streak + 1 if counted else 0
            if streak >= self.solve_count:
                return episode + 1
            successes += score >= self.solve_score
        return None
