"""training/config.py: every setting of a run declared once, and everything derived from it."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
from pathlib import Path

import pytest

from agent.agent import SACAgent
from training import train_cli
from training.config import (
    AT_LEAST_1,
    COMMAND_LINE,
    SEED_LIMIT,
    ConfigError,
    RunConfig,
    add_setting_arguments,
    check_fits_in_memory,
    flag_table,
    memory_estimate,
    resumable_settings,
    setting,
    settings,
)
from training.runs import load_config

FIELDS = settings()


def test_every_setting_has_help_and_a_rule_that_refuses_what_it_says():
    """Each rule carries a value that breaks it; that value is refused in one line naming the
    setting, the rule and the value (the defaults, of course, pass)."""
    RunConfig()  # the defaults are valid
    for f in FIELDS:
        rule = f.metadata["rule"]
        assert f.metadata["help"].strip(), f.name
        assert rule.text.startswith("must "), f.name
        assert rule.test(getattr(RunConfig(), f.name)), f.name
        with pytest.raises(ConfigError) as error:
            RunConfig.from_mapping({f.name: rule.breaking}, "sweep.json")
        assert str(error.value) == f"sweep.json: {f.name} {rule.text} (got {rule.breaking!r})"


def test_strings_are_parsed_as_on_the_command_line():
    config = RunConfig.from_mapping(
        {"n_games": " 12 ", "gamma": "0.5", "learn_alpha": "true", "seed": "7"}
    )
    assert (config.n_games, config.gamma, config.learn_alpha, config.seed) == (12, 0.5, True, 7)
    assert RunConfig.from_mapping({"no_record": "no", "n_games": 40.0}).no_record is False
    assert RunConfig.from_mapping({"env_name": "Balance-Ball"}).env_name == "BollaRollaEnvironment"
    assert RunConfig.from_mapping({"seed": None}).seed is None


def test_missing_settings_take_their_defaults():
    """A config.json written before a setting existed still loads; runs recorded before
    --policy_samples (or before its default became 2) used one sample."""
    old = {"env_name": "standing", "seed": 3, "n_games": 50}
    config = RunConfig.from_record(old, "config.json")
    assert config.env_name == "HumanoidStandingEnvironment" and config.n_games == 50
    assert config.policy_samples == 1 and config.train_push == 0.0
    assert RunConfig.from_mapping(old).policy_samples == 2 == RunConfig().policy_samples
    shipped = (
        Path(__file__).resolve().parents[1] / "results" / "policy-samples-1" / "standing-seed0"
    )
    assert "policy_samples" not in json.loads((shipped / "config.json").read_text())
    assert load_config(shipped)["policy_samples"] == 1


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"gamma": "abc"}, "run/config.json: gamma must be a number (got 'abc')"),
        ({"n_games": "many"}, "run/config.json: n_games must be a whole number (got 'many')"),
        ({"n_games": True}, "run/config.json: n_games must be a whole number (got True)"),
        ({"n_games": 2.5}, "run/config.json: n_games must be a whole number (got 2.5)"),
        ({"learn_alpha": 1.0}, "run/config.json: learn_alpha must be true or false (got 1.0)"),
        ({"env_name": 3}, "run/config.json: env_name must be a string (got 3)"),
        ({"env_name": "Nope"}, "run/config.json: env_name must name an environment"),
        ({"gamma": None}, "run/config.json: gamma must be a number (got None)"),
        ({"tau": float("nan")}, "run/config.json: tau must lie in (0, 1] (got nan)"),
        ({"seed": -1}, f"run/config.json: seed must lie in 0 .. {SEED_LIMIT - 1} (got -1)"),
        ({"colour": "red"}, "run/config.json: unknown setting 'colour'"),
        ({"upright": True}, "run/config.json: upright applies to bolla-rolla only"),
        ({"relative_x": True}, "run/config.json: relative_x applies to bolla-rolla only"),
        ({"perturb_ramp": 100}, "run/config.json: perturb_ramp needs start_noise or train_push"),
        ({"batch_size": 64, "buffer_size": 32}, "run/config.json: batch_size cannot exceed"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_source_the_setting_and_the_rule(values, message):
    with pytest.raises(ConfigError) as error:
        RunConfig.from_mapping(values, "run/config.json")
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_on_the_command_line_the_flag_is_named():
    with pytest.raises(ConfigError, match=r"^--seed must lie in 0 \.\. 4294967295 \(got -1\)$"):
        RunConfig.from_mapping({"seed": "-1"}, COMMAND_LINE)


def test_the_parser_has_one_flag_per_setting():
    parser = train_cli.build_parser()
    dests = [a.dest for a in parser._actions if a.option_strings and a.dest != "help"]
    assert sorted(dests) == sorted([f.name for f in FIELDS] + list(train_cli.COMMAND_FLAGS))
    defaults = vars(parser.parse_args([]))
    assert all(defaults[f.name] == f.default for f in FIELDS)
    # A value given on the command line reaches the config as typed, then checked.
    args, given = train_cli.parse_args(["--gamma", "0.9", "--learn_alpha", "--save_dir", "x"])
    assert given == {"gamma": "0.9", "learn_alpha": True}
    assert RunConfig.from_mapping(given, COMMAND_LINE).gamma == 0.9


def test_a_config_survives_the_json_round_trip():
    config = RunConfig(env_name="bolla-rolla", upright=True, seed=5, gamma=0.5, policy_samples=2)
    again = RunConfig.from_mapping(json.loads(json.dumps(config.to_dict())), "config.json")
    assert again == config
    assert RunConfig.from_mapping({**config.to_dict(), "save_dir": "/x"}) == config


def test_agent_settings_are_exactly_sacagents_hyperparameters():
    """Every agent setting is a SACAgent argument, and every SACAgent hyperparameter is a
    setting (the sizes and the task's mirror come from the environment; seed is the run's;
    jit_compile is not a choice of the run): a new agent argument cannot be forgotten on the
    command line."""
    parameters = set(inspect.signature(SACAgent).parameters)
    kwargs = RunConfig().agent_kwargs()
    assert set(kwargs) <= parameters
    assert parameters - set(kwargs) == {"input_dims", "n_actions", "seed", "jit_compile", "mirror"}
    assert kwargs["max_size"] == RunConfig().buffer_size
    defaults = {k: p.default for k, p in inspect.signature(SACAgent).parameters.items()}
    assert {k: defaults[k] for k in kwargs} == kwargs, "the defaults must agree"


def test_adding_a_setting_is_one_field():
    """A setting declared as one field reaches the command line, the checks, config.json (and
    its older copies), --recover's rules and the flag table without another line of code."""

    @dataclasses.dataclass
    class WithWarmup(RunConfig):
        warmup_steps: int = setting(
            1000, "random actions before the policy acts", AT_LEAST_1, resumable=True
        )

    parser = argparse.ArgumentParser()
    add_setting_arguments(parser, WithWarmup)
    assert parser.parse_args(["--warmup_steps", "7"]).warmup_steps == "7"
    assert "random actions before the policy acts" in parser.format_help()
    assert WithWarmup.from_mapping({"warmup_steps": "7"}).warmup_steps == 7
    with pytest.raises(ConfigError, match="^--warmup_steps must be at least 1 .got 0.$"):
        WithWarmup.from_mapping({"warmup_steps": "0"}, COMMAND_LINE)
    written = json.loads(json.dumps(WithWarmup(warmup_steps=5).to_dict()))
    assert WithWarmup.from_mapping(written).warmup_steps == 5
    assert WithWarmup.from_mapping(RunConfig().to_dict()).warmup_steps == 1000  # older runs
    assert "warmup_steps" in resumable_settings(WithWarmup)
    assert "| `--warmup_steps` | 1,000 | random actions" in flag_table(parser)


def test_a_changed_default_leaves_recorded_runs_as_they_were():
    """A setting whose default changed names the value older records meant: config.json and
    checkpoint manifests without it read as that value; flags and Python callers get the new
    default."""

    @dataclasses.dataclass
    class Changed(RunConfig):
        horizon: int = setting(20, "steps looked ahead", AT_LEAST_1, recorded_default=10)

    assert Changed.from_record(RunConfig().to_dict(), "config.json").horizon == 10
    assert Changed.from_record({**RunConfig().to_dict(), "horizon": 30}, "x").horizon == 30
    assert Changed.from_mapping({}).horizon == 20 and Changed().horizon == 20
    with pytest.raises(ConfigError, match="^old/config.json: unknown setting 'colour'$"):
        Changed.from_record({"colour": "red"}, "old/config.json")


def test_flag_table_has_a_row_per_flag_of_main():
    table = flag_table()
    rows = [line for line in table.splitlines() if line.startswith("| `--")]
    flags = [a.option_strings[-1] for a in train_cli.build_parser()._actions if a.dest != "help"]
    assert [row.split("`")[1] for row in rows] == flags
    assert "| `--n_games` | 30,000 | maximum number of episodes [may change on --recover] |" in rows
    assert (
        "| `--learn_alpha` | off |" in table
        and "| `--seed` | - | random seed, 0 .. 2\\*\\*32" in table
    )


def test_memory_estimate_and_the_refusal_of_what_cannot_fit():
    small = RunConfig(buffer_size=1000, layer1_size=16, layer2_size=16)
    default = RunConfig()
    # Cartpole: 4 observations, 1 action; a transition is s, s', a, r in float32 and a bool.
    one_batch = default.replace(buffer_size=default.batch_size)
    assert memory_estimate(default) - memory_estimate(one_batch) == (
        (1_000_000 - 256) * (4 * (2 * 4 + 1 + 1) + 1)
    )
    assert memory_estimate(small) < 1e6 < memory_estimate(default) < 1e8
    check_fits_in_memory(default)
    with pytest.raises(ConfigError, match=r"^buffer_size 100000000000 needs about \d+\.\d GiB"):
        check_fits_in_memory(default.replace(buffer_size=100_000_000_000))
    assert math.isfinite(memory_estimate(default.replace(layer1_size=10_000)))
