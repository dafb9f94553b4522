"""Every setting of a training run, declared once.

`RunConfig` is the single home of a run's settings: each field carries its default, its help
text and its validity rule. The command line of `main.py` (training/train_cli.py), the checks on
every value (flags, recipes, `config.json`, sweep grids, Python callers), the agent's
construction (`agent_kwargs`), what a checkpoint records and what `--recover` restores
(`to_dict` / `from_mapping`) are all derived from the fields. Adding a setting is adding one
field.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent import AVERAGE_WARMUP
from training import cli
from training.cli import SEED_LIMIT, Number

# Environment switches of bolla rolla that a run passes to its constructor.
BOLLA_ROLLA_OPTIONS = ("upright", "relative_x")


class ConfigError(ValueError):
    """A setting that cannot be used; the message is one line naming the setting and the rule."""


@dataclass(frozen=True)
class Rule:
    """A validity rule: a test, the words that state it ("must be at least 1") and a value of
    the field's type that breaks it (for the tests and the documentation)."""

    test: Callable[[Any], bool]
    text: str
    breaking: Any
    choices: tuple[Any, ...] | None = None  # for --help, when the rule is a list of values
    number: Number | None = None  # the range, when the rule is one (the tools' types too)


def within(number: Number) -> Rule:
    """The rule of a number range (training/cli.py: the tools check theirs the same way)."""
    return Rule(number.test, number.text, number.outside(), number=number)


AT_LEAST_1 = within(Number(int, 1))
AT_LEAST_0 = within(Number(int, 0))
POSITIVE = within(Number(float, 0, low_open=True))
ZERO_TO_ONE = within(Number(float, 0, 1))
UNIT_INTERVAL = within(Number(float, 0, 1, low_open=True))
FINITE = within(Number(float))
OPTIONAL_FINITE = Rule(
    lambda v: v is None or FINITE.test(v), FINITE.text, float("inf"), number=FINITE.number
)
SEED = Rule(lambda v: v is None or cli.SEED.test(v), cli.SEED.text, SEED_LIMIT, number=cli.SEED)
SWITCH = Rule(lambda v: isinstance(v, bool), "must be true or false", "maybe")
RECIPE = Rule(
    lambda v: v is None or (isinstance(v, str) and bool(v.strip())),
    "must name a recipe (recipes/<name>.yaml) or a .yaml file",
    "",
)
ENVIRONMENT = Rule(
    lambda v: _environment_name(v) is not None,
    "must name an environment: cartpole, standing, bolla-rolla or an alias",
    "Nope",
)


def _environment_name(name: str) -> str | None:
    """The canonical name of an environment, None for a name no environment has."""
    from environment import resolve_environment_name

    try:
        return resolve_environment_name(name)
    except ValueError:
        return None


def one_of(*choices: Any) -> Rule:
    breaking = "none" if isinstance(choices[0], str) else max(choices) + 1
    words = " or ".join(str(c) for c in choices)
    return Rule(lambda v: v in choices, f"must be {words}", breaking, choices)


def setting(
    default: Any,
    help: str,
    rule: Rule,
    *,
    group: str = "run",
    resumable: bool = False,
    agent_arg: str | None = None,
    recorded_default: Any = None,
) -> Any:
    """A dataclass field of RunConfig with what the command line and the checks need.

    group: "run" or "agent" (agent settings are passed to SACAgent, as `agent_arg` if the
    agent names it differently); resumable: may change when a run is resumed;
    recorded_default: the value a recorded run whose config.json lacks the setting used, when
    that is not today's default (the default changed after the setting was added).
    """
    metadata = dict(help=help, rule=rule, group=group, resumable=resumable)
    metadata["recorded_default"] = recorded_default
    metadata["agent_arg"] = agent_arg or (None if group == "run" else "")
    return field(default=default, metadata=metadata)


@dataclass
class RunConfig:
    """The settings of one training run (defaults: the reference's)."""

    # ---- where the settings come from: recorded; RunConfig never reads the recipe's file (the
    # command lines apply it, training/recipe.py, and record its name or path here)
    recipe: str | None = setting(
        None, "take the settings of a recipe: a name in recipes/ (such as standing-robust) or "
        "a .yaml file; the flags given override them", RECIPE,
    )  # fmt: skip
    # ---- the task
    env_name: str = setting(
        "CartpoleEnvironment", "environment: cartpole, standing, bolla-rolla (or an alias)",
        ENVIRONMENT,
    )  # fmt: skip
    upright: bool = setting(
        False,
        "bolla rolla only: the episode also ends when the torso falls 32 px (stand, not sit)",
        SWITCH,
    )  # fmt: skip
    relative_x: bool = setting(
        False,
        "bolla rolla only: observe horizontal positions from the plank centre (the same "
        "observation wherever the scene has rolled to)",
        SWITCH,
    )  # fmt: skip
    max_steps: int = setting(400, "episode cap (a truncation)", AT_LEAST_1)
    start_noise: float = setting(
        0.0, "noise of the training episodes' start states (the environments' start_noise, "
        "0 to 10: x 100 px/s and rad/s)", within(cli.START_NOISE),
    )  # fmt: skip
    train_push: float = setting(
        0.0, "strength of random pushes during training episodes, 0 to 10 (1.0 = 100 px/s; "
        "0: none)", within(cli.PUSH),
    )  # fmt: skip
    train_push_every: int = setting(
        100, "steps between training pushes (the first at half of it)", AT_LEAST_1
    )
    push_uniform: bool = setting(
        False, "each training push draws its strength uniformly between 0 and --train_push (a "
        "mix of light and strong pushes) instead of pushing with exactly --train_push",
        SWITCH,
    )  # fmt: skip
    perturb_ramp: int = setting(
        0, "episodes over which --start_noise and --train_push grow linearly from 0 to their "
        "values (0: full from the first episode); solving counts only after the ramp",
        AT_LEAST_0,
    )  # fmt: skip
    ramp_by_success: bool = setting(
        False, "--perturb_ramp counts successes (training episodes that scored at least "
        "--solve_score) instead of episodes: the perturbations grow as the agent copes",
        SWITCH,
    )  # fmt: skip
    margin_penalty: float = setting(
        0.0, "learn from a reward that keeps away from the episode's limits: a surviving step "
        "earns 1 - w * mean(share of each termination limit used)^2 instead of 1 (scores and "
        "solving still count the environment's reward; 0: off)",
        ZERO_TO_ONE,
    )  # fmt: skip
    mirror: bool = setting(
        False, "also learn from every transition reflected left to right (every task is "
        "symmetric about the scene's centre line): two transitions per step, both sides of "
        "every push", SWITCH, group="agent", agent_arg="mirror_transitions",
    )  # fmt: skip
    symmetric_policy: bool = setting(
        False, "act with the left-right symmetric version of the policy (its action "
        "distribution averaged with the reflected one at the reflected state), in training, "
        "recording and every tool: a push to either side meets the same balance", SWITCH,
        group="agent",
    )  # fmt: skip
    act_averaged: bool = setting(
        False, "training episodes at the perturbations' full share (after --perturb_ramp) act "
        "with the averaged actor (sampled, as the actor would) once the agent has made "
        f"{AVERAGE_WARMUP} x --average_actor updates: the episodes that can solve the run are "
        "then played by the policy the run hands over", SWITCH, group="agent",
    )  # fmt: skip
    # ---- the run
    seed: int | None = setting(
        None, "random seed, 0 .. 2**32-1 (default: drawn and recorded)", SEED
    )
    n_games: int = setting(30000, "maximum number of episodes", AT_LEAST_1, resumable=True)
    solve_score: float = setting(395.0, "score that counts towards solving", FINITE)
    solve_count: int = setting(
        10, "consecutive episodes at --solve_score that solve the task and stop", AT_LEAST_1
    )
    update_every: int = setting(
        1, "run K updates in one compiled call after every K steps (1 = the reference)",
        AT_LEAST_1,
    )  # fmt: skip
    save_every: int = setting(500, "checkpoint every N episodes", AT_LEAST_1, resumable=True)
    keep_buffers: int = setting(
        2, "keep the replay buffers of the newest N checkpoints (weights are all kept)",
        AT_LEAST_1, resumable=True,
    )  # fmt: skip
    record_steps: int = setting(1600, "frames of the final recording", AT_LEAST_1, resumable=True)
    no_record: bool = setting(False, "skip the final recording", SWITCH, resumable=True)
    zoom: float = setting(
        1.0, "camera zoom of the final recording (1: the whole scene)",
        within(cli.ZOOM),
        resumable=True,
    )  # fmt: skip
    tf_threads: int = setting(
        0, "TensorFlow intra- and inter-op threads, 0 to 1024 (0: TensorFlow's default)",
        within(cli.TF_THREADS),
        resumable=True,  # runs repeat exactly across thread settings (measured)
    )  # fmt: skip
    no_progress: bool = setting(False, "no progress bar", SWITCH, resumable=True)
    tensorboard: bool = setting(
        False, "also write per-episode TensorBoard scalars into <run>/tensorboard",
        SWITCH, resumable=True,
    )  # fmt: skip
    # ---- the agent
    algo: str = setting(
        "sac1", "the update: sac1 (the reference's: a value network and its target), sac2 (no "
        "value network; target critics, the entropy term in the critics' target) or crossq "
        "(no target networks; batch-renormalised critics on the joint batch of (s, a) and "
        "(s', a'); Adam beta_1 0.5; see --policy_delay); pair sac2 and crossq with "
        "--learn_alpha and --reward_scale 1, as their papers do",
        one_of("sac1", "sac2", "crossq"), group="agent",
    )  # fmt: skip
    policy_delay: int = setting(
        1, "crossq: update the actor (and the temperature) every N critic updates (its "
        "paper: 3)", AT_LEAST_1, group="agent",
    )  # fmt: skip
    actor_lr: float = setting(3e-4, "actor learning rate (Adam)", POSITIVE, group="agent")
    critic_lr: float = setting(3e-4, "critics' learning rate", POSITIVE, group="agent")
    value_lr: float = setting(3e-4, "value network learning rate (sac1)", POSITIVE, group="agent")
    gamma: float = setting(0.99, "discount factor", UNIT_INTERVAL, group="agent")
    tau: float = setting(
        0.005, "Polyak rate of the target networks (sac1: the value's; sac2: the critics')",
        UNIT_INTERVAL, group="agent",
    )  # fmt: skip
    batch_size: int = setting(256, "minibatch size", AT_LEAST_1, group="agent")
    buffer_size: int = setting(
        1_000_000, "replay capacity", AT_LEAST_1, group="agent", agent_arg="max_size"
    )
    reward_scale: float = setting(
        2.0, "reward multiplier in the critics' target (the inverse entropy weight)",
        POSITIVE, group="agent",
    )  # fmt: skip
    layer1_size: int = setting(512, "first hidden layer width", AT_LEAST_1, group="agent")
    layer2_size: int = setting(256, "second hidden layer width", AT_LEAST_1, group="agent")
    policy_samples: int = setting(
        2, "sac1's policy samples per update: 2 (a second one for the actor loss, the "
        "reference's) or 1 (one for the value target and the actor loss)", one_of(1, 2),
        group="agent",
        recorded_default=1,  # runs recorded before this setting (or its default) used 1
    )  # fmt: skip
    learn_alpha: bool = setting(
        False, "learn the entropy temperature (towards --target_entropy)", SWITCH,
        group="agent",
    )  # fmt: skip
    target_entropy: float | None = setting(
        None, "the entropy a learned temperature aims at (default: -n_actions)",
        OPTIONAL_FINITE, group="agent",
    )  # fmt: skip
    alpha_lr: float = setting(3e-4, "temperature learning rate", POSITIVE, group="agent")
    average_actor: int = setting(
        0, "also keep a moving average of the actor's weights over about N updates and hand it "
        "over as the run's policy (recorded, evaluated, shipped; 0: off)", AT_LEAST_0,
        group="agent",
    )  # fmt: skip

    def __post_init__(self) -> None:
        self.validate()

    # ---- checks ------------------------------------------------------------------------------

    def validate(self) -> None:
        """Raise ConfigError (one line: the setting and its rule) unless every value is usable."""
        for f in dataclasses.fields(self):
            value = _convert(f, getattr(self, f.name))
            object.__setattr__(self, f.name, value)
            rule = f.metadata["rule"]
            if not rule.test(value):
                raise ConfigError(f"{f.name} {rule.text} (got {value!r})")
        self.env_name = _environment_name(self.env_name)
        for name in BOLLA_ROLLA_OPTIONS:
            if getattr(self, name) and self.env_name != "BollaRollaEnvironment":
                raise ConfigError(f"{name} applies to bolla-rolla only")
        if self.perturb_ramp and not (self.start_noise or self.train_push):
            raise ConfigError("perturb_ramp needs start_noise or train_push to grow")
        if self.push_uniform and not self.train_push:
            raise ConfigError("push_uniform needs a train_push to draw strengths up to")
        if self.ramp_by_success and not self.perturb_ramp:
            raise ConfigError("ramp_by_success needs a perturb_ramp to count successes for")
        if self.act_averaged and not self.average_actor:
            raise ConfigError("act_averaged needs an average_actor to act with")
        if self.policy_delay != 1 and self.algo != "crossq":
            raise ConfigError("policy_delay applies to --algo crossq only")
        if self.batch_size > self.buffer_size:
            raise ConfigError("batch_size cannot exceed buffer_size")

    # ---- conversions -------------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str = "settings") -> RunConfig:
        """A validated config from a mapping (config.json, a sweep's grid, Python keywords).

        Strings are parsed as on the command line; settings missing from `values` take their
        defaults (a run written before a setting existed). Unknown keys and values that break a
        rule raise ConfigError naming `source` (with source "command line": naming the flag).
        """
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key in RECORDED_ONLY:
                continue
            if key not in known:
                raise ConfigError(_unknown(source, key))
            kwargs[key] = value
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(_sourced(source, str(exc))) from None

    @classmethod
    def from_record(cls, values: Mapping[str, Any], source: str) -> RunConfig:
        """A recorded run's config (config.json, a checkpoint's manifest): like `from_mapping`,
        but a setting the record lacks takes the value runs used before it was recorded."""
        missing = {
            f.name: f.metadata["recorded_default"]
            for f in dataclasses.fields(cls)
            if f.name not in values and f.metadata["recorded_default"] is not None
        }
        return cls.from_mapping({**values, **missing}, source)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def task_name(self) -> str:
        """What plots call the run: the environment and the options that change its task."""
        return f"SAC on {self.env_name}" + (" (upright)" if self.upright else "")

    def agent_kwargs(self) -> dict[str, Any]:
        """The agent settings as SACAgent's keyword arguments."""
        return {
            f.metadata["agent_arg"] or f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.metadata["group"] == "agent"
        }

    def environment_kwargs(self) -> dict[str, Any]:
        """The environment's constructor arguments the run fixes (training episodes)."""
        kwargs: dict[str, Any] = {"max_episode_steps": self.max_steps}
        for name in BOLLA_ROLLA_OPTIONS:
            if getattr(self, name):
                kwargs[name] = True
        return kwargs


# Keys a config.json holds beside the settings, for information only.
RECORDED_ONLY = ("save_dir",)


def _unknown(source: str, key: str) -> str:
    if source == COMMAND_LINE:
        return f"unknown setting --{key} (python main.py --help lists them)"
    return f"{source}: unknown setting {key!r}"


def _sourced(source: str, message: str) -> str:
    return f"--{message}" if source == COMMAND_LINE else f"{source}: {message}"


COMMAND_LINE = "command line"


def settings(config_class: type[RunConfig] = RunConfig) -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(config_class)


def resumable_settings(config_class: type[RunConfig] = RunConfig) -> set[str]:
    return {f.name for f in settings(config_class) if f.metadata["resumable"]}


def _type_name(f: dataclasses.Field) -> str:
    """The kind of a setting: int, float, bool or str (annotations may be strings or types)."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return kind.replace(" | None", "")


def _convert(f: dataclasses.Field, value: Any) -> Any:
    """`value` as the field's type; strings are parsed as on the command line."""
    kind = _type_name(f)
    if "None" in str(f.type) and (
        value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null"))
    ):
        return None  # also as typed ("None", a value a sweep records) or as JSON spells it
    if kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{f.name} must be true or false (got {value!r})")
    if kind in ("int", "float"):
        return _number(f.name, value, int if kind == "int" else float)
    if not isinstance(value, str):
        raise ConfigError(f"{f.name} must be a string (got {value!r})")
    return value


def _number(name: str, value: Any, kind: type) -> int | float:
    """`value` as an int or a float; a string is parsed, a float becomes an int only if whole."""
    words = "a whole number" if kind is int else "a number"
    if isinstance(value, str):
        try:
            return kind(value.strip())
        except ValueError:
            pass
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int) or (isinstance(value, float) and kind is float):
        return kind(value)
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    raise ConfigError(f"{name} must be {words} (got {value!r})")


# ---- the command line --------------------------------------------------------------------------


def add_setting_arguments(
    parser: argparse.ArgumentParser, config_class: type[RunConfig] = RunConfig
) -> None:
    """One flag per setting, in two groups, typed and with its default in --help.

    Values are kept as strings (or True for switches) and checked by RunConfig, so a flag, a
    config.json value and a sweep value pass the same checks.
    """
    groups = {
        "run": parser.add_argument_group("run settings (recorded in config.json)"),
        "agent": parser.add_argument_group("agent settings (recorded in config.json)"),
    }
    for f in settings(config_class):
        group = groups[f.metadata["group"]]
        help_text = f.metadata["help"] + (
            " [may change on --recover]" if f.metadata["resumable"] else ""
        )
        if _type_name(f) == "bool":
            group.add_argument(
                f"--{f.name}", action="store_true", default=f.default, help=help_text
            )
            continue
        metavar = {"int": "N", "float": "X", "str": "NAME"}[_type_name(f)]
        if f.metadata["rule"].choices:
            metavar = "{" + ",".join(str(c) for c in f.metadata["rule"].choices) + "}"
        group.add_argument(f"--{f.name}", default=f.default, metavar=metavar, help=help_text)


@dataclass(frozen=True)
class SettingValue:
    """An argparse type for a value of one setting given through another option (sweep.py's
    --seeds are seeds): converted and checked by the setting's own rule, the error naming the
    setting as main.py would ("--seed must lie in 0 .. 4294967295 (got -1)")."""

    field: dataclasses.Field

    @property
    def rule(self) -> Rule:
        return self.field.metadata["rule"]

    def __call__(self, text: str) -> Any:
        try:
            value = _convert(self.field, text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(f"--{exc}") from None
        if not self.rule.test(value):
            raise argparse.ArgumentTypeError(
                f"--{self.field.name} {self.rule.text} (got {value!r})"
            )
        return value


def setting_value(name: str, config_class: type[RunConfig] = RunConfig) -> SettingValue:
    (found,) = (f for f in settings(config_class) if f.name == name)
    return SettingValue(found)


def flag_table(parser: argparse.ArgumentParser | None = None) -> str:
    """The flags of `parser` (default: main.py's) as a Markdown table: flag, default, meaning.

    The README's flag table is this output (tests/test_readme.py checks that every flag of
    main.py has a row there):

        python -c "from training.config import flag_table; print(flag_table(), end='')"
    """
    if parser is None:
        from training.train_cli import build_parser

        parser = build_parser()
    rows = ["| flag | default | meaning |", "|---|---|---|"]
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        flag = max(action.option_strings, key=len)
        meaning = action.help or ""
        for special in "\\|*<":  # Markdown would read these as markup
            meaning = meaning.replace(special, "\\" + special)
        rows.append(f"| `{flag}` | {_shown_default(action)} | {meaning} |")
    return "\n".join(rows) + "\n"


def _shown_default(action: argparse.Action) -> str:
    default = action.default
    if isinstance(action, argparse._StoreTrueAction):
        return "on" if default else "off"
    if default is None:
        return "-"
    if isinstance(default, int):
        return f"{default:,}"
    if isinstance(default, float):
        return f"{default:g}"
    return str(default)


def memory_parts(config: RunConfig) -> dict[str, int]:
    """Bytes a run holds at most, by the settings that size them: the full replay buffer, the
    networks with Adam's state, and the update_every batches one learning call samples."""
    from environment import ENVIRONMENT_CLASSES

    env_class = ENVIRONMENT_CLASSES[config.env_name]
    n_obs, n_act = env_class.state_size, env_class.action_size
    transition = 4 * (2 * n_obs + n_act + 1) + 1  # float32 s, s', a, r and a bool
    l1, l2 = config.layer1_size, config.layer2_size
    hidden = l1 * l2 + l1 + l2 * 2 + 1
    parameters = (n_obs + 1) * l1 + hidden + l2 * 2 * n_act  # the actor
    parameters += 2 * ((n_obs + n_act + 1) * l1 + hidden)  # two critics
    if config.algo == "sac1":
        parameters += 2 * ((n_obs + 1) * l1 + hidden)  # value and target value
    elif config.algo == "sac2":
        parameters += 2 * ((n_obs + n_act + 1) * l1 + hidden)  # two target critics
    # 4 bytes each, times 3 for the Adam moments; the buffer is also written to disk when saved.
    return {
        f"buffer_size {config.buffer_size}": config.buffer_size * transition,
        f"layer1_size {l1} and layer2_size {l2}": 12 * parameters,
        f"update_every {config.update_every}": config.update_every * config.batch_size * transition,
    }


def memory_estimate(config: RunConfig) -> int:
    """Bytes a run holds at most (`memory_parts`, added up)."""
    return sum(memory_parts(config).values())


def available_memory() -> int | None:
    """Bytes this machine can still give a process (MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def check_fits_in_memory(config: RunConfig) -> None:
    """ConfigError, naming the setting that weighs most, when the run could not hold its buffer,
    networks and batches in this machine's memory."""
    parts = memory_parts(config)
    need, have = sum(parts.values()), available_memory()
    if have is not None and need > have:
        largest = max(parts, key=parts.__getitem__)
        raise ConfigError(
            f"{largest} needs about {need / 2**30:.1f} GiB for the replay buffer, networks and "
            f"batches, more than the {have / 2**30:.1f} GiB this machine has free"
        )
