"""Saving and restoring an agent: its networks' weights, its optimizers, its random states and
counters (`save_models` / `load_models`), and its replay buffer. A restored agent resumes bit for
bit (on CPU, with the same thread settings)."""

from __future__ import annotations

import json
import os

import numpy as np

from agent.buffer import ReplayBuffer

# Constructor arguments that fix the shapes of saved weights and optimizer slots.
_STRUCTURAL_KEYS = (
    "input_dims", "n_actions", "layer1_size", "layer2_size", "learn_alpha", "average_actor",
    "algo",
)  # fmt: skip
# structural keys that agents saved before they existed: the value those agents had
_OLDER_DEFAULTS = {"average_actor": 0, "algo": "sac1"}
_STATE_FILE = "agent_state.npz"
_BUFFER_FILE = "replay_buffer.npz"


class AgentFiles:
    """The files of a SACAgent (this class is one of its bases; it keeps no state of its own)."""

    def saved_nbytes(self) -> int:
        """Bytes of the arrays `save_models` and `save_replay_buffer` write (every weight and
        optimizer variable, the filled part of the buffer), before the files' own overhead."""
        variables = [w for name in self.network_names for w in self.network(name).weights]
        variables += [v for optimizer in self.optimizers.values() for v in optimizer.variables]
        weights = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)
        filled = len(self.memory)
        buffer = sum(getattr(self.memory, name)[:1].nbytes * filled for name in ReplayBuffer.ARRAYS)
        return weights + buffer

    def save_models(self, folder: str | os.PathLike) -> None:
        """A `<name>.weights.h5` file per network (five, six with the averaged actor) and
        `agent_state.npz` (optimizers, alpha, random states, counters; no pickle)."""
        os.makedirs(folder, exist_ok=True)
        for name in self.network_names:
            self.network(name).save_weights(os.path.join(folder, f"{name}.weights.h5"))
        state = {
            "config": np.asarray(json.dumps(self.get_config())),
            "update_count": np.int64(self.update_count),
            "skipped_updates": np.int64(self.skipped_updates),
            "log_alpha": self.log_alpha.numpy(),
            "noise_rng_state": np.asarray(json.dumps(self.noise_rng.bit_generator.state)),
            "action_rng_state": np.asarray(json.dumps(self.action_rng.bit_generator.state)),
        }
        for name, optimizer in self.optimizers.items():
            for i, variable in enumerate(optimizer.variables):
                state[f"optimizer_{name}_{i:03d}"] = np.asarray(variable.numpy())
        with open(os.path.join(folder, _STATE_FILE), "wb") as f:
            np.savez(f, **state)

    def load_models(self, folder: str | os.PathLike) -> None:
        """Restore what `save_models` wrote into this agent (built with the same sizes)."""
        paths = [os.path.join(folder, f"{name}.weights.h5") for name in self.network_names]
        paths.append(os.path.join(folder, _STATE_FILE))
        if not os.path.isfile(paths[-1]):  # its config says first whether the rest can fit
            raise FileNotFoundError(f"missing model file(s): {paths[-1]}")
        with np.load(paths[-1], allow_pickle=False) as data:
            state = {key: data[key] for key in data.files}
        if "noise_rng_state" not in state:
            raise ValueError(
                f"{paths[-1]} was written by an earlier version of this agent (one that drew "
                "two policy samples per update); it cannot be resumed with this one"
            )
        saved = json.loads(str(state["config"]))
        mismatch = {
            key: (saved.get(key, _OLDER_DEFAULTS.get(key)), self._config[key])
            for key in _STRUCTURAL_KEYS
            if saved.get(key, _OLDER_DEFAULTS.get(key)) != self._config[key]
        }
        if mismatch:
            details = ", ".join(f"{k}: saved {s}, this agent {c}" for k, (s, c) in mismatch.items())
            raise ValueError(f"models in {os.fspath(folder)!r} do not fit this agent ({details})")
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(f"missing model file(s): {', '.join(missing)}")
        for name, path in zip(self.network_names, paths, strict=False):
            self.network(name).load_weights(path)
        for name, optimizer in self.optimizers.items():
            n_saved = sum(key.startswith(f"optimizer_{name}_") for key in state)
            if n_saved != len(optimizer.variables):
                raise ValueError(f"{paths[-1]}: {name} optimizer state does not fit this agent")
            for i, variable in enumerate(optimizer.variables):
                variable.assign(state[f"optimizer_{name}_{i:03d}"])
        self.log_alpha.assign(state["log_alpha"])
        self.noise_rng.bit_generator.state = json.loads(str(state["noise_rng_state"]))
        self.action_rng.bit_generator.state = json.loads(str(state["action_rng_state"]))
        self.update_count = int(state["update_count"])
        self.skipped_updates = int(state["skipped_updates"])
        self._numpy_actor = None
        self._numpy_average = None

    def save_replay_buffer(self, folder: str | os.PathLike) -> None:
        os.makedirs(folder, exist_ok=True)
        self.memory.save(os.path.join(folder, _BUFFER_FILE))

    def load_replay_buffer(self, folder: str | os.PathLike) -> None:
        path = os.path.join(folder, _BUFFER_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"missing replay buffer file: {path}")
        self.memory.load(path)
