"""Train a grid of settings times seeds as Ray Tune trials, and summarize what they reached.

    python tools/sweep.py --env_name cartpole --seeds 0 1 2 3 4 --grid policy_samples=1,2 \\
        --set n_games=600 --name samples          # 10 runs, two at a time on a 2-core machine
    python tools/sweep.py --name samples --resume  # continue after a crash, a kill or Ctrl-C
    python tools/sweep.py --recipe standing-robust --seeds 1 2 --grid gamma=0.99,0.995 \\
        --name robust-gamma                        # a recipe's settings as the base
    python tools/sweep.py --report sweeps/samples  # redo the tables and the plot (no Ray)
    python tools/sweep.py --report sweeps/samples --evaluate   # + each seed's final agent
    python tools/sweep.py --report sweeps/samples sweeps/alpha --out results/compared
                                                   # several sweeps of one task in one table
    python tools/sweep.py --report results/cartpole-seed0 sweeps/samples --out results/with
                                                   # ... and finished runs (shipped results)
    python tools/sweep.py --archive sweeps/samples --out results/sweeps/samples
                                                   # a small copy that --report still reads

Settings are main.py's (python main.py --help lists them): --recipe NAME starts from a recipe's
(recipes/NAME.yaml or a .yaml file; its environment unless --env_name says otherwise), --grid
KEY=V1,V2 sweeps a setting (repeat it to sweep several: every combination is run), --set KEY=V
fixes one, --seeds lists the seeds every combination is run with. Every combination is checked
as main.py checks its flags before anything starts. Unless --set (or the recipe) says otherwise a
trial uses tf_threads=1, no_record=true, no_progress=true, tensorboard=true and save_every=100.

Each trial is an ordinary training run (training.train, inside a Ray worker) in its own run
folder <storage>/<name>/runs/<setting>,seed=<N>/ with its config.json, checkpoints and
train_log.csv, so `python main.py --recover --save_dir <run folder>` continues it and
`python tools/record_savings.py --run <run folder>` films its checkpoints.

Where trials run: without --address (or RAY_ADDRESS) this process starts Ray on this machine
for as long as the sweep runs, with one CPU per trial (--cpus_per_trial), so as many trials
run at once as there are cores (--max_concurrent caps it). With --address HOST:PORT the sweep
joins a running Ray cluster (`.venv/bin/ray start --head --port=6379` on the first machine,
`.venv/bin/ray start --address=HOST:6379` on the others); then --storage must be a folder that
every node mounts at the same path (NFS, say), and every node needs this repository and its
virtualenv at the same path as here.

Nothing is lost: a trial that dies is retried and continues from its newest checkpoint, exactly
(at most save_every episodes are redone). Ctrl-C stops the sweep (exit code 130), and a sweep
whose driver died continues the same way, with --resume: finished trials are kept as they are,
the others continue from their checkpoints. A --name that holds another sweep is refused;
nothing is ever deleted. --max_concurrent and --cpus_per_trial stay as the sweep started.

Outputs in <storage>/<name>/ (read from the run folders, never from Ray's own files):
  sweep.json    what was asked: environment, seeds, grid, fixed settings, the trials
  trials.csv    one row per trial: solved, episodes to solve, episodes, steps, wall time, ...
  summary.csv   one row per setting: solved fraction, episodes and minutes to solve as median
                and IQM with 95% stratified-bootstrap confidence intervals (rliable); the table
                is also printed
  curves.png    100-episode average score against episode, IQM across seeds with a 95% band
  evaluation.csv  with --evaluate [N]: every finished trial's final policy under
                tools/evaluate.py (N episodes per measure, default 20): full episodes at start
                noise 0, 0.05, 0.2; with pushes of 0.5 and 1.0, the pushes recovered and the
                full episodes; the table is printed
  runs/         the run folders;   tune/   Ray Tune's experiment (its TensorBoard scalars too:
                tensorboard --logdir <storage>/<name>)
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import itertools
import json
import logging
import os
import queue
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tools._common import REPO_DIR, ToolError, ToolParser, run, warn
from tools.evaluate import MAX_EPISODES
from training.cli import PATH, Number
from training.config import (
    COMMAND_LINE,
    ConfigError,
    RunConfig,
    check_fits_in_memory,
    resumable_settings,
    setting_value,
    settings,
)
from training.log import free_name
from training.recipe import load_recipe
from training.runs import CONFIG_FILE, quiet_native_stderr

PROG = "sweep.py"
SPEC_FILE = "sweep.json"
RUNS_DIR = "runs"
TUNE_DIR = "tune"  # Ray Tune's experiment folder inside the sweep's
SPEC_FORMAT = 1
DEFAULT_STORAGE = REPO_DIR / "sweeps"
# What a trial uses unless --set says otherwise: one TensorFlow thread per one-CPU trial, no
# video at the end, plain log lines, TensorBoard scalars in its run folder, and a checkpoint
# often enough that a retry loses little.
SWEEP_DEFAULTS = {
    "tf_threads": "1",
    "no_record": "true",
    "no_progress": "true",
    "tensorboard": "true",
    "save_every": "100",
}
DEFAULT_SEEDS = [0, 1, 2, 3, 4]
OWN_FLAGS = {"seed": "--seeds", "env_name": "--env_name", "recipe": "--recipe"}
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
MAX_FAILURES = 3  # retries of a trial whose worker died or raised, each from its checkpoint
ADDRESS_TIMEOUT = 5.0  # s to wait for a cluster's port to answer before giving up
BOOTSTRAP_REPS = 10_000  # stratified-bootstrap resamples of the summary's intervals
CURVE_REPS = 2_000  # ... of the curves' bands (one interval per plotted episode)
CURVE_POINTS = 200  # episodes at which the curves' IQM and band are computed, at most
BOOTSTRAP_SEED = 0  # the intervals are reproducible: --report twice writes the same files
# The trials' environment variables: headless, quiet. They import the packages as every process
# does, through the virtualenv's editable install (pip install -e ., which make runs).
WORKER_ENV = {
    "SDL_VIDEODRIVER": "dummy",
    "SDL_AUDIODRIVER": "dummy",
    "PYGAME_HIDE_SUPPORT_PROMPT": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


# ---- what a sweep is --------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One run of the sweep: a setting (one value of each swept key) and a seed."""

    key: str  # the run folder's name: "policy_samples=1,seed=0"
    setting: str  # "policy_samples=1" ("all" when nothing is swept)
    seed: int
    values: dict[str, str]  # every setting the run is given (as on the command line)


@dataclass
class Spec:
    """What a sweep runs; recorded in sweep.json, compared on --resume and on reuse of a name."""

    env_name: str
    seeds: list[int]
    grid: dict[str, list[str]]  # swept key -> values, in the order given
    fixed: dict[str, str]

    def trials(self) -> list[Trial]:
        """Seeds outer, settings inner: the first trials to finish cover every setting."""
        combos = list(itertools.product(*[[(k, v) for v in vs] for k, vs in self.grid.items()]))
        trials = []
        for seed in self.seeds:
            for combo in combos:
                label = ",".join(f"{k}={v}" for k, v in combo)
                values = {"env_name": self.env_name, "seed": str(seed), **self.fixed, **dict(combo)}
                key = f"{label},seed={seed}" if label else f"seed={seed}"
                trials.append(Trial(key, label or "all", seed, values))
        return trials

    def settings(self) -> list[str]:
        return list(dict.fromkeys(t.setting for t in self.trials()))

    def same_as(self, other: Spec) -> bool:
        return (
            self.env_name == other.env_name
            and self.seeds == other.seeds
            and list(self.grid.items()) == list(other.grid.items())
            and self.chosen() == other.chosen()
        )

    def chosen(self) -> dict[str, str]:
        """The fixed settings that differ from the tool's trial defaults.

        A sweep recorded before a default was added (or changed) still matches the command
        that started it.
        """
        return {k: v for k, v in self.fixed.items() if SWEEP_DEFAULTS.get(k) != v}

    def describe(self) -> str:
        grid = " ".join(f"--grid {k}={','.join(v)}" for k, v in self.grid.items())
        seeds = " ".join(map(str, self.seeds))
        return f"--env_name {self.env_name} --seeds {seeds}" + (f" {grid}" if grid else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SPEC_FORMAT,
            "env_name": self.env_name,
            "seeds": self.seeds,
            "grid": self.grid,
            "set": self.fixed,
            "trials": [
                {"key": t.key, "setting": t.setting, "seed": t.seed, "values": t.values}
                for t in self.trials()
            ],
        }

    @classmethod
    def from_json(cls, data: Any, source: str) -> Spec:
        try:
            if data.get("format") != SPEC_FORMAT:
                raise ValueError
            spec = cls(
                env_name=str(data["env_name"]),
                seeds=[int(s) for s in data["seeds"]],
                grid={str(k): [str(v) for v in vs] for k, vs in data["grid"].items()},
                fixed={str(k): str(v) for k, v in data["set"].items()},
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            raise ToolError(f"{source} is not a sweep description written by {PROG}") from None
        return spec


def _text(value: Any) -> str:
    """A setting's value as it would be typed: 2.0 -> "2", True -> "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def _assignments(items: Sequence[str], flag: str, many: bool) -> dict[str, list[str]]:
    """`KEY=V1,V2` items as {key: [values]}; one value each unless `many`."""
    known = {f.name for f in settings()}
    parsed: dict[str, list[str]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().lstrip("-")
        if not sep or not key:
            raise ToolError(f"{flag} {item!r}: expected KEY=VALUE" + ("S" if many else ""))
        if key in OWN_FLAGS:
            raise ToolError(f"{flag} {key}: give it with {OWN_FLAGS[key]}")
        if key not in known:
            raise ToolError(
                f"{flag} {key}: unknown setting (python main.py --help lists the settings)"
            )
        if key in parsed:
            raise ToolError(f"{flag} {key} is given twice")
        values = [v.strip() for v in text.split(",")] if many else [text.strip()]
        if any(not v for v in values):
            raise ToolError(f"{flag} {key}: empty value in {item!r}")
        parsed[key] = values
    return parsed


def build_spec(
    env_name: str | None,
    seeds: Sequence[int],
    grid_items: Sequence[str],
    set_items: Sequence[str],
    recipe: str | None = None,
) -> tuple[Spec, list[RunConfig]]:
    """The sweep's spec and every trial's config, each checked like main.py's flags: the
    recipe's settings (if any) over the sweep's defaults, then --set, then --grid."""
    grid = _assignments(grid_items, "--grid", many=True)
    given = {k: v[0] for k, v in _assignments(set_items, "--set", many=False).items()}
    both = sorted(grid.keys() & given.keys())
    if both:
        raise ToolError(f"{both[0]} is both swept (--grid) and fixed (--set)")
    if len(set(seeds)) != len(seeds):
        raise ToolError("--seeds repeats a seed")
    base = {**SWEEP_DEFAULTS, **recipe_values(recipe)}
    env_name = env_name or base.pop("env_name", None) or RunConfig().env_name
    fixed = {**{k: v for k, v in base.items() if k not in grid and k != "env_name"}, **given}
    spec_values = {"env_name": env_name, **fixed}
    canonical: dict[str, dict[str, str]] = {k: {} for k in grid}
    configs = []
    for combo in itertools.product(*[[(k, v) for v in vs] for k, vs in grid.items()]):
        for seed in seeds:
            values = {**spec_values, "seed": str(seed), **dict(combo)}
            try:
                config = RunConfig.from_mapping(values, COMMAND_LINE)
            except ConfigError as exc:
                raise ToolError(str(exc)) from None
            configs.append(config)
            for key, text in combo:
                canonical[key][text] = _text(getattr(config, key))
    for key, values in grid.items():
        seen: dict[str, str] = {}
        for text in values:
            value = canonical[key][text]
            if value in seen:
                raise ToolError(f"--grid {key} repeats the value {value} ({seen[value]}, {text})")
            seen[value] = text
    first = configs[0]
    return Spec(
        env_name=first.env_name,
        seeds=[int(s) for s in seeds],
        grid={k: [canonical[k][t] for t in vs] for k, vs in grid.items()},
        fixed={k: _text(getattr(first, k)) for k in fixed},
    ), configs


def recipe_values(name: str | None) -> dict[str, str]:
    """The settings of the recipe --recipe names, as typed, and the recipe itself (its label);
    not a seed it may hold: a sweep's seeds are its --seeds."""
    if name is None:
        return {}
    try:
        recipe = load_recipe(name)
    except ConfigError as exc:
        raise ToolError(str(exc)) from None
    values = {k: _text(v) for k, v in recipe.settings.items() if k != "seed"}
    return {**values, "recipe": recipe.label}


# ---- the sweep's folder -----------------------------------------------------------------------


def read_spec(sweep_dir: Path) -> Spec:
    path = sweep_dir / SPEC_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ToolError(f"{sweep_dir} holds no sweep ({SPEC_FILE} is missing)") from None
    except (OSError, UnicodeDecodeError, ValueError):
        raise ToolError(f"{path} is unreadable") from None
    return Spec.from_json(data, str(path))


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def check_folder(sweep_dir: Path, spec: Spec | None, resume: bool) -> Spec:
    """The spec to run: the given one in a new folder, or the recorded one on --resume."""
    recorded = read_spec(sweep_dir) if (sweep_dir / SPEC_FILE).exists() else None
    if resume:
        if recorded is None:
            raise ToolError(f"nothing to resume: {sweep_dir} holds no sweep ({SPEC_FILE})")
        if spec is not None and not spec.same_as(recorded):
            raise ToolError(
                f"{sweep_dir} holds a different sweep ({recorded.describe()}): --resume takes "
                "its settings from its sweep.json, give none or the same"
            )
        return recorded
    if spec is None:
        raise ToolError("--env_name or --recipe is required for a new sweep")
    if recorded is not None:
        if spec.same_as(recorded):
            raise ToolError(f"{sweep_dir} already holds this sweep: continue it with --resume")
        raise ToolError(
            f"{sweep_dir} holds a different sweep ({recorded.describe()}): choose another "
            "--name, or --resume that one"
        )
    if sweep_dir.exists() and any(sweep_dir.iterdir()):
        raise ToolError(f"{sweep_dir} is not empty and holds no {SPEC_FILE}: choose another --name")
    return spec


# ---- Ray --------------------------------------------------------------------------------------


def check_address(address: str) -> None:
    """Fail fast, in one line, when nothing answers at a cluster's HOST:PORT."""
    if address in ("auto", "local"):
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ToolError(
            f"--address {address!r}: expected HOST:PORT (the head's, e.g. 10.0.0.1:6379)"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=ADDRESS_TIMEOUT).close()
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise ToolError(
            f"no Ray cluster answers at {address} ({reason}); start one with "
            "`ray start --head --port=6379`, or leave --address out to run on this machine"
        ) from None


def start_ray(address: str | None, cpus_per_trial: float) -> str:
    """Join the cluster at `address`, or start Ray inside this process; describe where."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: no tables from Tune
    try:
        import ray
    except ImportError:
        raise ToolError("Ray Tune is not installed: pip install -r requirements.txt") from None
    common = dict(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        if address:  # the workers of other machines get the environment through Ray
            with quiet_native_stderr():  # Ray's core retries a refused connection, a line a second
                ray.init(address=address, runtime_env={"env_vars": WORKER_ENV}, **common)
        else:  # local workers inherit it from Ray's processes, started now
            with _environment(WORKER_ENV):
                ray.init(address="local", num_cpus=os.cpu_count(), **common)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        hint = ""
        if address and "RAY_AUTH_MODE" not in os.environ:
            hint = (
                "; a cluster with token authentication (what `ray start` sets up since Ray 2.59) "
                "needs RAY_AUTH_MODE=token here and its token in ~/.ray/auth_token"
            )
        raise ToolError(f"cannot start Ray ({str(exc).strip().splitlines()[0]}){hint}") from None
    logging.getLogger("ray").setLevel(logging.ERROR)
    cpus = ray.cluster_resources().get("CPU", 0)
    if cpus < cpus_per_trial:
        ray.shutdown()
        raise ToolError(f"--cpus_per_trial {cpus_per_trial:g}: the cluster has {cpus:g} CPUs")
    nodes = len([n for n in ray.nodes() if n.get("Alive")])
    where = f"the cluster at {address}" if address else "this machine"
    return f"{where}: {nodes} node(s), {cpus:g} CPUs, {cpus_per_trial:g} per trial"


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables meanwhile (for the processes started meanwhile)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_trial(config: dict[str, Any]) -> None:
    """Ray Tune's trainable: one training run, continued from its own newest checkpoint if it
    has one (after a retry or a --resume), reporting every finished episode to Tune."""
    from ray import tune

    from training import EpisodeReport, train
    from training import checkpoints as ckpt

    trial = config["trial"]
    sweep_dir = _sweep_dir_of_trial(config)
    run_dir = sweep_dir / RUNS_DIR / trial["key"]

    reporter = _Reporter()

    def report(r: EpisodeReport) -> None:
        reporter(
            {
                "episode": r.episode,
                "score": r.score,
                "avg_score": r.avg_score,
                "steps": r.steps,
                "total_steps": r.total_steps,
                "timesteps_total": r.total_steps,  # TensorBoard's x axis: steps, across retries
                "wall_time": r.wall_time,
                "steps_per_second": r.steps_per_second,
                "solved": r.solved,
                **r.losses,
            }
        )

    def to_stderr(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    good = ckpt.latest_good_checkpoint(run_dir, warn=to_stderr)
    state = good.training_state() if good is not None else {}
    if state.get("finished"):  # Tune lost track of it (its driver died): leave the run alone
        keys = ("episode", "total_steps", "wall_time", "solved")
        tune.report({**{k: state[k] for k in keys}, "timesteps_total": state["total_steps"]})
        return
    # A run killed before its first checkpoint left only its log: it starts again from scratch.
    fresh = not ckpt.has_checkpoint_files(run_dir)
    train(
        trial["values"], run_dir, callbacks=[report], recover="auto", overwrite=fresh,
        log=print, warn=to_stderr,
    )  # fmt: skip
    reporter.close()


class _Reporter:
    """Hands the episodes to Tune from a thread of its own: tune.report waits until Tune's
    driver has taken the result, and training need not wait with it."""

    def __init__(self) -> None:
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._send, name="tune-reporter", daemon=True)
        self.thread.start()

    def __call__(self, metrics: dict[str, Any]) -> None:
        self.queue.put(metrics)

    def _send(self) -> None:
        from ray import tune

        while (metrics := self.queue.get()) is not None:
            tune.report(metrics)

    def close(self) -> None:
        """Wait until Tune has every episode."""
        self.queue.put(None)
        self.thread.join()


def _sweep_dir_of_trial(config: dict[str, Any]) -> Path:
    """The sweep's folder as Tune sees it now: <sweep>/tune is the experiment's storage, which
    follows the folder if it was moved before a --resume (the path recorded at the start, else).
    """
    from ray import tune

    try:
        return Path(tune.get_context().get_storage().experiment_fs_path).parent
    except Exception:  # an older or newer Tune without this developer API
        return Path(config["trial"]["sweep_dir"])


def _progress_callback():
    """A Tune callback that prints one line per trial event, and every 100 episodes."""
    from ray import tune

    class Progress(tune.Callback):
        def on_trial_start(self, iteration, trials, trial, **info):
            print(f"started  {trial.config['trial']['key']}", flush=True)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            episode = result.get("episode", 0)
            if episode % 100 == 0 and "avg_score" in result:
                key = trial.config["trial"]["key"]
                print(
                    f"         {key}: episode {episode}, 100-episode average "
                    f"{result['avg_score']:.1f}",
                    flush=True,
                )

        def on_trial_complete(self, iteration, trials, trial, **info):
            result = trial.last_result or {}
            what = (
                f"solved at episode {result.get('episode')}"
                if result.get("solved")
                else f"{result.get('episode')} episodes, not solved"
            )
            print(f"finished {trial.config['trial']['key']}: {what}", flush=True)

        def on_trial_recover(self, iteration, trials, trial, **info):
            print(
                f"retrying {trial.config['trial']['key']} from its newest checkpoint "
                f"(retry {trial.num_failures} of {MAX_FAILURES})",
                flush=True,
            )

        def on_trial_error(self, iteration, trials, trial, **info):
            print(
                f"failed   {trial.config['trial']['key']} (see {trial.path}/error.txt)", flush=True
            )

    return Progress()


def run_sweep(sweep_dir: Path, spec: Spec, max_concurrent: int | None, cpus_per_trial: float,
              resume: bool) -> int:  # fmt: skip
    """Run (or continue) every trial of the sweep through Ray Tune; return how many failed
    for good (after their retries)."""
    from ray import tune

    trainable = tune.with_resources(run_trial, {"cpu": cpus_per_trial})
    tune_dir = sweep_dir / TUNE_DIR
    if resume and tune.Tuner.can_restore(str(tune_dir)):
        tuner = tune.Tuner.restore(
            str(tune_dir), trainable=trainable, resume_unfinished=True, resume_errored=True
        )
    else:
        if tune_dir.exists():  # the driver died before Tune wrote its state: keep what is there
            tune_dir.rename(free_name(tune_dir.with_name(f"{TUNE_DIR}.unrestorable")))
        trials = [
            {"key": t.key, "setting": t.setting, "values": t.values, "sweep_dir": str(sweep_dir)}
            for t in spec.trials()
        ]
        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search(trials)},
            tune_config=tune.TuneConfig(
                max_concurrent_trials=max_concurrent,
                reuse_actors=False,  # a fresh process per trial: nothing carries over
                trial_name_creator=_trial_name,
                trial_dirname_creator=_trial_name,
            ),
            run_config=tune.RunConfig(
                name=TUNE_DIR,
                storage_path=str(sweep_dir),
                failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
                callbacks=[_progress_callback()],
                log_to_file=True,
                verbose=0,
            ),
        )
    return tuner.fit().num_errors


def _trial_name(trial) -> str:
    return trial.config["trial"]["key"]


# ---- the report -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one trial's run folder says about it."""

    trial: Trial
    finished: bool = False  # solved, or out of episodes, and checkpointed
    solved: bool = False
    episodes: int = 0
    total_steps: int = 0
    wall_time: float = 0.0  # s of the training loop, every session of the run
    n_games: int = 0
    scores: list[float] = field(default_factory=list)
    where: str = ""  # the run folder, relative to the report's folder
    run_dir: Path | None = None

    def relabelled(self, setting: str, where: str) -> Outcome:
        return dataclasses.replace(
            self, trial=dataclasses.replace(self.trial, setting=setting), where=where
        )

    @property
    def episodes_to_solve(self) -> int | None:
        return self.episodes if self.solved else None

    @property
    def episodes_or_cap(self) -> float:
        """Episodes to solve; an unsolved trial counts at its episode cap."""
        return float(self.episodes if self.solved else self.n_games)

    @property
    def final_avg_score(self) -> float | None:
        return float(np.mean(self.scores[-100:])) if self.scores else None


def read_outcome(sweep_dir: Path, trial: Trial) -> Outcome:
    """The trial's state from its run folder: config.json, the newest checkpoint, the log."""
    return read_run(sweep_dir / RUNS_DIR / trial.key, trial, f"{RUNS_DIR}/{trial.key}")


def read_run(run_dir: Path, trial: Trial, where: str, replay: bool = False) -> Outcome:
    """The state of the run in `run_dir`: a finished run is one whose newest checkpoint says
    so; with `replay`, a run folder without checkpoints (a shipped result: config.json,
    train_log.csv and the policy) is finished when its log is solved by the solved rule or
    reaches n_games."""
    from training import checkpoints as ckpt
    from training.log import LOG_FILE, UnreadableLog, read_rows
    from training.loop import solved_at
    from training.runs import load_config

    outcome = Outcome(trial, where=where, run_dir=run_dir)
    if not (run_dir / "config.json").exists():
        return outcome  # not started yet
    try:
        outcome.n_games = int(load_config(run_dir)["n_games"])
        rows = read_rows(run_dir / LOG_FILE) if (run_dir / LOG_FILE).exists() else []
    except (OSError, ValueError, UnreadableLog, UnicodeDecodeError) as exc:
        warn(PROG, f"{run_dir}: {exc}; counted as unfinished")
        return outcome
    state: dict[str, Any] = {}
    episodes = ckpt.list_checkpoint_episodes(run_dir)
    if episodes:
        path = ckpt.models_dir(run_dir, episodes[-1]) / ckpt.TRAINING_STATE_FILE
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            state = {}
        state = state if isinstance(state, dict) else {}
    if state.get("finished"):  # the checkpoint's counters are the truth; the log may say more
        try:
            outcome.episodes = int(state["episode"])
            outcome.total_steps = int(state["total_steps"])
            outcome.wall_time = float(state["wall_time"])
            outcome.solved = bool(state["solved"])
            outcome.finished = True
            rows = rows[: outcome.episodes]
        except (KeyError, TypeError, ValueError):
            warn(PROG, f"{path} is not a training state; counted as unfinished")
    if replay and not episodes and rows:
        solved = solved_at(_config(trial), [float(row["score"]) for row in rows])
        if solved is not None or len(rows) >= outcome.n_games:
            outcome.finished, outcome.solved = True, solved is not None
            rows = rows[: solved or outcome.n_games]
            outcome.episodes = len(rows)
            outcome.total_steps = int(_number(rows[-1].get("total_steps"), 0))
            outcome.wall_time = _number(rows[-1].get("wall_time"), 0.0)
    if not outcome.finished and rows:
        last = rows[-1]
        outcome.episodes = int(last["episode"])
        outcome.total_steps = int(_number(last.get("total_steps"), 0))
        outcome.wall_time = _number(last.get("wall_time"), 0.0)
    outcome.scores = [float(row["score"]) for row in rows]
    return outcome


def _number(text: str | None, default: float) -> float:
    try:
        return float(text) if text not in (None, "") else default
    except ValueError:
        return default


TRIAL_FIELDS = (
    "setting", "seed", "finished", "solved", "episodes_to_solve", "episodes", "total_steps",
    "wall_time", "final_avg_score", "run_dir",
)  # fmt: skip


def write_trials_csv(path: Path, study: Study) -> None:
    fields = ["setting", "seed", *study.columns, *TRIAL_FIELDS[2:]]
    rows = []
    for o in study.outcomes:
        rows.append(
            {
                "setting": o.trial.setting,
                "seed": o.trial.seed,
                **{k: study.value(o.trial, k) for k in study.columns},
                "finished": _text(o.finished),
                "solved": _text(o.solved),
                "episodes_to_solve": o.episodes_to_solve if o.episodes_to_solve else "",
                "episodes": o.episodes,
                "total_steps": o.total_steps,
                "wall_time": round(o.wall_time, 3),
                "final_avg_score": "" if o.final_avg_score is None else round(o.final_avg_score, 3),
                "run_dir": o.where,
            }
        )
    _write_csv(path, fields, rows)


def _write_csv(path: Path, fields: Sequence[str], rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


class _SeededGlobalRandom:
    """rliable's resampling draws from NumPy's global generator: seed it, then put it back."""

    def __enter__(self) -> None:
        self.saved = np.random.get_state()  # noqa: NPY002 (rliable uses the global one)
        np.random.seed(BOOTSTRAP_SEED)  # noqa: NPY002

    def __exit__(self, *exc: object) -> None:
        np.random.set_state(self.saved)  # noqa: NPY002


def _median_and_iqm(scores: np.ndarray) -> np.ndarray:
    """Median and IQM of each column of a (runs x measures) array."""
    from rliable import metrics

    return np.array(
        [
            f(scores[:, [j]])
            for j in range(scores.shape[1])
            for f in (_median, metrics.aggregate_iqm)
        ]
    )


def _median(scores: np.ndarray) -> float:
    # rliable's aggregate_median is the median over tasks of each task's mean over runs: with
    # one task, a mean. Here the median is over runs (seeds).
    return float(np.median(scores))


SUMMARY_MEASURES = ("episodes", "minutes")
STATS = ("median", "iqm")


def summarize(study: Study) -> list[dict[str, Any]]:
    """One row per setting: counts, and median and IQM of episodes and minutes to solve, each
    with its 95% stratified-bootstrap interval over the finished trials."""
    from rliable import library as rly

    rows = []
    for setting in study.settings():
        mine = [o for o in study.outcomes if o.trial.setting == setting]
        done = [o for o in mine if o.finished]
        row: dict[str, Any] = {
            "setting": setting,
            **{k: study.value(mine[0].trial, k) for k in study.columns},
            "trials": len(done),
            "unfinished": len(mine) - len(done),
            "solved": sum(o.solved for o in done),
            "solved_fraction": round(sum(o.solved for o in done) / len(done), 4) if done else "",
        }
        for measure in SUMMARY_MEASURES:
            for stat in STATS:
                for part in ("", "_low", "_high"):
                    row[f"{measure}_{stat}{part}"] = ""
        if done:
            # Unsolved trials count at their episode cap and with their whole wall time.
            scores = np.array([[o.episodes_or_cap, o.wall_time / 60.0] for o in done])
            with _SeededGlobalRandom():
                points, intervals = rly.get_interval_estimates(
                    {setting: scores}, _median_and_iqm, reps=BOOTSTRAP_REPS
                )
            names = [(m, s) for m in SUMMARY_MEASURES for s in STATS]
            for i, (measure, stat) in enumerate(names):
                row[f"{measure}_{stat}"] = round(float(points[setting][i]), 3)
                row[f"{measure}_{stat}_low"] = round(float(intervals[setting][0][i]), 3)
                row[f"{measure}_{stat}_high"] = round(float(intervals[setting][1][i]), 3)
        rows.append(row)
    return rows


def _aligned(lines: list[list[str]]) -> list[str]:
    """Rows of cells as text columns: the first left-aligned, the others right-aligned, a rule
    under the header row."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    text = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return text


def format_table(study: Study, rows: list[dict[str, Any]]) -> str:
    def cell(row: dict[str, Any], measure: str, stat: str, digits: int) -> str:
        value = row[f"{measure}_{stat}"]
        if value == "":
            return "-"
        low, high = row[f"{measure}_{stat}_low"], row[f"{measure}_{stat}_high"]
        return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"

    header = [
        "setting", "trials", "solved", "episodes: median [95% CI]", "episodes: IQM [95% CI]",
        "minutes: median [95% CI]", "minutes: IQM [95% CI]",
    ]  # fmt: skip
    lines = [header]
    for row in rows:
        trials = str(row["trials"]) + (
            f" (+{row['unfinished']} unfinished)" if row["unfinished"] else ""
        )
        solved = f"{row['solved']}/{row['trials']}" if row["trials"] else "-"
        lines.append(
            [
                row["setting"], trials, solved,
                cell(row, "episodes", "median", 0), cell(row, "episodes", "iqm", 1),
                cell(row, "minutes", "median", 1), cell(row, "minutes", "iqm", 1),
            ]
        )  # fmt: skip
    text = _aligned(lines)
    caps = sorted({_config(o.trial).n_games for o in study.outcomes})
    cap = ", ".join(map(str, caps))
    text += [
        f"episodes / minutes: to solve, over finished trials; an unsolved trial counts at the "
        f"episode cap (n_games = {cap}) and with its whole wall-clock.",
        "minutes: wall-clock of the training loop (train_log.csv's wall_time), not start-up.",
        f"95% CI: stratified bootstrap over seeds (rliable, {BOOTSTRAP_REPS} resamples); IQM: "
        "mean of the middle 50%.",
    ]
    return "\n".join(text)


def plot_curves(path: Path, study: Study) -> None:
    """100-episode average score against episode: per setting the IQM across its finished
    trials, with a 95% stratified-bootstrap band. A trial that stopped early (solved) is
    carried forward at its final value, so every seed counts at every episode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import library as rly
    from scipy.stats import trim_mean

    from training.plotting import running_average

    fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
    for i, setting in enumerate(study.settings()):
        done = [o for o in study.outcomes if o.trial.setting == setting and o.finished and o.scores]
        if not done:
            continue
        length = max(len(o.scores) for o in done)
        curves = np.array(
            [
                np.pad(running_average(o.scores), (0, length - len(o.scores)), mode="edge")
                for o in done
            ]
        )
        at = np.unique(np.linspace(0, length - 1, min(length, CURVE_POINTS)).round().astype(int))
        with _SeededGlobalRandom():
            points, bands = rly.get_interval_estimates(
                {setting: curves[:, None, at]},
                lambda s: trim_mean(s[:, 0, :], proportiontocut=0.25, axis=0),
                reps=CURVE_REPS,
            )
        color = f"C{i % 10}"
        ax.plot(
            at + 1, points[setting], color=color, linewidth=2, label=f"{setting} (n={len(done)})"
        )
        ax.fill_between(at + 1, bands[setting][0], bands[setting][1], color=color, alpha=0.2)
    solve_score = study.solve_score()
    if solve_score is not None:
        ax.axhline(solve_score, color="gray", linestyle="--", linewidth=1, label="solve score")
    ax.set_xlabel("episode")
    ax.set_ylabel("100-episode average score")
    ax.set_title(f"SAC on {study.env_name}: IQM across seeds, 95% bootstrap band")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    fig.text(
        0.01, 0.01,
        "Finished trials only; a trial that stopped when solved is carried forward at its final "
        f"value. Band: stratified bootstrap over seeds (rliable, {CURVE_REPS} resamples).",
        fontsize=7, color="dimgray",
    )  # fmt: skip
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


@dataclass
class Study:
    """What a report covers: the trials of one sweep, or of several sweeps of one environment,
    grouped into settings that `columns` tell apart."""

    env_name: str
    columns: list[str]
    outcomes: list[Outcome]

    def settings(self) -> list[str]:
        return list(dict.fromkeys(o.trial.setting for o in self.outcomes))

    @staticmethod
    def value(trial: Trial, key: str) -> str:
        """The trial's value of a setting, as typed (its default when the sweep left it)."""
        if key in trial.values:
            return trial.values[key]
        return _text(getattr(RunConfig(), key))

    def solve_score(self) -> float | None:
        scores = {_config(o.trial).solve_score for o in self.outcomes}
        return scores.pop() if len(scores) == 1 else None


def sweep_study(sweep_dir: Path, spec: Spec) -> Study:
    outcomes = [read_outcome(sweep_dir, t) for t in spec.trials()]
    return Study(spec.env_name, list(spec.grid), outcomes)


def is_sweep(folder: Path) -> bool:
    return (folder / SPEC_FILE).exists()


def run_folder_trial(run_dir: Path) -> Trial:
    """A finished run folder (main.py's, or a shipped result) as a one-trial sweep."""
    from training.runs import load_config

    try:
        recorded = load_config(run_dir)
    except (OSError, ValueError) as exc:
        raise ToolError(f"{run_dir}: {exc}") from None
    if recorded.get("seed") is None:
        raise ToolError(f"{run_dir}/config.json records no seed")
    values = {k: _text(v) for k, v in recorded.items()}
    return Trial(run_dir.name, "all", int(recorded["seed"]), values)


def combined_study(folders: Sequence[Path]) -> Study:
    """Several sweeps (and finished run folders, such as a shipped result) as one: a setting
    is labelled by every setting whose value differs between the trials (a sweep's grid, or
    what its --set changed)."""
    per_sweep: list[tuple[Path, Trial]] = []  # (sweep folder, or the run folder; trial)
    swept: list[str] = []
    for folder in folders:
        if is_sweep(folder):
            spec = read_spec(folder)
            per_sweep += [(folder, _as_recorded(folder, t)) for t in spec.trials()]
            swept += spec.grid
        else:
            per_sweep.append((folder, run_folder_trial(folder)))
    envs = sorted({t.values["env_name"] for _, t in per_sweep})
    if len(envs) > 1:
        raise ToolError(f"--report: these sweeps train different environments ({', '.join(envs)})")
    # Settings that only change how a run is watched or kept (tensorboard, save_every, ...)
    # never label a setting; n_games does (it is the cap unsolved trials count at).
    quiet = resumable_settings() - {"n_games"}
    keys = dict.fromkeys(  # a recipe's name neither: its settings are there
        k for _, t in per_sweep for k in t.values if k not in ("seed", "env_name", "recipe", *quiet)
    )
    keys = dict.fromkeys([*(k for k in swept if k in keys), *keys])  # swept ones first
    columns = [k for k in keys if len({Study.value(t, k) for _, t in per_sweep}) > 1]
    outcomes: dict[tuple[str, int], Outcome] = {}
    for sweep_dir, trial in per_sweep:
        label = ",".join(f"{k}={Study.value(trial, k)}" for k in columns) or "all"
        if is_sweep(sweep_dir):
            outcome = read_outcome(sweep_dir, trial)
            outcome = outcome.relabelled(label, f"{sweep_dir.name}/{outcome.where}")
        else:
            outcome = read_run(sweep_dir, trial, sweep_dir.name, replay=True)
            outcome = outcome.relabelled(label, outcome.where)
        key = (label, trial.seed)
        if key in outcomes:
            outcome = _one_of(outcomes[key], outcome, f"{label}, seed {trial.seed}")
        outcomes[key] = outcome
    return Study(envs[0], columns, list(outcomes.values()))


def _one_of(first: Outcome, second: Outcome, what: str) -> Outcome:
    """The trial that counts when two folders of a report hold it: the finished one (a trial
    lost with its machine and run again in another sweep), or of two unfinished ones the one
    further on. Two finished runs of one trial are an error: the report would have to choose."""
    if first.finished and second.finished:
        raise ToolError(
            f"--report: {what} is finished in more than one sweep ({first.where}, {second.where})"
        )
    kept = max(first, second, key=lambda o: (o.finished, o.episodes))  # a tie keeps the first
    other = second if kept is first else first
    warn(PROG, f"{what} is in two folders: counted from {kept.where}, not {other.where}")
    return kept


def _as_recorded(sweep_dir: Path, trial: Trial) -> Trial:
    """The trial with every setting its run recorded (a setting its sweep left to the default
    has the default of the code that ran it, which may not be today's)."""
    from training.runs import load_config

    try:
        recorded = load_config(sweep_dir / RUNS_DIR / trial.key)
    except (OSError, ValueError):
        return trial  # not started (today's defaults hold), or unreadable (reported later)
    values = {k: _text(v) for k, v in recorded.items() if k not in ("seed", "env_name")}
    return dataclasses.replace(trial, values={**values, **trial.values})


# What --evaluate measures of every finished trial's final policy (tools/evaluate.py, the
# README's robustness columns): full episodes from three start noises, and at two push
# strengths (from the default start noise) the pushes recovered and the full episodes.
EVALUATIONS = (
    ("noise_0", 0.0, None),
    ("noise_0.05", 0.05, None),
    ("noise_0.2", 0.2, None),
    ("push_0.5", 0.05, 0.5),
    ("push_1.0", 0.05, 1.0),
)
EVALUATION_FILE = "evaluation.csv"


def evaluate_trials(out_dir: Path, study: Study, episodes: int, seed: int = 0) -> None:
    """Evaluate the final policy of every finished trial (deterministic, `episodes` episodes
    per measure, seeded by `seed` as tools/evaluate.py is); write evaluation.csv and print it."""
    from tools.evaluate import evaluate
    from training.policy import PolicyError, load_policy

    rows = []
    for o in study.outcomes:
        if not o.finished or o.run_dir is None:
            continue
        try:
            policy = load_policy(o.run_dir, warn=lambda message: warn(PROG, message))
        except PolicyError as exc:
            warn(PROG, f"{o.where}: {exc}; not evaluated")
            continue
        row: dict[str, Any] = {
            "setting": o.trial.setting,
            "seed": o.trial.seed,
            "solved": _text(o.solved),
            "episodes": o.episodes,
            # an archived trial's policy is its final checkpoint's, copied out of it
            "checkpoint_episode": o.episodes if policy.episode is None else policy.episode,
            "evaluation_episodes": episodes,
        }
        for name, start_noise, push in EVALUATIONS:
            summary = evaluate(policy, episodes, start_noise, seed, push=push)
            row[f"full_{name}"] = summary["full_episodes"]
            if push is not None:
                row[f"recovered_{name}"] = summary["recovered"]
                row[f"pushes_{name}"] = summary["pushes"]
        rows.append(row)
        print(f"evaluated {o.where}", flush=True)
    if not rows:
        warn(PROG, "no finished trial to evaluate")
        return
    _write_csv(out_dir / EVALUATION_FILE, list(rows[0]), rows)
    print(format_evaluation(rows))
    print(f"-> {out_dir}/{EVALUATION_FILE}", flush=True)


def format_evaluation(rows: list[dict[str, Any]]) -> str:
    header = ["setting", "seed", "solved at", "ckpt"]
    header += [f"full, {n.replace('_', ' ')}" for n, _, p in EVALUATIONS if p is None]
    header += [
        f"recovered, full, {n.replace('_', ' ')}" for n, _, p in EVALUATIONS if p is not None
    ]
    lines = [header]
    for row in rows:
        n = row["evaluation_episodes"]
        line = [
            row["setting"], str(row["seed"]),
            str(row["episodes"]) if row["solved"] == "true" else "-",
            str(row["checkpoint_episode"]),
        ]  # fmt: skip
        for name, _, push in EVALUATIONS:
            if push is None:
                line.append(f"{row[f'full_{name}']}/{n}")
            else:
                recovered, pushes = row[f"recovered_{name}"], row[f"pushes_{name}"]
                share = f" ({100 * recovered / pushes:.0f} %)" if pushes else ""
                line.append(f"{recovered}/{pushes}{share}, {row[f'full_{name}']}/{n}")
        lines.append(line)
    text = _aligned(lines)
    text.append(
        "deterministic policy (tools/evaluate.py) of each finished trial's newest good "
        "checkpoint; full: episodes that reached the cap (at that start noise, or pushed); "
        "recovered: pushes after which the episode went on 50 steps (start noise 0.05)"
    )
    return "\n".join(text)


def report(out_dir: Path, study: Study) -> list[Outcome]:
    """Write trials.csv, summary.csv and curves.png into `out_dir`; print the table."""
    write_trials_csv(out_dir / "trials.csv", study)
    rows = summarize(study)
    fields = list(rows[0]) if rows else ["setting"]
    _write_csv(out_dir / "summary.csv", fields, rows)
    plot_curves(out_dir / "curves.png", study)
    print(format_table(study, rows))
    print(f"-> {out_dir}/trials.csv, summary.csv, curves.png", flush=True)
    return study.outcomes


def report_sweeps(
    sweep_dirs: Sequence[Path], out_dir: Path | None, evaluate_episodes: int | None = None
) -> None:
    """--report: one sweep's files again, in its folder (or `out_dir`), or several sweeps (and
    finished run folders) compared in `out_dir`; with `evaluate_episodes`, evaluation.csv too."""
    for folder in sweep_dirs:
        if not is_sweep(folder) and not (folder / CONFIG_FILE).exists():
            raise ToolError(
                f"{folder} is neither a sweep ({SPEC_FILE}) nor a run folder (config.json)"
            )
    one_sweep = len(sweep_dirs) == 1 and is_sweep(sweep_dirs[0])
    if not one_sweep and out_dir is None:
        raise ToolError(
            "--report with several sweeps, or with a run folder, needs --out DIR for the report"
        )
    if one_sweep:
        study = sweep_study(sweep_dirs[0], read_spec(sweep_dirs[0]))
    else:
        study = combined_study(sweep_dirs)
    if out_dir is None or (one_sweep and out_dir == sweep_dirs[0]):
        out_dir = sweep_dirs[0]
    else:
        if (out_dir / SPEC_FILE).exists():  # never write over a sweep's own report
            raise ToolError(f"--out {out_dir} holds a sweep: choose another folder")
        if (out_dir / CONFIG_FILE).exists():  # ... nor into a run
            raise ToolError(f"--out {out_dir} holds a run: choose another folder")
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ToolError(f"cannot create --out {out_dir} ({exc.strerror})") from None
    report(out_dir, study)
    if evaluate_episodes:
        evaluate_trials(out_dir, study, evaluate_episodes)


def archive_sweep(sweep_dir: Path, out_dir: Path) -> list[str]:
    """Copy of the sweep in `sweep_dir` what its report and evaluation read into the new folder
    `out_dir`: sweep.json and, of every finished trial, config.json, train_log.csv, train.png,
    the final checkpoint's manifest and training state, and its policy as actor.weights.h5
    (below a megabyte per trial). The copy is a sweep folder --report [--evaluate] reads, each
    of its runs a folder tools/evaluate.py and --agent take; it cannot be resumed. Returns the
    trials left out (unfinished)."""
    import shutil

    from training import checkpoints as ckpt
    from training.policy import ACTOR_WEIGHTS, PolicyError, find_actor_weights
    from training.runs import load_config

    spec = read_spec(sweep_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ToolError(f"--out {out_dir} is not empty: archive into a new folder")
    finished, left_out = [], []
    for trial in spec.trials():
        outcome = read_outcome(sweep_dir, trial)
        run_dir = sweep_dir / RUNS_DIR / trial.key
        if not outcome.finished:
            left_out.append(trial.key)
            continue
        try:
            averaged = bool(load_config(run_dir).get("average_actor"))
            policy, episode = find_actor_weights(run_dir, lambda m: warn(PROG, m), averaged)
        except (OSError, ValueError, PolicyError) as exc:
            raise ToolError(f"{run_dir}: {exc}") from None
        newest = ckpt.list_checkpoint_episodes(run_dir)[-1]
        if episode != newest:
            raise ToolError(f"{run_dir}: its final checkpoint ({newest}) does not verify")
        finished.append((trial.key, run_dir, policy, newest))
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(sweep_dir / SPEC_FILE, out_dir / SPEC_FILE)
    for key, run_dir, policy, episode in finished:
        target = out_dir / RUNS_DIR / key
        state = ckpt.models_dir(target, episode) / ckpt.TRAINING_STATE_FILE
        state.parent.mkdir(parents=True)
        for name in ("config.json", "train_log.csv", "train.png"):
            if (run_dir / name).exists():
                shutil.copy2(run_dir / name, target / name)
        shutil.copy2(ckpt.manifest_file(run_dir, episode), ckpt.manifest_file(target, episode))
        shutil.copy2(ckpt.models_dir(run_dir, episode) / ckpt.TRAINING_STATE_FILE, state)
        shutil.copy2(policy, target / ACTOR_WEIGHTS)
    print(
        f"archived {len(finished)} finished trial(s) of {sweep_dir} -> {out_dir}"
        + (f"; left out (unfinished): {', '.join(left_out)}" if left_out else ""),
        flush=True,
    )
    return left_out


def _config(trial: Trial) -> RunConfig:
    return RunConfig.from_mapping(trial.values, COMMAND_LINE)


# ---- the command line -------------------------------------------------------------------------

# --evaluate's episodes per measure, as many as tools/evaluate.py --episodes takes.
EPISODES = Number(int, 1, MAX_EPISODES, says=f"needs at least 1 episode and at most {MAX_EPISODES}")


def build_parser() -> argparse.ArgumentParser:
    parser = ToolParser(prog=PROG, description=__doc__)
    what = parser.add_argument_group("what to run")
    what.add_argument(
        "--env_name", help="environment: cartpole, standing, bolla-rolla (or an alias)"
    )
    what.add_argument(
        "--recipe", type=setting_value("recipe"), default=None, metavar="NAME",
        help="start every trial from a recipe's settings: a name in recipes/ or a .yaml file "
        "(--env_name, --set and --grid override them)",
    )  # fmt: skip
    what.add_argument(
        "--seeds", type=setting_value("seed"), nargs="+", default=None, metavar="N",
        help="seeds every setting is run with (default: 0 1 2 3 4)",
    )  # fmt: skip
    what.add_argument(
        "--grid", action="append", default=None, metavar="KEY=V1,V2",
        help="a swept setting and its values (repeatable: every combination runs)",
    )  # fmt: skip
    what.add_argument(
        "--set", action="append", default=None, metavar="KEY=V",
        help="a setting fixed for every trial (repeatable)",
    )  # fmt: skip
    where = parser.add_argument_group("where")
    where.add_argument("--name", help="the sweep's name: its folder is <storage>/<name>")
    where.add_argument(
        "--storage", type=PATH, default=DEFAULT_STORAGE,
        help="folder of the sweeps (default: sweeps/ in the repository; on a cluster: a path "
        "every node mounts)",
    )  # fmt: skip
    where.add_argument("--resume", action="store_true", help="continue the sweep --name")
    where.add_argument(
        "--report", type=PATH, nargs="+", metavar="DIR", default=None,
        help="only rewrite trials.csv, summary.csv and curves.png of the sweep in DIR; with "
        "several sweeps of one environment, compare them (in --out); a DIR may also be a "
        "finished run folder, such as a shipped result (results/...)",
    )  # fmt: skip
    where.add_argument(
        "--archive", type=PATH, metavar="DIR", default=None,
        help="copy of the sweep in DIR what --report and --evaluate read (every finished "
        "trial's log, config, final state and policy: below 1 MB a trial) into the new folder "
        "--out, e.g. to commit it",
    )  # fmt: skip
    where.add_argument(
        "--out", type=PATH, metavar="DIR", default=None,
        help="with --report: the folder for its files (default: the sweep's own); with "
        "--archive: the new folder",
    )  # fmt: skip
    where.add_argument(
        "--evaluate", type=EPISODES, nargs="?", const=20, default=None, metavar="EPISODES",
        help="also evaluate every finished trial's final policy (tools/evaluate.py, "
        "deterministic, EPISODES episodes each, default 20): full episodes at start noise 0, "
        "0.05 and 0.2, pushes of 0.5 and 1.0 recovered and full episodes with them; written to "
        "evaluation.csv",
    )  # fmt: skip
    ray_group = parser.add_argument_group("Ray")
    ray_group.add_argument(
        "--address", default=None,
        help="HOST:PORT of a running Ray cluster's head (default: RAY_ADDRESS, else start Ray "
        "on this machine)",
    )  # fmt: skip
    ray_group.add_argument(
        "--max_concurrent", type=Number(int, 1), default=None, metavar="N",
        help="at most N trials at once (default: as many as the CPUs allow)",
    )  # fmt: skip
    ray_group.add_argument(
        "--cpus_per_trial",
        type=Number(float, 0, low_open=True),
        default=1.0,
        metavar="X",
        help="CPUs Ray reserves per trial (default: 1)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(PROG, _main, argv)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    args.grid, args.set = args.grid or [], args.set or []
    what = args.env_name or args.recipe or args.seeds or args.grid or args.set
    if args.archive is not None:
        if args.report or args.out is None or args.evaluate is not None:
            raise ToolError("--archive takes one sweep folder and --out (the new folder)")
        if args.name or args.resume or what:
            raise ToolError("--archive takes only a sweep folder and --out")
        archive_sweep(args.archive.expanduser().resolve(), args.out.expanduser().resolve())
        return 0
    if args.report is not None:
        if args.name or args.resume or what:
            raise ToolError("--report takes only sweep folders (and --out)")
        out = args.out.expanduser().resolve() if args.out is not None else None
        report_sweeps([d.expanduser().resolve() for d in args.report], out, args.evaluate)
        return 0
    if args.out is not None:
        raise ToolError("--out goes with --report")
    if not args.name or not NAME_RE.match(args.name):
        raise ToolError("--name is required: letters, digits, '_', '.', '-' (a folder name)")
    sweep_dir = (args.storage.expanduser() / args.name).resolve()
    spec, configs = None, []
    if what:
        if not (args.env_name or args.recipe):
            raise ToolError("--env_name or --recipe is required with --seeds, --grid or --set")
        seeds = args.seeds or DEFAULT_SEEDS
        spec, configs = build_spec(args.env_name, seeds, args.grid, args.set, args.recipe)
    spec = check_folder(sweep_dir, spec, args.resume)
    address = args.address or os.environ.get("RAY_ADDRESS") or None
    if address:
        check_address(address)
    else:
        check_local_machine(configs, args.cpus_per_trial)

    if args.resume and (args.max_concurrent is not None or args.cpus_per_trial != 1.0):
        if (sweep_dir / TUNE_DIR / "tuner.pkl").exists():
            warn(
                PROG, "--max_concurrent and --cpus_per_trial keep the values the sweep started with"
            )
    trials = spec.trials()
    if args.resume and all(read_outcome(sweep_dir, t).finished for t in trials):
        print(f"sweep {args.name}: every trial has finished, nothing to run", flush=True)
        study = sweep_study(sweep_dir, spec)
        report(sweep_dir, study)
        if args.evaluate:
            evaluate_trials(sweep_dir, study, args.evaluate)
        return 0
    print(
        f"{'continuing' if args.resume else 'starting'} sweep {args.name}: {len(trials)} trials "
        f"({len(spec.settings())} settings x {len(spec.seeds)} seeds) on {spec.env_name} "
        f"-> {sweep_dir}",
        flush=True,
    )
    started = time.perf_counter()
    failed = 0
    try:
        print(f"Ray: {start_ray(address, args.cpus_per_trial)}", flush=True)
        (sweep_dir / RUNS_DIR).mkdir(parents=True, exist_ok=True)  # once Ray runs, not before
        if not args.resume:
            write_json_atomic(sweep_dir / SPEC_FILE, spec.to_json())
        if threading.current_thread() is threading.main_thread():
            # Ray's own SIGTERM handler exits at once: stop as Ctrl-C stops instead.
            signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
        failed = run_sweep(sweep_dir, spec, args.max_concurrent, args.cpus_per_trial, args.resume)
    except KeyboardInterrupt:  # a second Ctrl-C, or SIGTERM: Tune had no time to stop cleanly
        print("interrupted: stopping Ray", file=sys.stderr, flush=True)
    finally:
        if "ray" in sys.modules:
            sys.modules["ray"].shutdown()
    print(f"sweep ran {(time.perf_counter() - started) / 60:.1f} min", flush=True)
    study = sweep_study(sweep_dir, spec)
    outcomes = report(sweep_dir, study)
    if args.evaluate:
        evaluate_trials(sweep_dir, study, args.evaluate)
    unfinished = [o.trial.key for o in outcomes if not o.finished]
    if not unfinished:
        return 0
    listed = ", ".join(unfinished[:3]) + (", ..." if len(unfinished) > 3 else "")
    why = f"{failed} failed after {MAX_FAILURES} retries" if failed else "interrupted"
    warn(
        PROG,
        f"{len(unfinished)} trial(s) unfinished ({listed}; {why}): finished trials are kept; "
        f"continue with --name {args.name} --resume",
    )
    return 1 if failed else 130


def check_local_machine(configs: Sequence[RunConfig], cpus_per_trial: float) -> None:
    """Refuse, before Ray starts, a trial this machine could not run."""
    if cpus_per_trial > (os.cpu_count() or 1):
        raise ToolError(
            f"--cpus_per_trial {cpus_per_trial:g}: this machine has {os.cpu_count()} CPUs"
        )
    largest = max(configs, key=lambda c: c.buffer_size, default=None)
    if largest is not None:
        try:
            check_fits_in_memory(largest)
        except ConfigError as exc:
            raise ToolError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
