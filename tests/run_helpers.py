"""Helpers shared by the tests that train: tiny settings, main.py in a subprocess, comparisons.

The fixtures built on them (a finished tiny run, agents without XLA) are in tests/conftest.py.
"""

from __future__ import annotations

import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from training import checkpoints as ckpt

REPO = Path(__file__).resolve().parents[1]
REFERENCE_LOGS = REPO / "tests" / "reference_logs"  # committed logs of fixed-seed runs
# Tiny networks and episodes: every behaviour of a run, none of its cost.
TINY_SETTINGS: dict[str, Any] = dict(
    max_steps=25,
    layer1_size=16,
    layer2_size=16,
    batch_size=16,
    buffer_size=5000,
    record_steps=20,
    save_every=1,
    seed=3,
)
# Compiled XLA programs of the main.py subprocesses of one test session, shared between them
# (a process that builds the same agent as an earlier one loads its program instead of
# compiling it again: several seconds per process). Removed at the end of the session.
XLA_CACHE = Path(tempfile.gettempdir()) / f"bolla-rolla-tests-xla-{os.getpid()}"


def flags(settings: Mapping[str, Any]) -> list[str]:
    """Settings as main.py flags."""
    out: list[str] = []
    for key, value in settings.items():
        if value is True:
            out.append(f"--{key}")
        elif value is not False:
            out += [f"--{key}", str(value)]
    return out


TINY = flags(TINY_SETTINGS)


def cpu_model() -> str:
    """The CPU's model name with its family and model numbers (Linux), else the platform's."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or platform.machine()
    return f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')}, " \
        f"model {fields.get('model', '?')})"  # fmt: skip


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", TF_CPP_MIN_LOG_LEVEL="3")
    env["CUDA_VISIBLE_DEVICES"] = ""
    XLA_CACHE.mkdir(exist_ok=True)
    env["TF_XLA_FLAGS"] = f"--tf_xla_persistent_cache_directory={XLA_CACHE}"
    return env


def run_main(*args: str | Path, timeout: float = 240, **kwargs: Any) -> subprocess.CompletedProcess:
    """main.py in a subprocess, as a user runs it."""
    return subprocess.run(
        [sys.executable, str(REPO / "main.py"), *map(str, args)],
        cwd=REPO,
        env=kwargs.pop("env", subprocess_env()),
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def start_main(run_dir: Path, *args: str) -> subprocess.Popen:
    """main.py --save_dir run_dir in a subprocess that the test signals or kills."""
    return subprocess.Popen(
        [sys.executable, str(REPO / "main.py"), "--save_dir", str(run_dir), *args],
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_checkpoint(
    run_dir: Path, process: subprocess.Popen, after: int = 0, timeout: float = 120
) -> bool:
    """Wait until the run has a checkpoint newer than episode `after`; False if the process
    ended (finished) first."""
    deadline = time.monotonic() + timeout
    while max(ckpt.list_checkpoint_episodes(run_dir), default=0) <= after:
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    return True


def wait_for_save(run_dir: Path, process: subprocess.Popen, timeout: float = 120) -> bool:
    """Wait until the run is in the middle of writing a checkpoint (its temporary folder is
    there); False if the process ended first."""
    deadline = time.monotonic() + timeout
    while not any(run_dir.glob(".tmp_checkpoint_ep*")):
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, "no checkpoint was started"
        time.sleep(0.002)
    return True


def wait_for_log_rows(run_dir: Path, process: subprocess.Popen, rows: int) -> None:
    deadline = time.monotonic() + 120
    while not (run_dir / "train_log.csv").exists() or len(read_log(run_dir)) < rows:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.strip()]


def one_error_line(stderr: str) -> str:
    """The only line on stderr (no traceback)."""
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    return lines[0]


def read_log(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "train_log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def log_without_wall_time(run_dir: Path) -> list[dict[str, str]]:
    """The log's rows as written, but for the wall time (the one value a rerun changes)."""
    rows = read_log(run_dir)
    for row in rows:
        row.pop("wall_time")
    return rows


def folder_arrays(folder: Path) -> dict[str, np.ndarray]:
    """Every array of the .h5 and .npz files in a checkpoint folder, by file and name."""
    arrays: dict[str, np.ndarray] = {}
    for file in sorted(folder.iterdir()):
        if file.name.endswith(".h5"):
            with h5py.File(file, "r") as handle:

                def visit(name: str, obj: Any, file: Path = file) -> None:
                    if isinstance(obj, h5py.Dataset):
                        arrays[f"{file.name}/{name}"] = obj[()]

                handle.visititems(visit)
        elif file.suffix == ".npz":
            with np.load(file, allow_pickle=False) as data:
                for key in data.files:
                    arrays[f"{file.name}/{key}"] = data[key]
    return arrays


def assert_same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    assert a, "nothing compared"
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def assert_same_run(a: Path, b: Path, episode: int) -> None:
    """Runs `a` and `b` are identical up to `episode`: scores, log rows (but wall time), every
    network, optimizer and random state, the replay buffer (where both kept it) and counters."""
    np.testing.assert_array_equal(
        np.load(a / f"score_history_{episode}.npy"), np.load(b / f"score_history_{episode}.npy")
    )
    rows_a, rows_b = log_without_wall_time(a)[:episode], log_without_wall_time(b)[:episode]
    assert rows_a == rows_b and len(rows_a) == episode
    assert_same_arrays(
        folder_arrays(ckpt.models_dir(a, episode)), folder_arrays(ckpt.models_dir(b, episode))
    )
    buffers = [ckpt.buffer_dir(run, episode) for run in (a, b)]
    if all(p.exists() for p in buffers):
        assert_same_arrays(folder_arrays(buffers[0]), folder_arrays(buffers[1]))
    states = [ckpt.verify_checkpoint(run, episode).training_state() for run in (a, b)]
    for state in states:
        state.pop("wall_time")
    assert states[0] == states[1]


class Messages:
    """train()'s `log` and `warn`, collecting what a run says."""

    def __init__(self) -> None:
        self.logged: list[str] = []
        self.warned: list[str] = []

    def log(self, message: str) -> None:
        self.logged.append(message)

    def warn(self, message: str) -> None:
        self.warned.append(message)


def train_tiny(
    run_dir: Path, callbacks: Sequence[Any] = (), **overrides: Any
) -> tuple[Any, Messages]:
    """A tiny cartpole run in this process (no recording, no progress bar unless asked)."""
    from training import train

    settings = {**TINY_SETTINGS, "no_record": True, "no_progress": True, **overrides}
    recover = settings.pop("recover", False)
    overwrite = settings.pop("overwrite", False)
    messages = Messages()
    result = train(
        settings, run_dir, callbacks, recover=recover, overwrite=overwrite,
        log=messages.log, warn=messages.warn,
    )  # fmt: skip
    return result, messages


class _SignalAfterSteps:
    """An environment that sends `signum` to this process after `steps` steps."""

    def __init__(self, env: Any, steps: int, signum: int) -> None:
        self.env, self.steps, self.signum = env, steps, signum

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    def step(self, action: Any) -> Any:
        result = self.env.step(action)
        self.steps -= 1
        if self.steps == 0:
            os.kill(os.getpid(), self.signum)
        return result


def signal_during_episode(monkeypatch: Any, episode: int, step: int, signum: int) -> None:
    """Make an in-process run receive `signum` after `step` steps of its episode `episode`, as
    if the user pressed Ctrl-C (or sent SIGTERM) then."""
    import training.loop

    original = training.loop.run_episode

    def run_episode(env: Any, agent: Any, progress: Any, *args: Any, **kwargs: Any) -> Any:
        if progress.episode + 1 == episode:
            env = _SignalAfterSteps(env, step, signum)
        return original(env, agent, progress, *args, **kwargs)

    monkeypatch.setattr(training.loop, "run_episode", run_episode)


def signal_during_recording(monkeypatch: Any, step: int, signum: int) -> None:
    """Make an in-process run receive `signum` after `step` steps of its final recording (the
    environment built to render), as if the user pressed Ctrl-C then."""
    import training.loop

    original = training.loop.make_environment

    def make_environment(config: Any, **kwargs: Any) -> Any:
        env = original(config, **kwargs)
        return _SignalAfterSteps(env, step, signum) if kwargs.get("render_mode") else env

    monkeypatch.setattr(training.loop, "make_environment", make_environment)


def yield_the_cpu() -> None:
    """For a run started with the session (preexec_fn): the lowest CPU priority, so that it
    takes what the tests leave idle instead of slowing them down. Priority changes no result."""
    os.nice(19)


class Background:
    """main.py started now in a subprocess, its output going to files; `wait()` returns its
    exit code, stdout and stderr. Long runs overlap with the tests that run meanwhile (this
    machine has two cores, and most tests keep one busy); `low_priority` ones yield the CPU."""

    def __init__(self, folder: Path, *args: str | Path, low_priority: bool = False) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.out = open(folder / "stdout.txt", "w+")
        self.err = open(folder / "stderr.txt", "w+")
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "main.py"), *map(str, args)],
            cwd=REPO, env=subprocess_env(), stdout=self.out, stderr=self.err, text=True,
            preexec_fn=yield_the_cpu if low_priority else None,
        )  # fmt: skip

    def wait(self, timeout: float) -> tuple[int, str, str]:
        code = self.process.wait(timeout=timeout)
        self.out.seek(0)
        self.err.seek(0)
        return code, self.out.read(), self.err.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.out.close()
        self.err.close()
