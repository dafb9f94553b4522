"""training/cli.py: every value a user can type is checked where it enters, in one form.

Every option of main.py and of every tool (tools/*.py) that takes a path or a number is declared
with a checked type (or, for main.py's settings, a RunConfig rule); given "" (a path), nan, inf
or a value out of its range (a number), each ends in one line on stderr that names the option,
exit code 2, no traceback and no file written. The environments refuse the same ranges."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import main
from environment import CartpoleEnvironment, create_environment
from environment.environment import MAX_PUSH, MAX_START_NOISE, MAX_ZOOM
from tests.run_helpers import subprocess_env
from tests.tool_helpers import TOOLS, call_main
from training.cli import PATH, Number, PathArgument, usage_line
from training.config import RunConfig, SettingValue
from training.train_cli import build_parser

REPO = Path(__file__).resolve().parents[1]
TOOL_NAMES = sorted(p.stem for p in TOOLS.glob("*.py") if not p.stem.startswith("_"))
# Options that take free text, each checked whole by its tool in one line: a name, a script, a
# setting=value pair (RunConfig's rules), an address. Everything else must use a checked type.
TEXT_OPTIONS = {
    ("test_environment", "name"),  # an environment's name or alias
    ("test_environment", "script"),  # KEYS:N segments, all parsed before anything runs
    ("sweep", "env_name"),
    ("sweep", "grid"),  # KEY=V1,V2 of main.py's settings, checked by their rules
    ("sweep", "set"),
    ("sweep", "name"),  # a folder name: letters, digits, '_', '.', '-'
    ("sweep", "address"),  # HOST:PORT, probed before Ray starts
}


def parsers() -> dict[str, tuple[argparse.ArgumentParser, Any]]:
    """Every command line: main.py's and each tool's parser, with the function that runs it."""
    found = {"main": (build_parser(), main.main)}
    for name in TOOL_NAMES:
        tool = importlib.import_module(f"tools.{name}")
        found[name] = (tool.build_parser(), tool.main)
    return found


def option_name(action: argparse.Action) -> str:
    """How an error names the option: its long form, or a positional's name."""
    if action.option_strings:
        return max(action.option_strings, key=len)
    return action.metavar or action.dest


def takes_a_value(action: argparse.Action) -> bool:
    return action.nargs != 0 and not isinstance(action, argparse._HelpAction)


def bad_numbers(name: str, kind: type, text: str, outside: Any) -> list[tuple[str, str]]:
    """nan, inf and a value outside the range, as a user types them, each with the words its
    error must say: "--push must lie in [0, 10] (got inf)" ("must be a whole number" when
    the option takes one)."""
    found = []
    for value in ("nan", "inf", repr(outside)):
        if kind is int and value in ("nan", "inf"):
            found.append((value, f"{name} must be a whole number (got {value!r})"))
        else:
            found.append((value, f"{name} {text} (got {kind(value)!r})"))
    return found


def cases() -> list[tuple[str, str, str, str]]:
    """(program, option, value, what the error line must say) for every checked option."""
    found = []
    settings = {f.name: f for f in dataclasses.fields(RunConfig)}
    for program, (parser, _) in parsers().items():
        for action in filter(takes_a_value, parser._actions):
            name, checked = option_name(action), action.type
            if isinstance(checked, PathArgument):
                found.append((program, name, "", f"{name} must not be empty (got '')"))
                continue
            if isinstance(checked, SettingValue):  # sweep.py --seeds, each a --seed of main.py
                name, checked = f"--{checked.field.name}", checked.rule
            elif program == "main" and action.dest in settings:
                checked = settings[action.dest].metadata["rule"]  # RunConfig's (a Rule)
            if isinstance(checked, Number):
                bad = bad_numbers(name, checked.kind, checked.text, checked.outside())
            elif getattr(checked, "number", None) is not None:
                number = checked.number
                bad = bad_numbers(name, number.kind, checked.text, number.outside())
            elif getattr(checked, "choices", None) is not None:  # --policy_samples 1 or 2
                if isinstance(checked.breaking, str):  # --algo sac1 or sac2
                    bad = [(checked.breaking, f"{name} {checked.text} (got {checked.breaking!r})")]
                else:
                    bad = bad_numbers(name, int, checked.text, checked.breaking)
            else:
                continue  # a switch or a name (RunConfig's rules, tests/test_config.py)
            found += [(program, option_name(action), value, said) for value, said in bad]
    return found


def test_every_value_option_is_declared_with_a_checked_type():
    """A new option that takes a path or a number must use training/cli.py's types (or be a
    RunConfig setting with a rule): this fails for one that does not."""
    settings = {f.name for f in dataclasses.fields(RunConfig)}
    unchecked = []
    for program, (parser, _) in parsers().items():
        for action in filter(takes_a_value, parser._actions):
            if isinstance(action.type, Number | PathArgument | SettingValue) or action.choices:
                continue
            if program == "main" and action.dest in settings:
                continue  # RunConfig's rule checks it (tests/test_config.py)
            if (program, action.dest) not in TEXT_OPTIONS:
                unchecked.append(f"{program} {option_name(action)}")
    assert not unchecked, f"declare these with a checked type (training/cli.py): {unchecked}"
    assert {"evaluate", "sweep", "test_environment", "images_to_video"} <= set(TOOL_NAMES)


@pytest.mark.parametrize(("program", "option", "value", "said"), cases())
def test_empty_paths_and_bad_numbers_are_one_line_before_anything_runs(
    program, option, value, said, tmp_path, monkeypatch, capsys
):
    """main.py and every tool, in an empty working folder: exit 2, one line on stderr naming
    the option (and, for a number out of range, the range), no traceback, no file written."""
    import training.loop

    def train(*args, **kwargs):
        raise AssertionError(f"{option} {value!r} was accepted: training started")

    monkeypatch.setattr(training.loop, "train", train)
    monkeypatch.chdir(tmp_path)
    _, run = parsers()[program]
    argv = [value] if not option.startswith("-") else [option, value]
    if program == "main":
        argv += ["--save_dir", "run"]
    assert call_main(run, *argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    prog = "main.py" if program == "main" else f"{program}.py"
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith(f"{prog}: error: ") and said in lines[0], lines[0]
    assert option in lines[0]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("script", "args", "said"),
    [
        ("main.py", ["--start_noise", "1e40", "--n_games", "1"], "--start_noise must lie in"),
        ("main.py", ["--train_push", "1e30"], "--train_push must lie in [0, 10] (got 1e+30)"),
        ("main.py", ["--n_games", "1", "--save_dir", ""], "--save_dir must not be empty"),
        (
            "tools/test_environment.py",
            ["cartpole", "--headless", "--frames", "2", "--start-noise", "1e40", "--seed", "0"],
            "--start-noise must lie in [0, 10] (got 1e+40)",
        ),
    ],
)
def test_the_scripts_themselves_refuse_in_one_line(tmp_path, script, args, said):
    """The real scripts, as a user runs them: the same line, exit 2, nothing written."""
    result = subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and said in lines[0], result.stderr
    assert not list(tmp_path.iterdir())


# ---- the types themselves -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "text", "bad", "good"),
    [
        (Number(int, 1), "must be at least 1", ["0", "-5"], ["1", " 7 ", "10000000000"]),
        (Number(int, 0, 9), "must lie in 0 .. 9", ["-1", "10"], ["0", "9"]),
        (Number(float, 0, 10), "must lie in [0, 10]", ["-0.1", "10.5", "1e40"], ["0", "10"]),
        (Number(float, 0, 1, low_open=True), "must lie in (0, 1]", ["0", "1.01"], ["1e-9"]),
        (Number(float, 0, low_open=True), "must be a finite number > 0", ["0", "-1"], ["1e300"]),
        (Number(float), "must be a finite number", ["-inf"], ["-1e300", "0"]),
        (Number(float, 64, 4096, unit="px"), "must lie in [64, 4096] px", ["63"], ["64"]),
    ],
)
def test_a_number_states_its_range_and_refuses_what_is_outside(number, text, bad, good):
    assert number.text == text
    for value in [*bad, "nan", "inf", "1e400", "", "ten"]:
        with pytest.raises(argparse.ArgumentTypeError, match=r"^must .* \(got .*\)$"):
            number(value)
    for value in good:
        assert number.test(number(value))
    assert not number.test(number.outside())


def test_a_whole_number_is_not_a_float():
    with pytest.raises(argparse.ArgumentTypeError, match=r"^must be a whole number \(got '2.5'\)"):
        Number(int, 1)("2.5")
    assert Number(float, 0, 10)("1e1") == 10.0


def test_paths_may_not_be_empty():
    assert PATH("a/b") == Path("a/b")
    for empty in ("", "   "):
        with pytest.raises(argparse.ArgumentTypeError, match="^must not be empty"):
            PATH(empty)


def test_usage_line_names_the_long_option_first():
    assert usage_line("argument -o/--output: must not be empty (got '')") == (
        "--output must not be empty (got '')"
    )
    assert usage_line("argument frames_dir: must not be empty (got '')") == (
        "frames_dir must not be empty (got '')"
    )
    untouched = "argument --push_side: invalid choice: 'up'"
    assert usage_line(untouched) == untouched


# ---- the environments refuse the same ranges ----------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start_noise": MAX_START_NOISE * 1.01},
        {"start_noise": 1e40},
        {"start_noise": math.inf},
        {"zoom": MAX_ZOOM + 1},
        {"start_noise": True},
    ],
)
def test_the_environments_refuse_what_the_command_lines_refuse(kwargs):
    with pytest.raises(ValueError) as error:
        CartpoleEnvironment(**kwargs)
    assert "\n" not in str(error.value) and next(iter(kwargs)) in str(error.value)


@pytest.mark.parametrize("name", ["cartpole", "standing", "bolla-rolla"])
def test_the_largest_start_noise_and_push_are_played(name):
    """At the bounds an episode still runs (a noise of 1e40 used to overflow at reset)."""
    env = create_environment(name, start_noise=MAX_START_NOISE)
    observation, _ = env.reset(seed=0)
    assert all(map(math.isfinite, observation))
    env.push(-MAX_PUSH)
    env.step([0.0] * env.action_size)
    for strength in (MAX_PUSH * 1.01, -1e30):
        with pytest.raises(ValueError, match=r"^push strength must be a number in \[-10, 10\]"):
            env.push(strength)
