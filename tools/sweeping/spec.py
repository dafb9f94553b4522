"""What a sweep is: its trials (a setting of the swept keys times a seed), checked as main.py
checks its flags, recorded in sweep.json and compared with it on --resume."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools._common import ToolError
from training.checkpoints import write_json_atomic
from training.config import COMMAND_LINE, ConfigError, RunConfig, settings
from training.recipe import load_recipe

PROG = "sweep.py"
SPEC_FILE = "sweep.json"
RUNS_DIR = "runs"
TUNE_DIR = "tune"  # Ray Tune's experiment folder inside the sweep's
SPEC_FORMAT = 1
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
OWN_FLAGS = {"seed": "--seeds", "env_name": "--env_name", "recipe": "--recipe"}


@dataclass(frozen=True)
class Trial:
    """One run of the sweep: a setting (one value of each swept key) and a seed."""

    key: str  # the run folder's name: "policy_samples=1,seed=0"
    setting: str  # "policy_samples=1" ("all" when nothing is swept)
    seed: int
    values: dict[str, str]  # every setting the run is given (as on the command line)

    def config(self) -> RunConfig:
        return RunConfig.from_mapping(self.values, COMMAND_LINE)


def make_trial(env_name: str, fixed: dict[str, str], seed: int, chosen: dict[str, str]) -> Trial:
    """The run of `seed` with `chosen`, a value of each swept key in the grid's order (which
    names its run folder: "reward_scale=2,policy_samples=1,seed=0")."""
    label = ",".join(f"{k}={v}" for k, v in chosen.items())
    values = {"env_name": env_name, "seed": str(seed), **fixed, **chosen}
    key = f"{label},seed={seed}" if label else f"seed={seed}"
    return Trial(key, label or "all", seed, values)


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
        return [
            make_trial(self.env_name, self.fixed, seed, dict(combo))
            for seed in self.seeds
            for combo in combos
        ]

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


def as_typed(value: Any) -> str:
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
                canonical[key][text] = as_typed(getattr(config, key))
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
        fixed={k: as_typed(getattr(first, k)) for k in fixed},
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
    values = {k: as_typed(v) for k, v in recipe.settings.items() if k != "seed"}
    return {**values, "recipe": recipe.label}


def read_spec(sweep_dir: Path) -> Spec:
    path = sweep_dir / SPEC_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ToolError(f"{sweep_dir} holds no sweep ({SPEC_FILE} is missing)") from None
    except (OSError, UnicodeDecodeError, ValueError):
        raise ToolError(f"{path} is unreadable") from None
    return Spec.from_json(data, str(path))


def write_spec(sweep_dir: Path, spec: Spec) -> None:
    """sweep.json, its dicts in their order (the grid's keys name the trials)."""
    write_json_atomic(sweep_dir / SPEC_FILE, spec.to_json(), indent=2, sort_keys=False)


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


def is_sweep(folder: Path) -> bool:
    return (folder / SPEC_FILE).exists()
