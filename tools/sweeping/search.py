"""A hyperparameter search on Ray Tune (`sweep.py --search SPACE.yaml --samples N`).

The space file maps settings of main.py to distributions:

    actor_lr: {loguniform: [1.0e-4, 3.0e-3]}
    layer1_size: {choice: [64, 128, 256]}
    tau: {uniform: [0.005, 0.05]}
    update_every: {randint: [1, 4]}       # whole numbers 1 to 4, both included
    policy_delay: {choice: [1, 3], when: {algo: crossq}}

An entry with `when` applies only to the candidates whose settings have those values (a value,
or a list of the values it applies with); the others run without it (the setting's base value)
and do not differ by it: their folder, their row in search.csv and best.yaml leave it out.

Optuna's TPE sampler (through Tune's OptunaSearch) proposes the candidates: each a value of
every setting of the space, over the search's base settings (--recipe, --set). A candidate is
one Tune trial that trains every given seed in turn, each an ordinary run folder
runs/<candidate>,seed=<N>/, stopped at the time cap (T_cap: training-loop minutes per seed).
Its objective, to minimise, is the mean over its seeds of min(minutes to the solved rule,
T_cap); a seed that does not solve, or that a stopped candidate never finished, counts T_cap,
and so does a seed whose final agent fails the final check (CHECK_FILE, below).
ASHA (Tune's ASHAScheduler) stops the candidates whose progress lags at the same training time:
progress is the seeds solved so far plus the running seed's 100-episode average over the solve
score, so a candidate falls behind by solving later or by its average lagging.

ASHA records the candidates it stops (tools/sweeping/asha.py: stopped.txt). Trials pin
themselves each to a core of their own (tools/sweeping/pinning.py). Tune's experiment
(tune/, with Optuna's state) resumes after Ctrl-C or a SIGKILL of the driver; a candidate that
was running continues its seeds from their checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from tools._common import ToolError
from tools.sweeping.spec import PROG, RUNS_DIR, as_typed, build_spec
from training.checkpoints import write_json_atomic
from training.config import COMMAND_LINE, ConfigError, RunConfig, settings

SEARCH_FILE = "search.json"
STOPPED_FILE = "stopped.txt"  # the candidates ASHA stopped (tools/sweeping/asha.py)
SEARCH_FORMAT = 1
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")
WHEN = "when"  # an entry's condition: {setting: [values it applies with]}
# T_cap, training-loop minutes per seed, by environment (--time_cap overrides): about twice
# what the reference settings take on a seed that solves late.
TIME_CAPS = {
    "CartpoleEnvironment": 6.0,
    "HumanoidStandingEnvironment": 6.0,
    "BollaRollaEnvironment": 60.0,
}
# The final check (--check N): a seed that solves counts as solved only when its final agent,
# frozen and acting deterministically, plays at least CHECK_SHARE of N episodes to the cap from
# starts perturbed by start noise max(the run's, CHECK_NOISE): a run can meet the solved rule
# with a policy that only works while it is still learning. A run trained with pushes
# (train_push > 0) must also recover CHECK_PUSH_SHARE of the pushes of that strength, or of
# CHECK_PUSH if it trained on stronger ones, in N more episodes (tools/evaluate.py's push test,
# from start noise CHECK_NOISE): robustness is what such a recipe is for, and a fast candidate
# that gives it up would otherwise win. (The cap keeps one bar for a search over the training
# pushes: the robust recipes are measured at pushes of 1.0.)
CHECK_FILE = "final_check.json"
CHECK_NOISE = 0.05
CHECK_SHARE = 0.95
CHECK_PUSH_SHARE = 0.85
CHECK_PUSH = 1.0
CHECK_SEED = 0
DEFAULT_CHECK = 20
GRACE_SHARE = 0.25  # ASHA's first rung: a quarter of T_cap into the first seed
REDUCTION_FACTOR = 3  # ASHA keeps the best third at each rung
NOT_SEARCHED = ("seed", "env_name", "recipe")


@dataclass
class SearchSpec:
    """What a search runs; recorded in search.json and compared on --resume."""

    env_name: str
    seeds: list[int]
    fixed: dict[str, str]  # the base settings (recipe, --set, the sweep defaults)
    space: dict[str, dict[str, list[Any]]]  # setting -> {distribution: arguments}
    samples: int
    time_cap: float  # minutes per seed
    check: int = 0  # the final check's episodes (0: none, as in searches recorded before it)

    def candidate_key(self, values: dict[str, str]) -> str:
        """A candidate's name: its values' digest (the same values, the same folder)."""
        text = json.dumps({k: values[k] for k in sorted(values)})
        return "c" + hashlib.sha1(text.encode()).hexdigest()[:10]

    def applicable(self, chosen: dict[str, str]) -> dict[str, str]:
        """The sampled values that apply: without those whose `when` the candidate fails."""
        base = {**{f.name: as_typed(f.default) for f in settings()}, **self.fixed, **chosen}
        return {
            k: v
            for k, v in chosen.items()
            if all(base[name] in values for name, values in self.space[k].get(WHEN, {}).items())
        }

    def values(self, chosen: dict[str, str], seed: int) -> dict[str, str]:
        """Every setting of a candidate's run of `seed` (as on the command line)."""
        return {"env_name": self.env_name, **self.fixed, **chosen, "seed": str(seed)}

    def config(self, chosen: dict[str, str], seed: int) -> RunConfig:
        return RunConfig.from_mapping(self.values(chosen, seed), COMMAND_LINE)

    def first_config(self) -> RunConfig:
        """A run the search makes: each setting's first value (a range's low end). Not the base
        alone: a recipe's settings can need a searched one (act_averaged an average_actor)."""
        first = {k: as_typed(distribution(entry)[1][0]) for k, entry in self.space.items()}
        return self.config(self.applicable(first), self.seeds[0])

    def to_json(self) -> dict[str, Any]:
        return {"format": SEARCH_FORMAT, **asdict(self)}


def build_search(
    space_path: Path,
    env_name: str | None,
    seeds: list[int],
    set_items: list[str],
    recipe: str | None,
    samples: int,
    time_cap: float | None,
    check: int = DEFAULT_CHECK,
) -> SearchSpec:
    """The search, every candidate it could propose checked as main.py checks its flags (the
    base settings, each choice and both ends of each range)."""
    base, _ = build_spec(env_name, seeds, [], set_items, recipe)
    space = read_space(space_path)
    given = sorted(space.keys() & base.fixed.keys() - _defaults_only(base.fixed, set_items))
    if given:
        raise ToolError(f"{given[0]} is both searched ({space_path.name}) and fixed (--set)")
    spec = SearchSpec(
        env_name=base.env_name,
        seeds=list(seeds),
        fixed={k: v for k, v in base.fixed.items() if k not in space},
        space=space,
        samples=samples,
        time_cap=time_cap if time_cap is not None else TIME_CAPS[base.env_name],
        check=check,
    )
    # Each value over the base (a recipe's values of the other searched settings included).
    over_base = SearchSpec(spec.env_name, spec.seeds, base.fixed, space, samples, spec.time_cap)
    for key, entry in space.items():
        kind, arguments = distribution(entry)
        when = {k: values[0] for k, values in entry.get(WHEN, {}).items()}
        for value in arguments:
            try:
                over_base.config({**when, key: as_typed(value)}, seeds[0])
            except ConfigError as exc:
                raise ToolError(f"{space_path.name}: {kind} of {exc}") from None
    return spec


def _defaults_only(fixed: dict[str, str], set_items: list[str]) -> set[str]:
    """Base settings the user did not --set (a recipe's or the sweep's defaults): searching
    one of them overrides it."""
    named = {item.partition("=")[0].strip().lstrip("-") for item in set_items}
    return {k for k in fixed if k not in named}


def read_space(path: Path) -> dict[str, dict[str, list[Any]]]:
    """The space file as {setting: {distribution: arguments}}; ToolError in one line naming
    the file and the entry that cannot be searched."""
    try:
        data = yaml.safe_load(path.expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ToolError(f"--search: {path} does not exist") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ToolError(f"--search: cannot read {path} ({reason})") from None
    if not isinstance(data, dict) or not data:
        raise ToolError(f"{path.name}: expected settings, each mapped to a distribution")
    known = {f.name: f for f in settings()}
    space = {}
    for key, entry in data.items():
        where = f"{path.name}: {key}"
        if key not in known or key in NOT_SEARCHED:
            raise ToolError(f"{where}: not a setting a search can vary (main.py --help)")
        entry = dict(entry) if isinstance(entry, dict) else None
        when = None
        if entry is not None and WHEN in entry:
            when = _read_when(where, entry.pop(WHEN), key, known)
        if not (isinstance(entry, dict) and len(entry) == 1):
            raise ToolError(
                f"{where}: expected one of {{{', '.join(DISTRIBUTIONS)}: [...]}}, and "
                f"optionally {WHEN}: {{setting: value}}"
            )
        kind, arguments = next(iter(entry.items()))
        if kind not in DISTRIBUTIONS:
            raise ToolError(f"{where}: unknown distribution {kind!r} ({', '.join(DISTRIBUTIONS)})")
        if not isinstance(arguments, list) or not arguments:
            raise ToolError(f"{where}: {kind} takes a list")
        if kind == "choice":
            if len(set(map(str, arguments))) != len(arguments):
                raise ToolError(f"{where}: choice repeats a value")
        else:
            _check_range(where, kind, arguments, known[key])
        space[str(key)] = {kind: arguments, **({WHEN: when} if when else {})}
    return space


def _read_when(where: str, when: Any, key: str, known: dict[str, Any]) -> dict[str, list[str]]:
    """An entry's `when` as {setting: [values as typed]}."""
    if not isinstance(when, dict) or not when:
        raise ToolError(f"{where}: {WHEN} takes {{setting: value or [values]}}")
    out = {}
    for name, values in when.items():
        if name not in known or name == key:
            raise ToolError(f"{where}: {WHEN}: {name} is not another setting")
        values = values if isinstance(values, list) else [values]
        if not values:
            raise ToolError(f"{where}: {WHEN}: {name} takes a value or a list of values")
        out[str(name)] = [as_typed(v) for v in values]
    return out


def distribution(entry: dict[str, Any]) -> tuple[str, list[Any]]:
    """An entry's (distribution, arguments), without its condition."""
    return next((k, v) for k, v in entry.items() if k != WHEN)


def _check_range(where: str, kind: str, bounds: list[Any], field: Any) -> None:
    def number(value: Any) -> bool:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok and math.isfinite(value)

    if len(bounds) != 2 or not all(number(b) for b in bounds) or not bounds[0] < bounds[1]:
        raise ToolError(f"{where}: {kind} takes [low, high] with low < high")
    if kind == "loguniform" and bounds[0] <= 0:
        raise ToolError(f"{where}: loguniform needs low > 0")
    if kind == "randint" and not all(isinstance(b, int) for b in bounds):
        raise ToolError(f"{where}: randint takes whole numbers")
    if kind != "randint" and "float" not in str(field.type):
        raise ToolError(f"{where}: a whole-number setting: use randint or choice")


def tune_space(space: dict[str, dict[str, list[Any]]]) -> dict[str, Any]:
    """The space as Tune's distributions (randint's high end included)."""
    from ray import tune

    made = {}
    for key, entry in space.items():
        kind, arguments = distribution(entry)
        if kind == "choice":
            made[key] = tune.choice(arguments)
        elif kind == "randint":
            made[key] = tune.randint(arguments[0], arguments[1] + 1)
        else:
            made[key] = getattr(tune, kind)(*arguments)
    return made


def write_search(search_dir: Path, spec: SearchSpec) -> None:
    search_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(search_dir / SEARCH_FILE, spec.to_json())


def read_search(search_dir: Path) -> SearchSpec:
    path = search_dir / SEARCH_FILE
    try:
        data = json.loads(path.read_text())
        if data.pop("format") != SEARCH_FORMAT:
            raise ValueError
        return SearchSpec(**data)
    except FileNotFoundError:
        raise ToolError(f"{search_dir} holds no search ({SEARCH_FILE})") from None
    except (OSError, ValueError, TypeError, KeyError):
        raise ToolError(f"{path} is not a search description written by {PROG}") from None


def is_search(folder: Path) -> bool:
    return (folder / SEARCH_FILE).is_file()


# ---- a candidate: a Tune trial ---------------------------------------------------------------


def candidate_values(config: dict[str, Any], spec: SearchSpec) -> dict[str, str]:
    """A Tune trial's sampled values that apply, as they would be typed."""
    return spec.applicable({k: as_typed(v) for k, v in config["search"].items()})


def run_candidate(config: dict[str, Any]) -> None:
    """Ray Tune's trainable: the candidate's seeds one after another, each continued from its
    own newest checkpoint and stopped at T_cap; every episode reported (`progress` for ASHA,
    `objective` for Optuna, `minutes` of training so far)."""
    from tools.sweeping.pinning import pin_to_a_free_core
    from tools.sweeping.runner import _Reporter
    from tools.sweeping.study import record_peak_memory
    from training import EpisodeReport, StopTraining, train
    from training import checkpoints as ckpt

    search_dir = Path(config["search_dir"])
    spec = read_search(search_dir)
    if config.get("pin"):
        pin_to_a_free_core()
    values = candidate_values(config, spec)
    key = spec.candidate_key(values)
    cap = spec.time_cap * 60.0
    ended: list[tuple[bool, float]] = []  # per seed done: solved, seconds (capped)
    reporter = _Reporter()  # from a thread of its own: training does not wait for Tune

    def metrics(solved_now: int, seconds: float, fraction: float, episodes: int) -> dict:
        spent = sum(min(s, cap) for _, s in ended)
        minutes = [(solved, s / 60.0) for solved, s in ended]
        return {
            "minutes": (spent + min(seconds, cap)) / 60.0,
            "progress": solved_now + fraction,
            "objective": objective(minutes, len(spec.seeds), spec.time_cap),
            "seeds_done": len(ended),
            "episodes": episodes,
        }

    for seed in spec.seeds:
        run_dir = search_dir / RUNS_DIR / f"{key},seed={seed}"
        solved_before = sum(s for s, _ in ended)
        state = _seed_state(run_dir, spec.time_cap)
        if state is None:
            run_config = spec.config(values, seed)

            def report(
                r: EpisodeReport,
                run_config: RunConfig = run_config,
                solved_before: int = solved_before,
            ) -> None:
                fraction = 1.0 if r.solved else min(r.avg_score / run_config.solve_score, 1.0)
                reporter(metrics(solved_before, r.wall_time, max(fraction, 0.0), r.episode))
                if r.wall_time >= cap and not r.solved:
                    raise StopTraining

            fresh = not ckpt.has_checkpoint_files(run_dir)  # a killed start begins again
            train(
                spec.values(values, seed), run_dir, callbacks=[report], recover="auto",
                overwrite=fresh, log=print, warn=lambda m: print(m, file=sys.stderr, flush=True),
            )  # fmt: skip
            record_peak_memory(run_dir)
            state = _seed_state(run_dir, spec.time_cap)
        if state is not None and state[0] and spec.check and read_check(run_dir) is None:
            final_check(run_dir, spec.check)
        state = checked(run_dir, state, spec.check)
        if state is None:  # ended without a verdict (out of episodes): counts T_cap
            state = (False, cap)
        ended.append(state)
    reporter({**metrics(sum(s for s, _ in ended), 0.0, 0.0, 0), "complete": True})
    reporter.close()


def objective(ended: Sequence[tuple[bool, float]], seeds: int, time_cap: float) -> float:
    """The search's objective: the mean over `seeds` seeds of min(minutes to solve, T_cap),
    from (solved, minutes) of the seeds that ended; T_cap for a seed not solved, and for each
    seed that did not end (a candidate stopped early)."""
    counted = [min(m, time_cap) if solved else time_cap for solved, m in ended]
    return (sum(counted) + time_cap * (seeds - len(counted))) / seeds


def _seed_state(run_dir: Path, time_cap: float) -> tuple[bool, float] | None:
    """(solved, training seconds) of a seed's run that has ended: solved, out of episodes, or
    stopped at the time cap; None while it can go on."""
    from tools.sweeping.spec import Trial
    from tools.sweeping.study import read_run

    if not (run_dir / "config.json").exists():
        return None
    outcome = read_run(run_dir, Trial(run_dir.name, "", 0, {}), run_dir.name)
    if outcome.finished:
        return outcome.solved, outcome.wall_time
    if outcome.wall_time >= time_cap * 60.0:
        return False, outcome.wall_time
    return None


def final_check(run_dir: Path, episodes: int) -> dict[str, Any]:
    """Play the run's final agent (tools/evaluate.py's evaluation) and keep the verdict in the
    run folder (CHECK_FILE)."""
    from tools.evaluate import evaluate
    from training.policy import load_policy

    policy = load_policy(run_dir)
    noise = max(float(policy.config.get("start_noise", 0.0)), CHECK_NOISE)
    full = evaluate(policy, episodes, noise, seed=CHECK_SEED)["full_episodes"]
    result: dict[str, Any] = {
        "episodes": episodes,
        "full": full,
        "start_noise": noise,
        "passed": _at_least(CHECK_SHARE, full, episodes),
    }
    push = min(float(policy.config.get("train_push", 0.0) or 0.0), CHECK_PUSH)
    if push > 0:
        pushed = evaluate(policy, episodes, CHECK_NOISE, seed=CHECK_SEED, push=push)
        result.update(push=push, pushes=pushed["pushes"], recovered=pushed["recovered"])
        enough = _at_least(CHECK_PUSH_SHARE, pushed["recovered"], pushed["pushes"])
        result["passed"] = result["passed"] and enough
    write_json_atomic(run_dir / CHECK_FILE, result)
    return result


def _at_least(share: float, count: int, total: int) -> bool:
    """Whether `count` of `total` reaches `share` of it (rounded up: 95 % of 20 is 19)."""
    return count >= math.ceil(share * total - 1e-9)


def read_check(run_dir: Path) -> dict[str, Any] | None:
    try:
        result = json.loads((run_dir / CHECK_FILE).read_text())
        return result if isinstance(result, dict) and "passed" in result else None
    except (OSError, ValueError):
        return None


def checked(run_dir: Path, state: tuple[bool, float] | None, check: int
            ) -> tuple[bool, float] | None:  # fmt: skip
    """A seed's (solved, seconds) with the final check applied: a solved seed whose agent
    failed it is not solved; one not checked yet has no verdict (None)."""
    if state is None or not state[0] or not check:
        return state
    result = read_check(run_dir)
    return None if result is None else (bool(result["passed"]), state[1])


def proposer() -> Any:
    """The search's proposer: Optuna's TPE sampler through Tune, seeded, so the same space and
    base propose the same candidates in the same order (its first ones drawn at random)."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return OptunaSearch(metric="objective", mode="min", sampler=optuna.samplers.TPESampler(seed=0))


def run_search(search_dir: Path, spec: SearchSpec, max_concurrent: int | None,
               cpus_per_trial: float, resume: bool, pin: bool) -> int:  # fmt: skip
    """Run (or continue) the search through Ray Tune; return how many trials failed."""
    from ray import tune

    from tools.sweeping.asha import RecordingASHA
    from tools.sweeping.runner import REPORT_EVERY, experiment_config, fit_experiment

    # A candidate resumed from its checkpoint reports again the steps it had reported; Optuna
    # keeps the first value of each step and would warn once per repeat.
    warnings.filterwarnings("ignore", message="The reported value is ignored", category=UserWarning)
    trainable = tune.with_resources(run_candidate, {"cpu": cpus_per_trial})
    cap = spec.time_cap
    return fit_experiment(search_dir, trainable, resume, lambda: tune.Tuner(
        trainable,
        param_space={"search": tune_space(spec.space), "search_dir": str(search_dir), "pin": pin},
        tune_config=tune.TuneConfig(
            search_alg=proposer(),
            scheduler=RecordingASHA(
                str(search_dir), time_attr="minutes", metric="progress", mode="max",
                max_t=cap * len(spec.seeds), grace_period=cap * GRACE_SHARE,
                reduction_factor=REDUCTION_FACTOR,
            ),
            num_samples=spec.samples,
            max_concurrent_trials=max_concurrent,
            reuse_actors=False,
            trial_name_creator=candidate_name,
            trial_dirname_creator=candidate_name,
        ),
        run_config=experiment_config(search_dir, tune.CLIReporter(
            metric_columns={"minutes": "minutes", "objective": "objective"},
            max_report_frequency=REPORT_EVERY,
        )),
    ))  # fmt: skip


def candidate_name(trial: Any) -> str:
    """A Tune trial's name and folder: its candidate's key. tune/tuner.pkl refers to this
    function by its module and name: keep both."""
    spec = read_search(Path(trial.config["search_dir"]))
    return spec.candidate_key(candidate_values(trial.config, spec))
