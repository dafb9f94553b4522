"""Circular float32 replay buffer in NumPy with its own seeded random generator.

Saved files are plain `.npz` (no pickle) holding only the filled part, the write counter and the
sampler's generator state, so that a reloaded buffer samples exactly what the saved one would have.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np


class ReplayBuffer:
    """Transitions (s, a, r, s', terminated); `terminated` excludes time-limit truncations."""

    # The arrays of transitions, as named in saved files.
    ARRAYS = (
        "state_memory",
        "new_state_memory",
        "action_memory",
        "reward_memory",
        "terminal_memory",
    )

    def __init__(
        self,
        max_size: int,
        input_shape: int | Sequence[int],
        n_actions: int,
        seed: int | np.random.SeedSequence | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be positive, got {max_size}")
        self.mem_size = int(max_size)
        self.input_shape = (
            (int(input_shape),) if np.isscalar(input_shape) else tuple(int(d) for d in input_shape)
        )
        self.n_actions = int(n_actions)
        self.mem_cntr = 0
        # np.zeros maps untouched pages lazily: a large, mostly empty buffer costs little memory.
        self.state_memory = np.zeros((self.mem_size, *self.input_shape), dtype=np.float32)
        self.new_state_memory = np.zeros((self.mem_size, *self.input_shape), dtype=np.float32)
        self.action_memory = np.zeros((self.mem_size, self.n_actions), dtype=np.float32)
        self.reward_memory = np.zeros(self.mem_size, dtype=np.float32)
        self.terminal_memory = np.zeros(self.mem_size, dtype=bool)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return min(self.mem_cntr, self.mem_size)

    def store_transition(
        self,
        state: np.ndarray,
        action: np.ndarray,
        reward: float,
        state_: np.ndarray,
        terminated: bool,
    ) -> None:
        index = self.mem_cntr % self.mem_size
        self.state_memory[index] = state
        self.new_state_memory[index] = state_
        self.action_memory[index] = action
        self.reward_memory[index] = reward
        self.terminal_memory[index] = terminated
        self.mem_cntr += 1

    def sample_buffer(
        self, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One batch, drawn with replacement: (states, actions, rewards, new states, terminated)."""
        states, actions, rewards, states_, terminated = self.sample_batches(1, batch_size)
        return states[0], actions[0], rewards[0], states_[0], terminated[0]

    def sample_batches(
        self, n_batches: int, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """`n_batches` batches at once, each array shaped (n_batches, batch_size, ...).

        Indices are drawn with replacement by one `integers` call on the buffer's generator.
        `terminated` comes back as float32 (1.0 = terminal), ready for the update.
        """
        if len(self) == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        index = self.rng.integers(0, len(self), size=(n_batches, batch_size))
        return (
            self.state_memory[index],
            self.action_memory[index],
            self.reward_memory[index],
            self.new_state_memory[index],
            self.terminal_memory[index].astype(np.float32),
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write the filled part to `path` (an .npz file, written as named)."""
        n = len(self)
        with open(path, "wb") as f:
            np.savez(
                f,
                mem_size=np.int64(self.mem_size),
                mem_cntr=np.int64(self.mem_cntr),
                input_shape=np.asarray(self.input_shape, dtype=np.int64),
                n_actions=np.int64(self.n_actions),
                rng_state=np.asarray(json.dumps(self.rng.bit_generator.state)),
                state_memory=self.state_memory[:n],
                new_state_memory=self.new_state_memory[:n],
                action_memory=self.action_memory[:n],
                reward_memory=self.reward_memory[:n],
                terminal_memory=self.terminal_memory[:n],
            )

    def load(self, path: str | os.PathLike) -> None:
        """Restore a buffer written by `save`; refuses (ValueError) a file of other dimensions."""
        with np.load(path, allow_pickle=False) as data:
            input_shape = tuple(int(d) for d in data["input_shape"])
            n_actions, mem_size = int(data["n_actions"]), int(data["mem_size"])
            if (input_shape, n_actions, mem_size) != (
                self.input_shape,
                self.n_actions,
                self.mem_size,
            ):
                raise ValueError(
                    f"replay buffer file {os.fspath(path)!r} holds states {input_shape}, "
                    f"{n_actions} actions, capacity {mem_size}; this buffer has states "
                    f"{self.input_shape}, {self.n_actions} actions, capacity {self.mem_size}"
                )
            mem_cntr = int(data["mem_cntr"])
            n = min(mem_cntr, mem_size)
            arrays = {name: data[name] for name in self.ARRAYS}
            if any(len(a) != n for a in arrays.values()):
                raise ValueError(f"replay buffer file {os.fspath(path)!r} is inconsistent")
            rng_state = json.loads(str(data["rng_state"]))
        for name, array in arrays.items():
            getattr(self, name)[:n] = array
        self.mem_cntr = mem_cntr
        self.rng.bit_generator.state = rng_state
