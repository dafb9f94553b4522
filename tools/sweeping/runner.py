"""Running a sweep's trials on Ray Tune: Ray started here or joined on a cluster; Tune's grid of
seeds times swept values, each trial an ordinary training run in a Ray worker that continues
from its own newest checkpoint; a line per trial event and Tune's status table; Tune's
experiment (tune/) for --resume."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tools._common import ToolError
from tools.sweeping.spec import RUNS_DIR, TUNE_DIR, Spec, Trial, make_trial
from tools.sweeping.study import record_peak_memory
from training.config import ConfigError, RunConfig, check_fits_in_memory
from training.log import free_name
from training.runs import quiet_native_stderr

MAX_FAILURES = 3  # retries of a trial whose worker died or raised, each from its checkpoint
ADDRESS_TIMEOUT = 5.0  # s to wait for a cluster's port to answer before giving up
REPORT_EVERY = 300  # s between Tune's status tables (one more when the sweep ends)
# The trials' environment variables: headless, quiet. They import the packages as every process
# does, through the virtualenv's editable install (pip install -e ., which make runs).
WORKER_ENV = {
    "SDL_VIDEODRIVER": "dummy",
    "SDL_AUDIODRIVER": "dummy",
    "PYGAME_HIDE_SUPPORT_PROMPT": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


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
    # Ctrl-C is a KeyboardInterrupt here, as a killed driver: Tune's own handler left a
    # search's running trials marked terminated, and --resume did not run them again.
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")
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

    trial = tune_trial(config)
    run_dir = _sweep_dir_of_trial(config) / RUNS_DIR / trial.key
    if config["trial"].get("pin"):
        from tools.sweeping.pinning import pin_to_a_free_core

        pin_to_a_free_core()

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
        trial.values, run_dir, callbacks=[report], recover="auto", overwrite=fresh,
        log=print, warn=to_stderr,
    )  # fmt: skip
    record_peak_memory(run_dir)
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
    """A Tune callback that prints one line per trial event (a trial's name is its key)."""
    from ray import tune

    class Progress(tune.Callback):
        def on_trial_start(self, iteration, trials, trial, **info):
            print(f"started  {trial}", flush=True)

        def on_trial_complete(self, iteration, trials, trial, **info):
            result = trial.last_result or {}
            what = (
                f"solved at episode {result.get('episode')}"
                if result.get("solved")
                else f"{result.get('episode')} episodes, not solved"
            )
            print(f"finished {trial}: {what}", flush=True)

        def on_trial_recover(self, iteration, trials, trial, **info):
            print(
                f"retrying {trial} from its newest checkpoint "
                f"(retry {trial.num_failures} of {MAX_FAILURES})",
                flush=True,
            )

        def on_trial_error(self, iteration, trials, trial, **info):
            print(f"failed   {trial} (see {trial.path}/error.txt)", flush=True)

    return Progress()


def run_sweep(sweep_dir: Path, spec: Spec, max_concurrent: int | None, cpus_per_trial: float,
              resume: bool, pin: bool = False) -> int:  # fmt: skip
    """Run (or continue) every trial of the sweep through Ray Tune; return how many failed
    for good (after their retries)."""
    from ray import tune

    trainable = tune.with_resources(run_trial, {"cpu": cpus_per_trial})
    return fit_experiment(sweep_dir, trainable, resume, lambda: tune.Tuner(
        trainable,
        param_space=param_space(sweep_dir, spec, pin),
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent,
            reuse_actors=False,  # a fresh process per trial: nothing carries over
            trial_name_creator=trial_name,
            trial_dirname_creator=trial_name,
        ),
        run_config=experiment_config(
            sweep_dir,
            tune.CLIReporter(
                metric_columns={"episode": "episode", "avg_score": "100-episode average"},
                parameter_columns={"trial/seed": "seed"},
                max_report_frequency=REPORT_EVERY,
                print_intermediate_tables=True,
            ),
            callbacks=[_progress_callback()],
        ),
    ))  # fmt: skip


def fit_experiment(folder: Path, trainable: Any, resume: bool, new_tuner: Any) -> int:
    """Continue the Tune experiment in <folder>/tune on --resume (its unfinished and errored
    trials), else start the one `new_tuner()` makes; return how many trials failed for good."""
    from ray import tune

    tune_dir = folder / TUNE_DIR
    if resume and tune.Tuner.can_restore(str(tune_dir)):
        tuner = tune.Tuner.restore(
            str(tune_dir), trainable=trainable, resume_unfinished=True, resume_errored=True
        )
    else:
        if tune_dir.exists():  # the driver died before Tune wrote its state: keep what is there
            tune_dir.rename(free_name(tune_dir.with_name(f"{TUNE_DIR}.unrestorable")))
        tuner = new_tuner()
    return tuner.fit().num_errors


def experiment_config(folder: Path, reporter: Any, callbacks: Sequence[Any] = ()) -> Any:
    """Tune's RunConfig of a sweep or a search: the experiment in <folder>/tune, trials retried
    MAX_FAILURES times, `reporter`'s status table (the old output engine: start_ray)."""
    from ray import tune

    return tune.RunConfig(
        name=TUNE_DIR,
        storage_path=str(folder),
        failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
        callbacks=list(callbacks),
        progress_reporter=reporter,
        log_to_file=True,
        verbose=1,
    )


def param_space(sweep_dir: Path, spec: Spec, pin: bool = False) -> dict[str, Any]:
    """Tune's grid: every seed times every value of each swept key, with what `tune_trial`
    needs to make each trial (the swept keys' order names its run folder) and whether trials
    pin themselves to a core of their own (tools/sweeping/pinning.py)."""
    from ray import tune

    return {
        "trial": {
            "sweep_dir": str(sweep_dir),
            "env_name": spec.env_name,
            "set": spec.fixed,
            "swept": ",".join(spec.grid),
            "grid": {key: tune.grid_search(values) for key, values in spec.grid.items()},
            "seed": tune.grid_search(spec.seeds),
            "pin": pin,
        }
    }


def tune_trial(config: dict[str, Any]) -> Trial:
    """The trial of a Tune trial's config. A sweep started before its grid was Tune's per key
    gave each trial whole ({"key", "setting", "values", "sweep_dir"}), and resumes as it was."""
    given = config["trial"]
    if "key" in given:
        values = given["values"]
        return Trial(given["key"], given["setting"], int(values["seed"]), values)
    chosen = {k: str(given["grid"][k]) for k in given["swept"].split(",") if k}
    return make_trial(given["env_name"], given["set"], int(given["seed"]), chosen)


def trial_name(trial: Any) -> str:
    """A Tune trial's name and folder (in tune/): the trial's key. A sweep's tune/tuner.pkl
    refers to this function by its module and name: keep both."""
    return tune_trial(trial.config).key


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
