"""Train a Soft Actor-Critic agent on one of the pymunk environments.

    python main.py --env_name cartpole           # train (also: standing, bolla-rolla, ...)
    python main.py --recipe standing-robust      # a shipped result's settings (recipes/*.yaml)
    python main.py --recover                     # continue the most recent run exactly
    python main.py --help                        # every flag

A run lives in one folder (default save/<EnvironmentName>/): its configuration (config.json),
a checkpoint every --save_every episodes and at the end (models_ep{N}/, replay_buffer_ep{N}/,
score_history_{N}.npy, checkpoint_ep{N}.json), a CSV log with one row per episode, the learning
curve train.png and, at the end, a recording of the trained agent (simulation.mp4 and its
browser-playable copy simulation_h264.mp4). SIGINT (Ctrl-C) or SIGTERM finishes the current step,
writes a checkpoint and exits; a second signal exits at once. Checkpoints are atomic, so a crash
at any moment leaves the newest complete checkpoint to --recover from.

Every setting is declared once, in training/config.py; the command line (the flags on top of
a recipe's settings) is training/train_cli.py, the loop training/loop.py.
"""

from __future__ import annotations

import faulthandler
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    # Imported here, not above: a Ctrl-C while they load is one line too (run_as_script).
    from training.config import COMMAND_LINE, ConfigError, RunConfig
    from training.loop import train
    from training.runs import RunError
    from training.train_cli import PROG, UsageError, parse_args, resolve_run_dir

    try:
        args, given = parse_args(argv)
        run_dir = resolve_run_dir(args, given)
        # A fresh run takes every setting from the command line (on top of its recipe); a
        # resumed one takes the run's own and only the changes given here.
        config = given if args.recover else RunConfig.from_mapping(given, COMMAND_LINE)
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
        print("main.py: interrupted before training started", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(run_as_script())
