"""main.py's command line: its parser, the settings it gives a run (on top of --recipe's), the run
folder it picks, and its one-line errors. main.py itself only parses, picks the folder and trains.

Every setting's flag is derived from RunConfig (training/config.py); the flags of this module are
how to run: --recover, --save_dir and --overwrite. A mistake (a UsageError here, a ConfigError or
a RunError further on) is printed by main.py as one line, `main.py: error: ...`, exit code 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.cli import PATH, usage_line
from training.config import add_setting_arguments
from training.recipe import with_recipe

PROG = "main.py"
COMMAND_FLAGS = ("recover", "save_dir", "overwrite")  # how to run, not settings of the run


class UsageError(Exception):
    """A mistake on the command line or in a run folder; one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{usage_line(message)} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Train a Soft Actor-Critic agent on a pymunk environment.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    command = parser.add_argument_group("what to do")
    command.add_argument(
        "--recover",
        action="store_true",
        help="continue the most recent run (or the one named by --env_name / --save_dir) from "
        "its newest good checkpoint; settings marked [may change on --recover] may be given",
    )
    command.add_argument(
        "--save_dir", type=PATH, default=None, help="run folder (default: save/<EnvironmentName>)"
    )
    command.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh in a run folder that already holds a run, deleting its checkpoints, "
        "log, plot and videos",
    )
    add_setting_arguments(parser)
    return parser


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, dict[str, Any]]:
    """The command line, and the settings it gives: those given explicitly (as typed), on top
    of the settings of the recipe --recipe names (training/recipe.py)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    given = vars(parser.parse_args(argv))
    given = {k: v for k, v in given.items() if k not in COMMAND_FLAGS}
    if args.recover and args.overwrite:
        raise UsageError("--recover and --overwrite exclude each other")
    if args.recover and "recipe" in given:
        raise UsageError("--recipe starts a fresh run; --recover continues one with its settings")
    return args, with_recipe(given)


def resolve_run_dir(args: argparse.Namespace, given: dict[str, Any]) -> Path:
    """--save_dir, or save/<EnvironmentName>, or (--recover alone) the most recent run."""
    from environment import resolve_environment_name
    from training.runs import SAVE_ROOT, most_recent_run

    if args.save_dir is not None:
        return args.save_dir.expanduser().resolve()
    if "env_name" in given or not args.recover:
        try:
            return SAVE_ROOT / resolve_environment_name(given.get("env_name", args.env_name))
        except ValueError as exc:
            raise UsageError(f"--env_name: {str(exc).splitlines()[0]}") from None
    run_dir = most_recent_run(SAVE_ROOT)
    if run_dir is None:
        raise UsageError(
            f"nothing to recover: no run under {SAVE_ROOT} (start one with --env_name)"
        )
    return run_dir
