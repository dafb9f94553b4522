"""Train a grid of settings times seeds as Ray Tune trials, and summarize what they reached;
or search settings for the fastest solve (--search).

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
    python tools/sweep.py --search spaces/cartpole.yaml --samples 40 --env_name cartpole \\
        --seeds 100 101 --name cartpole-search     # Optuna + ASHA: fastest to solve
    python tools/sweep.py --name cartpole-search --resume   # continue it
    python main.py --recipe sweeps/cartpole-search/best.yaml --seed 0   # its best candidate

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

A search (--search SPACE.yaml --samples N) draws N candidates from the space file's
distributions (setting: {choice: [...]}, {uniform: [lo, hi]}, {loguniform: [lo, hi]} or
{randint: [lo, hi]}, both ends included) with Optuna's TPE sampler, over the base settings of
--recipe and --set. Each candidate is a Tune trial that trains every --seeds seed in turn
(runs/<candidate>,seed=<N>/), a seed stopped at T_cap training minutes (--time_cap). The
objective is the mean over the seeds of min(minutes to the solved rule, T_cap), a seed not
solved counting T_cap; a seed that solves counts only if its final agent then plays 95 % of
--check (20) deterministic episodes to the cap (and, trained with pushes, recovers 85 % of
pushes of that strength in as many more). ASHA stops candidates whose progress (seeds
solved, then the running seed's 100-episode average over the solve score) lags others' at the
same training time. Local trials are pinned, one per core. Outputs: search.json (what was
asked), search.csv (one row per candidate: its settings, seeds, objective, minutes, episodes
and final check per seed, stopped early),
search.png (objectives in the order tried and the best so far) and best.yaml (the best
complete candidate as a recipe). --resume continues it after Ctrl-C or a killed driver.

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
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tools._common import REPO_DIR, ToolError, ToolParser, run, warn
from tools.evaluate import MAX_EPISODES
from tools.sweeping.archive import archive_sweep
from tools.sweeping.evaluation import EVALUATION_FILE, EVALUATIONS, evaluate_trials
from tools.sweeping.report import report, report_sweeps
from tools.sweeping.runner import (
    ADDRESS_TIMEOUT,
    MAX_FAILURES,
    check_address,
    check_local_machine,
    run_sweep,
    run_trial,
    start_ray,
    trial_name,
)
from tools.sweeping.search import (
    CHECK_NOISE,
    CHECK_PUSH,
    CHECK_PUSH_SHARE,
    CHECK_SHARE,
    DEFAULT_CHECK,
    TIME_CAPS,
    build_search,
    is_search,
    read_search,
    run_search,
    write_search,
)
from tools.sweeping.search_report import report_search
from tools.sweeping.spec import (
    PROG,
    RUNS_DIR,
    SPEC_FILE,
    TUNE_DIR,
    Spec,
    build_spec,
    check_folder,
    read_spec,
    write_spec,
)
from tools.sweeping.study import Outcome, read_outcome, sweep_study
from training.checkpoints import write_json_atomic
from training.cli import PATH, Number
from training.config import RunConfig, setting_value

# The machinery lives in tools/sweeping; the tests take these names from here.
__all__ = [
    "ADDRESS_TIMEOUT", "EVALUATIONS", "EVALUATION_FILE", "MAX_FAILURES", "SPEC_FILE", "Spec",
    "build_spec", "main", "read_outcome", "read_spec", "run_trial", "write_json_atomic",
]  # fmt: skip
# A sweep started before the machinery moved, by a process that imported this module (not by
# `python tools/sweep.py`), names its trials with tools.sweep._trial_name in its Tune state
# (tune/tuner.pkl): its --resume needs the name here.
_trial_name = trial_name
DEFAULT_STORAGE = REPO_DIR / "sweeps"
DEFAULT_SEEDS = [0, 1, 2, 3, 4]
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


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
    _add_search_arguments(parser)
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


def _add_search_arguments(parser: argparse.ArgumentParser) -> None:
    search = parser.add_argument_group("search (instead of --grid)")
    search.add_argument(
        "--search", type=PATH, metavar="SPACE.yaml", default=None,
        help="search the settings of SPACE.yaml (setting: {choice: [...]}, {uniform: [lo, hi]}, "
        "{loguniform: [lo, hi]} or {randint: [lo, hi]}) with Optuna's sampler and ASHA: the "
        "objective is the mean over --seeds of min(training minutes to solve, T_cap); writes "
        "search.csv, search.png and best.yaml (a recipe)",
    )  # fmt: skip
    search.add_argument(
        "--samples", type=Number(int, 1), default=None, metavar="N",
        help="candidates the search tries (required with --search)",
    )  # fmt: skip
    search.add_argument(
        "--time_cap", type=Number(float, 0, low_open=True), default=None, metavar="MINUTES",
        help="T_cap: training minutes a seed may take before it counts as unsolved (default: "
        + ", ".join(f"{e.removesuffix('Environment')} {m:g}" for e, m in TIME_CAPS.items())
        + ")",
    )  # fmt: skip
    search.add_argument(
        "--check", type=Number(int, 0), default=None, metavar="EPISODES",
        help=f"a seed that solves counts as solved only if its final agent, frozen and "
        f"deterministic, then plays {CHECK_SHARE * 100:g} %% of EPISODES episodes to the cap "
        f"from starts perturbed by start noise {CHECK_NOISE:g} (or the run's, if larger), "
        f"and, trained with pushes, recovers {CHECK_PUSH_SHARE * 100:g} %% of pushes of that "
        f"strength (at most {CHECK_PUSH:g}) in as many more; 0: no check (default {DEFAULT_CHECK})",
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    return run(PROG, _main, argv)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    args.grid, args.set = args.grid or [], args.set or []
    if args.archive is not None:
        return _archive(args)
    if args.report is not None:
        return _report(args)
    searching = (args.search, args.samples, args.time_cap, args.check)
    if any(given is not None for given in searching):
        return _search(args)
    if args.resume and args.name and is_search(args.storage.expanduser() / args.name):
        return _search(args)
    sweep_dir, spec, address = _checked_sweep(args)
    if args.resume and all(read_outcome(sweep_dir, t).finished for t in spec.trials()):
        print(f"sweep {args.name}: every trial has finished, nothing to run", flush=True)
        _write_report(sweep_dir, spec, args.evaluate)
        return 0
    print(
        f"{'continuing' if args.resume else 'starting'} sweep {args.name}: "
        f"{len(spec.trials())} trials ({len(spec.settings())} settings x {len(spec.seeds)} "
        f"seeds) on {spec.env_name} -> {sweep_dir}",
        flush=True,
    )
    failed = _run_on_ray(
        "sweep", args, sweep_dir, address, lambda: write_spec(sweep_dir, spec),
        lambda pin: run_sweep(
            sweep_dir, spec, args.max_concurrent, args.cpus_per_trial, args.resume, pin
        ),
    )  # fmt: skip
    outcomes = _write_report(sweep_dir, spec, args.evaluate)
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


def _asks_for_a_sweep(args: argparse.Namespace) -> bool:
    return bool(args.env_name or args.recipe or args.seeds or args.grid or args.set)


def _archive(args: argparse.Namespace) -> int:
    if args.report or args.out is None or args.evaluate is not None:
        raise ToolError("--archive takes one sweep folder and --out (the new folder)")
    if args.name or args.resume or _asks_for_a_sweep(args):
        raise ToolError("--archive takes only a sweep folder and --out")
    archive_sweep(args.archive.expanduser().resolve(), args.out.expanduser().resolve())
    return 0


def _report(args: argparse.Namespace) -> int:
    if args.name or args.resume or _asks_for_a_sweep(args):
        raise ToolError("--report takes only sweep folders (and --out)")
    out = args.out.expanduser().resolve() if args.out is not None else None
    if len(args.report) == 1 and is_search(args.report[0].expanduser()):
        if args.evaluate is not None:
            raise ToolError("--evaluate goes with sweeps: run the best recipe's seeds as one")
        report_search(args.report[0].expanduser().resolve(), out)
        return 0
    report_sweeps([d.expanduser().resolve() for d in args.report], out, args.evaluate)
    return 0


def _checked_sweep(args: argparse.Namespace) -> tuple[Path, Spec, str | None]:
    """The sweep to run or continue, its folder and the cluster's address (None: this machine),
    every check passed before anything starts."""
    if args.out is not None:
        raise ToolError("--out goes with --report")
    if not args.name or not NAME_RE.match(args.name):
        raise ToolError("--name is required: letters, digits, '_', '.', '-' (a folder name)")
    sweep_dir = (args.storage.expanduser() / args.name).resolve()
    spec, configs = None, []
    if _asks_for_a_sweep(args):
        if not (args.env_name or args.recipe):
            raise ToolError("--env_name or --recipe is required with --seeds, --grid or --set")
        seeds = args.seeds or DEFAULT_SEEDS
        spec, configs = build_spec(args.env_name, seeds, args.grid, args.set, args.recipe)
    spec = check_folder(sweep_dir, spec, args.resume)
    address = _checked_address(args, configs)
    if args.resume and (args.max_concurrent is not None or args.cpus_per_trial != 1.0):
        if (sweep_dir / TUNE_DIR / "tuner.pkl").exists():
            warn(
                PROG, "--max_concurrent and --cpus_per_trial keep the values the sweep started with"
            )
    return sweep_dir, spec, address


def _search(args: argparse.Namespace) -> int:
    """Run or continue the search --name; its report at the end (and after an interruption)."""
    if args.grid or args.evaluate is not None or args.out is not None:
        raise ToolError("--search takes no --grid, --evaluate or --out (a report: --report DIR)")
    if not args.name or not NAME_RE.match(args.name):
        raise ToolError("--name is required: letters, digits, '_', '.', '-' (a folder name)")
    search_dir = (args.storage.expanduser() / args.name).resolve()
    spec = None
    if args.search is not None:
        if args.samples is None:
            raise ToolError("--search needs --samples N: the candidates to try")
        if not (args.env_name or args.recipe):
            raise ToolError("--env_name or --recipe is required with --search")
        seeds = args.seeds or DEFAULT_SEEDS
        spec = build_search(
            args.search, args.env_name, seeds, args.set, args.recipe, args.samples, args.time_cap,
            DEFAULT_CHECK if args.check is None else args.check,
        )  # fmt: skip
    elif not args.resume:
        raise ToolError("--samples, --time_cap and --check go with --search SPACE.yaml")
    recorded = read_search(search_dir) if is_search(search_dir) else None
    if args.resume:
        if recorded is None:
            raise ToolError(f"nothing to resume: {search_dir} holds no search")
        if spec is not None and spec != recorded:
            raise ToolError(f"{search_dir} holds a different search: --resume it as it started")
        spec = recorded
    elif search_dir.exists() and any(search_dir.iterdir()):
        raise ToolError(f"{search_dir} is not empty: continue it with --resume, or another --name")
    assert spec is not None
    address = _checked_address(args, [spec.first_config()])
    print(
        f"{'continuing' if args.resume else 'starting'} search {args.name}: {spec.samples} "
        f"candidates x {len(spec.seeds)} seeds on {spec.env_name}, T_cap {spec.time_cap:g} min "
        f"-> {search_dir}",
        flush=True,
    )
    failed = _run_on_ray(
        "search", args, search_dir, address, lambda: write_search(search_dir, spec),
        lambda pin: run_search(
            search_dir, spec, args.max_concurrent, args.cpus_per_trial, args.resume, pin
        ),
    )  # fmt: skip
    candidates = report_search(search_dir)
    unfinished = [c.key for c in candidates if not c.complete and not c.stopped_early]
    if unfinished or len(candidates) < spec.samples or failed:
        what = f"{len(candidates)} of {spec.samples} candidates started"
        what += f", {len(unfinished)} unfinished" if unfinished else ""
        warn(PROG, f"search unfinished ({what}): continue with --name {args.name} --resume")
        return 1 if failed else 130
    return 0


def _checked_address(args: argparse.Namespace, configs: Sequence[RunConfig]) -> str | None:
    """The cluster's address (None: this machine), checked to answer; or this machine checked
    to be able to run the trials `configs`."""
    address = args.address or os.environ.get("RAY_ADDRESS") or None
    if address:
        check_address(address)
    else:
        check_local_machine(configs, args.cpus_per_trial)
    return address


def _run_on_ray(
    what: str,
    args: argparse.Namespace,
    folder: Path,
    address: str | None,
    record: Callable[[], None],
    run_trials: Callable[[bool], int],
) -> int:
    """Start Ray, `record()` what is run (a new sweep or search), `run_trials(pin)`, stop Ray,
    say how long `what` ran; return how many trials failed for good. Local one-CPU trials pin
    themselves to a core."""
    started = time.perf_counter()
    try:
        print(f"Ray: {start_ray(address, args.cpus_per_trial)}", flush=True)
        (folder / RUNS_DIR).mkdir(parents=True, exist_ok=True)  # once Ray runs, not before
        if not args.resume:
            record()
        if threading.current_thread() is threading.main_thread():
            # Ray's own SIGTERM handler exits at once: stop as Ctrl-C stops instead (raised
            # here, not sent as SIGINT, which a driver started in the background ignores).
            signal.signal(signal.SIGTERM, signal.default_int_handler)
        return run_trials(not address and args.cpus_per_trial == 1.0)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the trials stay to --resume
        print("interrupted: stopping Ray", file=sys.stderr, flush=True)
        return 0
    finally:
        if "ray" in sys.modules:
            sys.modules["ray"].shutdown()
        print(f"{what} ran {(time.perf_counter() - started) / 60:.1f} min", flush=True)


def _write_report(sweep_dir: Path, spec: Spec, evaluate: int | None) -> list[Outcome]:
    """The sweep's report in its folder (and its evaluation, with --evaluate)."""
    study = sweep_study(sweep_dir, spec)
    outcomes = report(sweep_dir, study)
    if evaluate:
        evaluate_trials(sweep_dir, study, evaluate)
    return outcomes


if __name__ == "__main__":
    sys.exit(main())
