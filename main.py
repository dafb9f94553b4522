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
"""

from __future__ import annotations

import argparse
import csv
import gc
import math
import os
import random
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from environment import resolve_environment_name
from training import checkpoints as ckpt
from training.runs import (
    CONFIG_FILE,
    SAVE_ROOT,
    import_tensorflow_quietly,
    load_config,
    make_agent,
    make_environment,
    most_recent_run,
)

LOG_FILE = "train_log.csv"
LOSS_KEYS = ("value_loss", "actor_loss", "critic_1_loss", "critic_2_loss", "alpha", "alpha_loss")
LOG_FIELDS = (
    "episode",
    "score",
    "avg_score",
    "steps",
    "total_steps",
    "updates",
    "skipped_updates",
    "wall_time",
    *LOSS_KEYS,
)

# Flags that may be changed when a run is resumed; all others are fixed by the run's config.json.
RESUMABLE_FLAGS = {
    "n_games",
    "save_every",
    "record_steps",
    "no_record",
    "keep_buffers",
    "no_progress",
}


class UserError(Exception):
    """An error the user can fix; reported in one line without a traceback."""


# --------------------------------------------------------------------------------------------
# Configuration


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train a Soft Actor-Critic agent on a pymunk environment.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run = parser.add_argument_group("run")
    run.add_argument(
        "--env_name",
        default="CartpoleEnvironment",
        help="environment: cartpole, standing, bolla-rolla (or any class name alias)",
    )
    run.add_argument(
        "--recover",
        action="store_true",
        help="continue the most recent run (or the one named by --env_name / --save_dir) from "
        "its newest good checkpoint",
    )
    run.add_argument(
        "--save_dir", default=None, help="run folder (default: save/<EnvironmentName>)"
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh in a run folder that already holds a run, deleting its checkpoints, "
        "log, plot and videos",
    )
    run.add_argument(
        "--upright",
        action="store_true",
        help="bolla rolla only: the episode also ends when the torso falls 32 px (stand, "
        "do not sit)",
    )
    run.add_argument("--n_games", type=int, default=30000, help="maximum number of episodes")
    run.add_argument("--max_steps", type=int, default=400, help="episode cap (a truncation)")
    run.add_argument("--save_every", type=int, default=500, help="checkpoint every N episodes")
    run.add_argument(
        "--keep_buffers",
        type=int,
        default=2,
        help="keep the replay buffers of the newest N checkpoints (model weights are all kept)",
    )
    run.add_argument(
        "--solve_score", type=float, default=395.0, help="score that counts towards solving"
    )
    run.add_argument(
        "--solve_count",
        type=int,
        default=10,
        help="consecutive episodes at --solve_score that solve the task and stop training",
    )
    run.add_argument(
        "--seed", type=int, default=None, help="random seed (default: drawn and recorded)"
    )
    run.add_argument(
        "--update_every",
        type=int,
        default=1,
        help="run K updates in one compiled call after every K steps (1 = the reference)",
    )
    run.add_argument("--record_steps", type=int, default=1600, help="frames of the final recording")
    run.add_argument("--no_record", action="store_true", help="skip the final recording")
    run.add_argument(
        "--tf_threads",
        type=int,
        default=0,
        help="TensorFlow intra- and inter-op threads (0: TensorFlow's default)",
    )
    run.add_argument("--no_progress", action="store_true", help="no progress bar")

    sac = parser.add_argument_group("agent")
    sac.add_argument("--actor_lr", type=float, default=3e-4, help="actor learning rate (Adam)")
    sac.add_argument("--critic_lr", type=float, default=3e-4, help="critics' learning rate")
    sac.add_argument("--value_lr", type=float, default=3e-4, help="value network learning rate")
    sac.add_argument("--gamma", type=float, default=0.99, help="discount factor")
    sac.add_argument("--tau", type=float, default=0.005, help="Polyak rate of the target value")
    sac.add_argument("--batch_size", type=int, default=256, help="minibatch size")
    sac.add_argument("--buffer_size", type=int, default=1_000_000, help="replay capacity")
    sac.add_argument(
        "--reward_scale",
        type=float,
        default=2.0,
        help="reward multiplier in the critics' target (the inverse entropy weight)",
    )
    sac.add_argument("--layer1_size", type=int, default=512, help="first hidden layer width")
    sac.add_argument("--layer2_size", type=int, default=256, help="second hidden layer width")
    sac.add_argument(
        "--learn_alpha",
        action="store_true",
        help="learn the entropy temperature (target entropy -n_actions)",
    )
    sac.add_argument("--alpha_lr", type=float, default=3e-4, help="temperature learning rate")
    return parser


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"main.py: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, set[str]]:
    """Parse the command line; also return the flags given explicitly."""
    parser = build_parser()
    parser.__class__ = _Parser
    args = parser.parse_args(argv)
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    explicit = set(vars(parser.parse_args(argv)))
    return args, explicit


def validate(config: dict[str, Any]) -> None:
    positive = ["n_games", "max_steps", "save_every", "solve_count", "update_every", "batch_size"]
    positive += ["buffer_size", "layer1_size", "layer2_size", "record_steps"]
    for name in positive:
        if config[name] < 1:
            raise UserError(f"--{name} must be at least 1 (got {config[name]})")
    for name in ["keep_buffers", "tf_threads"]:
        if config[name] < 0:
            raise UserError(f"--{name} must not be negative (got {config[name]})")
    if config["keep_buffers"] < 1:
        raise UserError("--keep_buffers must be at least 1 (recovery needs a replay buffer)")
    if not 0 < config["gamma"] <= 1 or not 0 < config["tau"] <= 1:
        raise UserError("--gamma and --tau must lie in (0, 1]")
    if config["batch_size"] > config["buffer_size"]:
        raise UserError("--batch_size cannot exceed --buffer_size")
    for name in ["actor_lr", "critic_lr", "value_lr", "alpha_lr", "reward_scale"]:
        if not (math.isfinite(config[name]) and config[name] > 0):
            raise UserError(f"--{name} must be a positive number (got {config[name]})")


def resolve_run(args: argparse.Namespace, explicit: set[str]) -> tuple[dict[str, Any], Path]:
    """Work out the configuration and the run folder, fresh or recovered."""
    env_name = None
    if not args.recover or "env_name" in explicit:
        try:
            env_name = resolve_environment_name(args.env_name)
        except ValueError as exc:
            raise UserError(str(exc).splitlines()[0]) from None

    if args.save_dir:
        run_dir = Path(args.save_dir).expanduser().resolve()
    elif env_name:
        run_dir = SAVE_ROOT / env_name
    else:
        run_dir = most_recent_run(SAVE_ROOT)
        if run_dir is None:
            raise UserError(
                f"nothing to recover: no run under {SAVE_ROOT} (start one with --env_name NAME)"
            )

    if args.recover:
        if "overwrite" in explicit:
            raise UserError("--recover and --overwrite exclude each other")
        config_path = run_dir / CONFIG_FILE
        if not config_path.is_file():
            raise UserError(f"nothing to recover: {config_path} does not exist")
        try:
            config = load_config(run_dir)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if env_name and env_name != config["env_name"]:
            raise UserError(f"{run_dir} holds a {config['env_name']} run, not {env_name}")
        for name in sorted(explicit - {"recover", "env_name", "save_dir"}):
            if name in RESUMABLE_FLAGS:
                config[name] = getattr(args, name)
            elif getattr(args, name) != config.get(name):
                raise UserError(
                    f"--{name} cannot change when resuming (this run uses {config.get(name)})"
                )
        config["save_dir"] = str(run_dir)
        validate(config)
        return config, run_dir

    config = {k: v for k, v in vars(args).items() if k not in {"recover", "overwrite"}}
    config["env_name"] = env_name
    if config["upright"] and env_name != "BollaRollaEnvironment":
        raise UserError("--upright applies to bolla-rolla only")
    config["save_dir"] = str(run_dir)
    if config["seed"] is None:
        config["seed"] = secrets.randbelow(2**31)
    validate(config)
    if ckpt.has_checkpoint_files(run_dir) or (run_dir / CONFIG_FILE).exists():
        if not args.overwrite:
            raise UserError(
                f"{run_dir} already holds a run: continue it with --recover, "
                "or start over with --overwrite (deletes that run)"
            )
        config["_overwrite"] = True
    return config, run_dir


def remove_run(run_dir: Path) -> None:
    """Delete everything main.py and record_savings.py wrote into a run folder (--overwrite)."""
    ckpt.remove_checkpoints(run_dir)
    for name in (LOG_FILE, CONFIG_FILE, "train.png", "simulation.mp4", "simulation_h264.mp4"):
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / "recordings", ignore_errors=True)


def lock_run(run_dir: Path):
    """Hold an exclusive lock on the run folder for this process's life, or raise UserError."""
    import fcntl

    handle = open(run_dir / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserError(f"{run_dir} is in use by another main.py process") from None
    return handle


# --------------------------------------------------------------------------------------------
# Signals


class StopRequest:
    """Turns the first SIGINT/SIGTERM into a request to save and stop; the second exits at once."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signum is not None:
            print("second signal: exiting now", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        self.signum = signum
        name = signal.Signals(signum).name
        print(f"{name}: saving a checkpoint after this step", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Training


def random_states(env) -> dict[str, Any]:
    import numpy as np

    return {
        "python": list(_jsonable(random.getstate())),
        "numpy_global": _jsonable(np.random.get_state(legacy=False)),  # noqa: NPY002
        "env": env.unwrapped.np_random.bit_generator.state,
    }


def restore_random_states(states: dict[str, Any], env) -> None:
    import numpy as np

    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(states["numpy_global"])  # noqa: NPY002
    generator = np.random.Generator(np.random.PCG64())
    generator.bit_generator.state = states["env"]
    env.unwrapped.np_random = generator


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    return value


def truncate_log(path: Path, episode: int) -> None:
    """Drop the log rows written after the checkpoint a run resumes from."""
    if not path.exists():
        return
    with open(path, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if int(row["episode"]) <= episode]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def train(config: dict[str, Any], run_dir: Path, resume: ckpt.Checkpoint | None) -> int:
    import numpy as np

    tf = import_tensorflow_quietly()

    from agent.agent import configure_threads

    configure_threads(config["tf_threads"] or None)
    from training.plotting import plot_learning_curve

    env = make_environment(config)
    agent = make_agent(config, env)
    log_path = run_dir / LOG_FILE

    if resume is None:
        state: dict[str, Any] = {
            "episode": 0,
            "total_steps": 0,
            "solved_streak": 0,
            "wall_time": 0.0,
            "finished": False,
            "solved": False,
        }
        scores: list[float] = []
        # The agent and the environment own their generators; the global ones are seeded too
        # so that nothing in the run depends on the process it runs in.
        random.seed(config["seed"])
        np.random.seed(config["seed"])  # noqa: NPY002
        tf.random.set_seed(config["seed"])
        env.reset(seed=config["seed"])  # seeds the environment's generator once per run
    else:
        state = resume.training_state()
        try:
            agent.load_models(str(resume.models_dir))
        except ValueError as exc:
            raise UserError(f"cannot resume from {resume.models_dir}: {exc}") from exc
        if resume.buffer_dir is not None:
            agent.load_replay_buffer(str(resume.buffer_dir))
        else:
            print(
                f"the checkpoint of episode {resume.episode} has no replay buffer (pruned): "
                "training goes on with an empty buffer"
            )
        scores = [float(s) for s in np.load(resume.scores_file)]
        restore_random_states(state["random"], env)
        truncate_log(log_path, resume.episode)
        if state["finished"] and (state["solved"] or state["episode"] >= config["n_games"]):
            why = "solved" if state["solved"] else f"reached --n_games {config['n_games']}"
            print(f"run {run_dir} already finished at episode {state['episode']} ({why})")
            finish(config, run_dir, env, agent, scores, plot_only_missing=True)
            return 0
        state["finished"] = False
        print(f"resuming {config['env_name']} from episode {state['episode']} ({run_dir})")

    ckpt.write_json_atomic(run_dir / CONFIG_FILE, config)
    new_log = not log_path.exists()
    log_handle = open(log_path, "a", newline="")
    log = csv.DictWriter(log_handle, fieldnames=LOG_FIELDS)
    if new_log:
        log.writeheader()

    saved_at_step = state["total_steps"] if resume is not None else -1

    def save(interrupted: bool = False, partial_steps: int = 0) -> None:
        nonlocal saved_at_step
        saved_at_step = state["total_steps"]
        state["random"] = random_states(env)
        state["update_count"] = int(agent.update_count)
        started = time.perf_counter()
        size = ckpt.save_checkpoint(
            run_dir,
            state["episode"],
            save_models=lambda p: agent.save_models(str(p)),
            save_buffer=lambda p: agent.save_replay_buffer(str(p)),
            save_scores=lambda p: np.save(p, np.asarray(scores, dtype=np.float64)),
            training_state=state,
            info={
                "env_name": config["env_name"],
                "total_steps": state["total_steps"],
                "update_count": state["update_count"],
                "interrupted": interrupted,
                "partial_episode_steps": partial_steps,
                "config": config,
            },
        )
        ckpt.prune_buffers(run_dir, config["keep_buffers"], newest=state["episode"])
        plot_learning_curve(
            scores, run_dir / "train.png", f"SAC on {config['env_name']}", config["solve_score"]
        )
        print(
            f"checkpoint: episode {state['episode']}, {size / 1e6:.1f} MB, "
            f"{time.perf_counter() - started:.1f} s -> {run_dir}",
            flush=True,
        )

    stop = StopRequest()
    stop.install()
    progress = _progress_bar(config, state["episode"])
    update_every = config["update_every"]
    session_start = time.perf_counter() - state["wall_time"]
    episode_steps = 0
    # Everything built so far (TensorFlow, Keras, the networks) lives for the whole run: keep it
    # out of the garbage collector's full passes, which otherwise walk it again and again.
    gc.collect()
    gc.freeze()
    try:
        while state["episode"] < config["n_games"] and stop.signum is None:
            observation, _ = env.reset()
            score, episode_steps, done = 0.0, 0, False
            loss_sums = dict.fromkeys(LOSS_KEYS, 0.0)
            loss_counts = dict.fromkeys(LOSS_KEYS, 0)
            episode_start = time.perf_counter()
            while not done:
                action = agent.choose_action(observation)
                next_observation, reward, terminated, truncated, _ = env.step(action)
                agent.remember(observation, action, reward, next_observation, terminated)
                observation = next_observation
                score += reward
                episode_steps += 1
                state["total_steps"] += 1
                done = terminated or truncated
                if state["total_steps"] % update_every == 0:
                    losses = agent.learn(update_every)
                    for key in LOSS_KEYS if losses is not None else ():
                        if key in losses:  # alpha_loss only with --learn_alpha
                            loss_sums[key] += losses[key]
                            loss_counts[key] += 1
                if stop.signum is not None and not done:
                    break
            if not done:  # interrupted mid-episode: the partial episode is not scored
                break
            state["episode"] += 1
            scores.append(score)
            avg_score = float(np.mean(scores[-100:]))
            state["solved_streak"] = (
                state["solved_streak"] + 1 if score >= config["solve_score"] else 0
            )
            state["wall_time"] = time.perf_counter() - session_start
            steps_per_second = episode_steps / max(time.perf_counter() - episode_start, 1e-9)
            log.writerow(
                {
                    "episode": state["episode"],
                    "score": score,
                    "avg_score": avg_score,
                    "steps": episode_steps,
                    "total_steps": state["total_steps"],
                    "updates": int(agent.update_count),
                    "skipped_updates": int(agent.skipped_updates),
                    "wall_time": round(state["wall_time"], 3),
                    **{
                        k: loss_sums[k] / loss_counts[k] if loss_counts[k] else ""
                        for k in LOSS_KEYS
                    },
                }
            )
            log_handle.flush()
            message = f"episode {state['episode']} score {score:.1f} avg_score {avg_score:.1f}"
            if progress is not None:
                progress.update(1)
                progress.set_postfix(
                    score=f"{score:.0f}",
                    avg=f"{avg_score:.1f}",
                    steps_s=f"{steps_per_second:.0f}",
                    refresh=False,
                )
                progress.write(message)
            else:
                print(message, flush=True)
            if state["solved_streak"] >= config["solve_count"]:
                state["solved"] = True
                print(
                    f"solved at episode {state['episode']}: {config['solve_count']} consecutive "
                    f"episodes scored at least {config['solve_score']:g}",
                    flush=True,
                )
            state["finished"] = state["solved"] or state["episode"] >= config["n_games"]
            if state["finished"] or state["episode"] % config["save_every"] == 0:
                save()  # the final checkpoint is named after the episode reached
            if state["finished"]:
                break
    finally:
        if progress is not None:
            progress.close()
        log_handle.close()

    if stop.signum is not None:
        name = signal.Signals(stop.signum).name
        if saved_at_step == state["total_steps"]:
            what = "its checkpoint is complete"
        elif ckpt.manifest_file(run_dir, state["episode"]).exists():
            # Keep the exact checkpoint of this episode; only the partial episode is lost.
            what = f"kept the checkpoint of episode {state['episode']} (partial episode dropped)"
        else:
            state["wall_time"] = time.perf_counter() - session_start
            save(interrupted=True, partial_steps=episode_steps)
            what = "checkpoint written"
        print(
            f"stopped by {name} at episode {state['episode']}: {what}; "
            "continue with python main.py --recover",
            file=sys.stderr,
            flush=True,
        )
        env.close()
        return 128 + stop.signum
    if not state["finished"]:  # resumed with an --n_games the run had already reached
        state["finished"] = True
        save()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        finish(config, run_dir, env, agent, scores)
    except KeyboardInterrupt:
        print(
            "interrupted during the final recording: the checkpoint is complete; "
            "python main.py --recover makes the recording",
            file=sys.stderr,
        )
        return 130
    return 0


def finish(config, run_dir: Path, env, agent, scores, plot_only_missing: bool = False) -> None:
    """The learning curve and the recording of the trained agent."""
    from environment.video import h264_path
    from training.plotting import plot_learning_curve
    from training.recording import record_policy

    plot = run_dir / "train.png"
    if not (plot_only_missing and plot.exists()):
        plot_learning_curve(scores, plot, f"SAC on {config['env_name']}", config["solve_score"])
        print(f"learning curve: {plot}")
    env.close()
    video = run_dir / "simulation.mp4"
    recorded = video.exists() and h264_path(video).exists()
    if config["no_record"] or (plot_only_missing and recorded):
        return
    recorder = make_environment(config, render_mode="rgb_array")
    try:
        written = record_policy(
            recorder, agent, video, config["record_steps"], deterministic=True, seed=config["seed"]
        )
    finally:
        recorder.close()
    print("recording: " + ", ".join(str(Path(p)) for p in written))


def _progress_bar(config: dict[str, Any], initial: int):
    if config["no_progress"] or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=config["n_games"], initial=initial, unit="ep", dynamic_ncols=True)


def main(argv: Sequence[str] | None = None) -> int:
    args, explicit = parse_args(argv)
    try:
        config, run_dir = resolve_run(args, explicit)
        resume = None
        if args.recover:
            resume = ckpt.latest_good_checkpoint(run_dir, warn=lambda m: print(m, file=sys.stderr))
            if resume is None:
                raise UserError(f"nothing to recover: no complete checkpoint in {run_dir}")
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot use {run_dir} as the run folder ({exc.strerror})") from None
        lock = lock_run(run_dir)  # noqa: F841 (held until the process exits)
        if config.pop("_overwrite", False):
            remove_run(run_dir)
        for stale in run_dir.glob(".tmp_checkpoint_ep*"):  # left by a crash mid-save
            shutil.rmtree(stale, ignore_errors=True)
        return train(config, run_dir, resume)
    except UserError as exc:
        print(f"main.py: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
