"""Train a Soft Actor-Critic agent on one of the pymunk environments.

    python main.py --env_name cartpole           # train (also: standing, bolla-rolla, ...)
    python main.py --recover                     # continue the most recent run exactly
    python main.py --help                        # every flag

A run lives in one folder (default save/<EnvironmentName>/): its configuration (config.json),
a checkpoint every --save_every episodes and at the end (models_ep{N}/, replay_buffer_ep{N}/,
score_history_{N}.npy, checkpoint_ep{N}.json), a CSV log with one row per episode, the learning
curve train.png and, at the end, a recording of the trained agent (simulation.mp4 and its
browser-playable copy simulation_h264.mp4). SIGINT (Ctrl-C) or SIGTERM finishes the current step,
writes a checkpoint and exits; a second signal exits at once. Checkpoints are atomic, so a crash
at any moment leaves the newest complete checkpoint to --recover from.

Every setting is declared once, in training/config.py; the loop is training/loop.py.
"""

from __future__ import annotations

import argparse
import faulthandler
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROG = "main.py"
COMMAND_FLAGS = ("recover", "save_dir", "overwrite")  # how to run, not settings of the run


class UsageError(Exception):
    """A mistake on the command line or in a run folder; one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        from training.cli import usage_line

        raise UsageError(f"{usage_line(message)} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    from training.cli import PATH
    from training.config import add_setting_arguments

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
    """The command line, and the settings given on it explicitly (as typed)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    given = vars(parser.parse_args(argv))
    return args, {k: v for k, v in given.items() if k not in COMMAND_FLAGS}


def resolve_run_dir(args: argparse.Namespace, given: dict[str, Any]) -> Path:
    """--save_dir, or save/<EnvironmentName>, or (--recover alone) the most recent run."""
    from environment import resolve_environment_name
    from training.runs import SAVE_ROOT, most_recent_run

    if args.save_dir is not None:
        return args.save_dir.expanduser().resolve()
    if "env_name" in given or not args.recover:
        try:
            return SAVE_ROOT / resolve_environment_name(args.env_name)
        except ValueError as exc:
            raise UsageError(f"--env_name: {str(exc).splitlines()[0]}") from None
    run_dir = most_recent_run(SAVE_ROOT)
    if run_dir is None:
        raise UsageError(
            f"nothing to recover: no run under {SAVE_ROOT} (start one with --env_name)"
        )
    return run_dir


def main(argv: Sequence[str] | None = None) -> int:
    from training.config import ConfigError, RunConfig
    from training.loop import train
    from training.runs import RunError

    try:
        args, given = parse_args(argv)
        if args.recover and args.overwrite:
            raise UsageError("--recover and --overwrite exclude each other")
        run_dir = resolve_run_dir(args, given)
        # A fresh run takes every setting from the command line; a resumed one takes the
        # run's own and only the changes given here.
        config = given if args.recover else RunConfig.from_mapping(given, "command line")
        result = train(config, run_dir, recover=args.recover, overwrite=args.overwrite)
    except (UsageError, ConfigError, RunError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    return result.exit_code


def caused_by_ctrl_c(exc: BaseException | None) -> bool:
    """Whether `exc` is Ctrl-C or an error it caused: a native module (TensorFlow's) that was
    initialising when the signal came reports it as a failed import."""
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def run_as_script() -> int:
    # A crash in native code (TensorFlow, pymunk, SDL) then prints the Python stack it hit.
    try:
        faulthandler.enable(file=sys.__stderr__)
    except (AttributeError, OSError, ValueError):  # no stderr file to print to
        pass
    try:
        from training.signals import interrupt_on_sigterm

        interrupt_on_sigterm()  # SIGTERM before the loop: one line too, like Ctrl-C
        return main()
    except (KeyboardInterrupt, ImportError) as exc:
        if not caused_by_ctrl_c(exc):
            raise
        # Before the training loop takes the signal over: nothing has been written.
        print(f"{PROG}: interrupted before training started", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(run_as_script())
