"""Record the policy of every checkpoint of a training run to video.

    python tools/record_savings.py                     # the most recent run under save/
    python tools/record_savings.py --run save/CartpoleEnvironment --steps 1600 --h264
    python tools/record_savings.py --stochastic --force

For every checkpoint of the run whose manifest verifies, in episode order, the saved networks are
loaded and the policy is filmed for --steps frames (600 x 600, 50 fps, mp4v) into
<run>/recordings/recording_ep{N}.mp4, resetting the environment whenever an episode ends. The
newest checkpoint of a finished run is also written as recording_final.mp4. The environment, its
episode cap and the network sizes come from the run's config.json (or, if it is gone, from the
newest good checkpoint's manifest), so no name has to be typed.
Every video starts from the same reset (the run's seed), so the checkpoints are comparable; the
policy is deterministic (the mean action) unless --stochastic. --h264 also writes browser-playable
copies `<stem>_h264.mp4`.

Videos already there are skipped, so the tool can be re-run while training goes on (--force
records them again); a damaged checkpoint is reported in one line and skipped. The default run is
the one main.py --recover would pick: the run under save/ whose newest checkpoint is newest.
Lay the videos out in one labelled grid with tools/combine_recordings.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from environment.environment import FPS, SCREEN_SIZE
from environment.video import describe_videos, h264_path
from tools._common import (
    ToolError,
    ToolParser,
    progress,
    publish,
    run,
    say,
    staging_dir,
    warn,
)
from training import checkpoints as ckpt
from training.cli import PATH, SEED, TF_THREADS, ZOOM, Number
from training.config import ConfigError
from training.runs import (
    CONFIG_FILE,
    SAVE_ROOT,
    RunError,
    import_tensorflow_quietly,
    load_config,
    manifest_config,
    most_recent_run,
)

PROG = "record_savings.py"
RECORDINGS_DIR = "recordings"


@dataclass
class Job:
    """One video to record: the checkpoint of `episode` into the file `name`."""

    episode: int
    name: str


def build_parser() -> argparse.ArgumentParser:
    parser = ToolParser(
        prog=PROG,
        description=__doc__,
    )
    parser.add_argument(
        "--run",
        type=PATH,
        default=None,
        help="run folder made by main.py (default: the most recent run under save/)",
    )
    parser.add_argument(
        "--steps", type=Number(int, 1), default=1600, help=f"frames per video ({FPS} per second)"
    )
    parser.add_argument(
        "--stochastic",
        action="store_true",
        help="sample actions from the policy instead of taking its mean",
    )
    parser.add_argument(
        "--out", type=PATH, default=None, help="output folder (default: <run>/recordings)"
    )
    parser.add_argument(
        "--h264", action="store_true", help="also write browser-playable <stem>_h264.mp4 copies"
    )
    parser.add_argument(
        "--seed",
        type=SEED,
        default=None,
        help="seed of every reset, 0 .. 2**32-1 (default: the run's)",
    )
    parser.add_argument(
        "--tf_threads",
        type=TF_THREADS,
        default=None,
        help="TensorFlow threads, 0 to 1024 (default: the run's --tf_threads; 0: TensorFlow's "
        "default)",
    )
    parser.add_argument(
        "--zoom",
        type=ZOOM,
        default=1.0,
        help="camera zoom, 1 to 8, following the subject (1: the whole 600 x 600 px scene)",
    )
    parser.add_argument(
        "--force", action="store_true", help="record again the checkpoints already recorded"
    )
    return parser


def run_config(run_dir: Path) -> dict:
    """The run's settings from its config.json, checked like main.py's flags; when config.json
    is gone, from the newest good checkpoint's manifest (as main.py --recover does)."""
    try:
        return load_config(run_dir)
    except ConfigError as exc:
        raise ToolError(str(exc)) from None
    except FileNotFoundError as exc:
        missing = str(exc)
    good = ckpt.latest_good_checkpoint(run_dir, warn=lambda _: None)
    if good is None:
        raise ToolError(missing)
    try:
        settings, source = manifest_config(good)
    except RunError:
        raise ToolError(missing) from None
    except ConfigError as exc:
        raise ToolError(str(exc)) from None
    config = settings.to_dict()
    warn(PROG, f"{run_dir / CONFIG_FILE} is missing: the settings of {source} are used")
    return config


def video_files(out_dir: Path, name: str, h264: bool) -> list[Path]:
    files = [out_dir / name]
    return files + [h264_path(out_dir / name)] if h264 else files


def good_checkpoints(run_dir: Path) -> list[ckpt.Checkpoint]:
    """Every checkpoint that verifies, oldest first; one line on stderr for each damaged one."""
    skip = ckpt.iter_good_checkpoints(
        run_dir, lambda m: warn(PROG, f"{m}: skipped"), newest_first=False
    )
    return list(skip)


def is_finished(checkpoint: ckpt.Checkpoint) -> bool:
    try:
        return bool(checkpoint.training_state().get("finished"))
    except (OSError, ValueError):
        return False


def plan(
    checkpoints: list[ckpt.Checkpoint], out_dir: Path, h264: bool, force: bool
) -> tuple[list[Job], int]:
    """The videos to record, and how many are skipped because they exist."""
    run_dir = checkpoints[0].run_dir
    wanted = [Job(c.episode, f"recording_ep{c.episode}.mp4") for c in checkpoints]
    if is_finished(checkpoints[-1]):
        wanted.append(Job(checkpoints[-1].episode, "recording_final.mp4"))
    jobs, skipped = [], 0
    for job in wanted:
        files = video_files(out_dir, job.name, h264)
        if not force and all(f.exists() for f in files):
            state_file = ckpt.models_dir(run_dir, job.episode) / ckpt.TRAINING_STATE_FILE
            if min(f.stat().st_mtime for f in files) < state_file.stat().st_mtime:
                warn(
                    PROG,
                    f"{job.name} is older than the checkpoint of episode {job.episode} it should "
                    "show: kept (--force records it again)",
                )
            skipped += 1
            continue
        if not force and files[0].exists():
            # Only the H.264 copy is missing: recording again would overwrite the mp4v file.
            warn(PROG, f"{job.name} exists without its H.264 copy: kept (--force records both)")
            skipped += 1
            continue
        jobs.append(job)
    return jobs, skipped


def main(argv: Sequence[str] | None = None) -> int:
    return run(PROG, _main, argv)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    run_dir = args.run if args.run is not None else most_recent_run(SAVE_ROOT)
    if run_dir is None:
        raise ToolError(f"no run under {SAVE_ROOT} (train one with main.py, or pass --run)")
    run_dir = run_dir.expanduser()
    run_dir = run_dir.resolve()
    if not run_dir.is_dir():
        raise ToolError(f"{run_dir} is not a folder (pass a run folder like save/<Environment>)")
    config = run_config(run_dir)

    out_dir = args.out.expanduser() if args.out is not None else run_dir / RECORDINGS_DIR
    out_dir = out_dir.resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise ToolError(f"--out {out_dir} is a file, not a folder")

    if not ckpt.list_checkpoint_episodes(run_dir) and not any(run_dir.glob("models_ep*")):
        raise ToolError(f"{run_dir} has no checkpoint yet (main.py writes one every --save_every)")
    checkpoints = good_checkpoints(run_dir)
    if not checkpoints:
        raise ToolError(f"no checkpoint of {run_dir} verifies: nothing to record")
    jobs, skipped = plan(checkpoints, out_dir, args.h264, args.force)
    policy = "stochastic" if args.stochastic else "deterministic"
    print(
        f"{config['env_name']} run {run_dir}: {len(checkpoints)} good checkpoint(s), "
        f"{len(jobs)} video(s) to record ({args.steps} frames, {policy} policy) -> {out_dir}",
        flush=True,
    )
    if not jobs:
        print(f"nothing to do: {skipped} video(s) already there (--force records them again)")
        return 0

    recorded = record(jobs, run_dir, out_dir, config, args)
    print(f"recorded {recorded} video(s) in {out_dir}; {skipped} already there")
    return 0


def record(jobs: list[Job], run_dir: Path, out_dir: Path, config: dict, args) -> int:
    """Load each checkpoint's policy and film it; return the number of videos written."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import_tensorflow_quietly()
    from agent.agent import configure_threads

    threads = args.tf_threads if args.tf_threads is not None else config["tf_threads"]
    configure_threads(threads or None)
    from training.policy import PolicyError, load_policy
    from training.recording import record_policy
    from training.runs import make_environment

    env = make_environment(config, render_mode="rgb_array", zoom=args.zoom)
    seed = args.seed if args.seed is not None else config["seed"]
    written = 0
    try:
        fresh: dict[int, Path] = {}  # episode -> video recorded by this invocation
        with staging_dir(out_dir) as tmp:
            for job in progress(jobs, total=len(jobs), unit="video", desc="recording"):
                files = video_files(out_dir, job.name, args.h264)
                if job.episode in fresh:  # the final checkpoint was just filmed: copy it
                    for source, target in zip(
                        video_files(out_dir, fresh[job.episode].name, args.h264), files, strict=True
                    ):
                        shutil.copyfile(source, tmp / target.name)
                        os.replace(tmp / target.name, target)
                else:
                    try:
                        policy = load_policy(run_dir, seed=seed, episode=job.episode, config=config)
                    except PolicyError as exc:
                        raise ToolError(
                            f"checkpoint of episode {job.episode} does not load into the policy "
                            f"that config.json describes ({exc})"
                        ) from None
                    staged = record_policy(
                        env, policy, tmp / job.name, args.steps,
                        deterministic=not args.stochastic, h264=args.h264, seed=seed,
                    )  # fmt: skip
                    publish(staged, out_dir)
                    fresh[job.episode] = files[0]
                written += 1
                say(f"{job.name}: episode {job.episode}, {describe_videos(files, SCREEN_SIZE)}")
    finally:
        env.close()
    return written


if __name__ == "__main__":
    sys.exit(main())
