"""The training loop: episodes of act, step, remember, learn, and what surrounds them.

    from training import RunConfig, train
    result = train(RunConfig(env_name="cartpole", seed=0, n_games=300), "save/my-run")

`train()` is what `main.py` runs and what a sweep calls in-process. It starts a run in an empty
folder or continues the one in it from its newest good checkpoint, reports every finished
episode to its callbacks, writes a checkpoint every `save_every` episodes, on SIGINT/SIGTERM and
at the end, then plots the learning curve and records the trained agent.
"""

from __future__ import annotations

import dataclasses
import errno
import gc
import math
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent import LOSS_NAMES
from training import checkpoints as ckpt
from training import random_state
from training.callbacks import Callback, EpisodeReport, ProgressBar, StopTraining
from training.config import (
    COMMAND_LINE,
    RunConfig,
    check_fits_in_memory,
    resumable_settings,
)
from training.curriculum import Curriculum
from training.locking import FolderInUse, lock_run
from training.log import LOG_FILE, CsvLog, prepare_for_resume
from training.runs import (
    CONFIG_FILE,
    RunError,
    as_config,
    import_tensorflow_quietly,
    make_agent,
    make_environment,
    recovered_config,
    remove_run,
    used_by,
)
from training.signals import StopRequest

PUSH_STREAM = 0x5055  # spawn key of the training pushes' generator ("PU")


@dataclass
class RunResult:
    """How a call of `train()` ended."""

    run_dir: Path
    episodes: int
    total_steps: int
    solved: bool
    finished: bool  # solved or out of episodes (False: stopped by a signal or a callback)
    stopped_by: str | None = None  # "SIGINT", "SIGTERM" or "callback"
    exit_code: int = 0


@dataclass
class Progress:
    """The counters a checkpoint keeps (training_state.json), besides the random states."""

    episode: int = 0
    total_steps: int = 0
    solved_streak: int = 0
    wall_time: float = 0.0
    finished: bool = False
    solved: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def counters(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name != "extra"]

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Progress:
        return cls(**{k: state[k] for k in cls.counters()}, extra=state)

    def to_state(self) -> dict[str, Any]:
        return {**self.extra, **{k: getattr(self, k) for k in self.counters()}}


@dataclass
class Episode:
    score: float
    steps: int
    losses: dict[str, float]
    complete: bool  # False: interrupted by a stop request, not scored


def train(
    config: RunConfig | Mapping[str, Any] | None,
    run_dir: str | Path,
    callbacks: Sequence[Callback] = (),
    recover: bool | str = False,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
    warn: Callable[[str], None] | None = None,
) -> RunResult:
    """Train in `run_dir`: a fresh run, or with `recover` the run there from its newest good
    checkpoint (`recover="auto"`: recover if there is a good checkpoint, else start fresh).

    `config` is a RunConfig or a mapping of settings. When a run is recovered, its own settings
    hold and `config` (None for none) may only change those that may change on --recover. A
    used folder is refused unless `overwrite` (which deletes the run there). Raises RunError or
    ConfigError in one line for what the caller can fix; nothing is deleted then. `log` takes
    progress messages, `warn` warnings (default: standard error).
    """
    if recover not in (True, False, "auto"):
        raise ValueError(f'recover must be True, False or "auto", got {recover!r}')
    if not all(callable(callback) for callback in callbacks):
        raise ValueError("callbacks must be callables that take an EpisodeReport")
    warn = warn or _to_stderr
    run_dir = Path(run_dir).expanduser().resolve()
    checkpoint = None
    if recover:
        checkpoint = ckpt.latest_good_checkpoint(run_dir, warn=warn)
        if checkpoint is None and recover != "auto":
            raise RunError(f"nothing to recover: no complete checkpoint in {run_dir}")
    if checkpoint is not None:
        saved, note = recovered_config(run_dir, checkpoint)
        if note:
            warn(note)
        config = resumed_config(saved, config, run_dir)
    else:
        leftovers = used_by(run_dir)
        if leftovers and not overwrite:
            raise RunError(
                f"{run_dir} already holds a run ({', '.join(leftovers)}): continue it "
                "with --recover, or start over with --overwrite (deletes that run)"
            )
        config = as_config(config or {})
        if config.seed is None:
            config = config.replace(seed=secrets.randbelow(2**31))
    check_fits_in_memory(config)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        lock = lock_run(run_dir)
    except FolderInUse as exc:
        raise RunError(str(exc)) from None
    except OSError as exc:
        raise RunError(f"cannot use {run_dir} as the run folder ({exc.strerror})") from None
    try:
        trainer = Trainer(config, run_dir, log, warn)  # writes nothing yet
        if checkpoint is None and overwrite:
            remove_run(run_dir)
        for stale in run_dir.glob(".tmp_checkpoint_ep*"):  # left by a crash mid-save
            shutil.rmtree(stale, ignore_errors=True)
        return trainer.run(checkpoint, callbacks)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise _disk_full(run_dir) from None
    finally:
        lock.close()


def _disk_full(run_dir: Path) -> RunError:
    # save_checkpoint has removed its half-written folder already.
    good = ckpt.latest_good_checkpoint(run_dir, warn=lambda _: None)
    if good is None:
        return RunError(
            f"the disk is full ({run_dir}): no checkpoint could be written; free some space and "
            "start again with --overwrite (it deletes what this run wrote)"
        )
    return RunError(
        f"the disk is full ({run_dir}): the newest good checkpoint is episode {good.episode}; "
        "free some space (or copy the folder to a disk with room) and continue with --recover"
    )


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def resumed_config(
    saved: RunConfig, given: RunConfig | Mapping[str, Any] | None, run_dir: Path
) -> RunConfig:
    """The saved settings with the given changes; a change to a fixed setting is refused."""
    changes = dict(given.to_dict() if isinstance(given, RunConfig) else given or {})
    if isinstance(given, RunConfig) and given.seed is None:
        changes.pop("seed")
    merged = RunConfig.from_mapping({**saved.to_dict(), **changes}, COMMAND_LINE)
    if merged.env_name != saved.env_name:
        raise RunError(f"{run_dir} holds a {saved.env_name} run, not {merged.env_name}")
    for name in changes:
        if name not in resumable_settings() and getattr(merged, name) != getattr(saved, name):
            raise RunError(
                f"--{name} cannot change when resuming (this run uses {getattr(saved, name)})"
            )
    return merged


@dataclass(frozen=True)
class EpisodePlan:
    """How the next training episode is played: what its reset takes (the curriculum's share
    of the perturbations), whether it counts toward solving, and the updates per learn call."""

    reset_options: dict[str, float]
    counted: bool
    update_every: int


def run_episode(env, agent, progress: Progress, stop, plan: EpisodePlan) -> Episode:
    """One training episode: reset, then act, step, remember and learn until it ends.

    Every `plan.update_every` steps of the run the agent learns that many updates in one call.
    The score is the environment's own return (`info["episode"]`), whatever reward the agent
    learns from (a wrapper may shape it); a stop request ends the episode unscored."""
    observation, _ = env.reset(options=plan.reset_options)
    steps, done, losses = 0, False, LossMeans()
    while not done:
        action = agent.act(observation, counted=plan.counted)
        next_observation, reward, terminated, truncated, info = env.step(action)
        agent.remember(observation, action, reward, next_observation, terminated)
        observation, done = next_observation, terminated or truncated
        steps += 1
        progress.total_steps += 1
        if progress.total_steps % plan.update_every == 0:
            losses.add(agent.learn(plan.update_every))
        if stop.requested and not done:
            return Episode(math.nan, steps, losses.means(), complete=False)
    return Episode(info["episode"]["r"], steps, losses.means(), complete=True)


class LossMeans:
    """Running means of the losses `agent.learn` returns (None before the first batch)."""

    def __init__(self) -> None:
        self.sums = dict.fromkeys(LOSS_NAMES, 0.0)
        self.counts = dict.fromkeys(LOSS_NAMES, 0)

    def add(self, losses: dict[str, float] | None) -> None:
        for key in LOSS_NAMES if losses is not None else ():
            if key in losses:  # alpha_loss only with learn_alpha
                self.sums[key] += losses[key]
                self.counts[key] += 1

    def means(self) -> dict[str, float]:
        return {k: self.sums[k] / n for k, n in self.counts.items() if n}


def solved_at(config: RunConfig, scores: Sequence[float]) -> int | None:
    """The episode at which a run with `config` that scored `scores` was solved, or None: the
    solved rule replayed over its log (for a run folder kept without its checkpoints, such as
    a shipped result); see `Curriculum.solved_at`."""
    return Curriculum.from_config(config).solved_at(scores)


def training_environment(config: RunConfig, push_rng: np.random.Generator):
    """The run's environment as training plays it: with its pushes (drawn from `push_rng`, a
    generator the checkpoints keep) and its margin reward, and the environment's own return
    recorded in `info["episode"]` at each episode's end."""
    from gymnasium.wrappers import RecordEpisodeStatistics

    from environment.wrappers import MarginReward, Pushes

    env = make_environment(config, start_noise=config.start_noise)
    if config.train_push > 0:
        env = Pushes(
            env, config.train_push, push_rng, every=config.train_push_every,
            uniform=config.push_uniform,
        )  # fmt: skip
    env = RecordEpisodeStatistics(env)
    return MarginReward(env, config.margin_penalty) if config.margin_penalty else env


class Trainer:
    """One session of a run: builds the environment and agent, loops, checkpoints, finishes."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: Path,
        log: Callable[[str], None],
        warn: Callable[[str], None],
    ) -> None:
        self.config, self.run_dir, self.log, self.warn = config, run_dir, log, warn
        self.tf = import_tensorflow_quietly()
        from agent.agent import configure_threads

        try:
            configure_threads(config.tf_threads or None)
        except RuntimeError:  # TensorFlow already runs in this process (a sweep, a notebook)
            raise RunError(
                f"tf_threads {config.tf_threads}: TensorFlow already runs in this process with "
                "other thread settings; use the same tf_threads for every run of one process"
            ) from None
        self.push_rng = np.random.default_rng(
            np.random.SeedSequence(config.seed, spawn_key=(PUSH_STREAM,))
        )
        self.env = training_environment(config, self.push_rng)
        self.agent = make_agent(config, self.env)
        self.curriculum = Curriculum.from_config(config)
        self.progress = Progress()
        self.scores: list[float] = []
        self.share = 1.0  # of the perturbations, in the episode being played
        self.saved_at_step = -1
        self.stop = StopRequest()

    # ---- starting -------------------------------------------------------------------------

    def start_fresh(self) -> None:
        # The agent and the environment own their generators; the global ones are seeded too
        # so that nothing in the run depends on the process it runs in.
        random_state.seed_globals(self.config.seed)
        self.env.reset(seed=self.config.seed)  # seeds the environment's generator once per run

    def resume(self, checkpoint: ckpt.Checkpoint) -> None:
        state = checkpoint.training_state()
        try:
            self.agent.load_models(str(checkpoint.models_dir))
        except ValueError as exc:
            raise RunError(f"cannot resume from {checkpoint.models_dir}: {exc}") from None
        if checkpoint.buffer_dir is not None:
            self.agent.load_replay_buffer(str(checkpoint.buffer_dir))
        else:
            self.warn(
                f"the checkpoint of episode {checkpoint.episode} has no replay buffer (pruned): "
                "training goes on with an empty buffer"
            )
        self.scores = [float(s) for s in np.load(checkpoint.scores_file)]
        random_state.restore(state["random"], self.env, self.push_rng)
        self.progress = Progress.from_state(state)
        self.saved_at_step = self.progress.total_steps
        note = prepare_for_resume(self.run_dir / LOG_FILE, checkpoint.episode, self.scores)
        if note:
            self.warn(note)

    # ---- the run --------------------------------------------------------------------------

    def run(self, checkpoint: ckpt.Checkpoint | None, callbacks: Sequence[Callback]) -> RunResult:
        try:
            return self._run(checkpoint, callbacks)
        finally:
            self.stop.release()  # the caller's signal handlers again

    def _run(self, checkpoint: ckpt.Checkpoint | None, callbacks: Sequence[Callback]) -> RunResult:
        self.start_fresh() if checkpoint is None else self.resume(checkpoint)
        done = self.progress
        if checkpoint is not None and done.finished and (done.solved or self._out_of_episodes()):
            why = "solved" if done.solved else f"reached n_games {self.config.n_games}"
            self.log(f"run {self.run_dir} already finished at episode {done.episode} ({why})")
            self.finish(only_missing=True)
            return self._result()
        done.finished = False
        if checkpoint is not None:
            self.log(
                f"resuming {self.config.env_name} from episode {done.episode} ({self.run_dir})"
            )
        ckpt.write_json_atomic(
            self.run_dir / CONFIG_FILE, {**self.config.to_dict(), "save_dir": str(self.run_dir)}
        )
        stopped_by = self.loop(callbacks)
        if stopped_by is not None:
            return self._result(stopped_by)
        if not done.finished:  # resumed with an n_games the run had already reached
            done.finished = True
            self.save()
        try:
            self.finish()
        except KeyboardInterrupt:
            self.warn(
                "interrupted during the final recording: the checkpoint is complete; "
                "python main.py --recover makes the recording"
            )
            return self._result("SIGINT")
        return self._result()

    def loop(self, extra_callbacks: Sequence[Callback]) -> str | None:
        """Episodes until solved, out of episodes or stopped; returns what stopped it, if any."""
        bar = ProgressBar(self.config.n_games, self.progress.episode, not self.config.no_progress)
        csv_log = CsvLog(self.run_dir / LOG_FILE)
        callbacks = [csv_log, bar, *self._tensorboard(), *extra_callbacks]
        self.stop.install()
        session_start = time.perf_counter() - self.progress.wall_time
        # Everything built so far (TensorFlow, Keras, the networks) lives for the whole run:
        # keep it out of the garbage collector's full passes, which would walk it again and again.
        gc.collect()
        gc.freeze()
        stopped_by, episode = None, None
        try:
            while not self._out_of_episodes() and not self.stop.requested:
                plan = self.plan_episode()
                started = time.perf_counter()
                episode = run_episode(self.env, self.agent, self.progress, self.stop, plan)
                if not episode.complete:
                    break
                report = self.score(episode, started, session_start)
                try:
                    for callback in callbacks:
                        callback(report)
                except StopTraining:
                    stopped_by = "callback"
                self.progress.finished = self.progress.solved or self._out_of_episodes()
                if self.progress.finished or stopped_by or self._checkpoint_due():
                    self.save()  # the final checkpoint is named after the episode reached
                if self.progress.finished or stopped_by:
                    break
        finally:
            gc.unfreeze()  # a later run in this process (a sweep) must be able to free this one
            self.stop.restore()
            for callback in callbacks:
                getattr(callback, "close", lambda: None)()
        if self.stop.requested:
            self.save_on_signal(episode, session_start)
            return self.stop.name
        return stopped_by

    def plan_episode(self) -> EpisodePlan:
        """The next episode's share of the perturbations (the scores come back with a
        checkpoint: the curriculum resumes exactly) and whether it can count toward solving."""
        self.share = self.curriculum.share(self.scores)
        return EpisodePlan(
            self.curriculum.reset_options(self.share), self.share >= 1.0, self.config.update_every
        )

    def score(self, episode: Episode, started: float, session_start: float) -> EpisodeReport:
        """Count a finished episode and describe it for the callbacks."""
        done, config = self.progress, self.config
        done.episode += 1
        self.scores.append(episode.score)
        counts = self.curriculum.counts(episode.score, self.share)  # not on the ramp
        done.solved_streak = done.solved_streak + 1 if counts else 0
        if done.solved_streak >= config.solve_count and not done.solved:
            done.solved = True
            self.log(
                f"solved at episode {done.episode}: {config.solve_count} consecutive "
                f"episodes scored at least {config.solve_score:g}"
            )
        done.wall_time = time.perf_counter() - session_start
        return EpisodeReport(
            episode=done.episode,
            score=episode.score,
            avg_score=float(np.mean(self.scores[-100:])),
            steps=episode.steps,
            total_steps=done.total_steps,
            updates=int(self.agent.update_count),
            skipped_updates=int(self.agent.skipped_updates),
            wall_time=done.wall_time,
            steps_per_second=episode.steps / max(time.perf_counter() - started, 1e-9),
            solved=done.solved,
            losses=episode.losses,
        )

    def _out_of_episodes(self) -> bool:
        return self.progress.episode >= self.config.n_games

    def _checkpoint_due(self) -> bool:
        return self.progress.episode % self.config.save_every == 0

    def _tensorboard(self) -> list[Callback]:
        if not self.config.tensorboard:
            return []
        from training.callbacks import TensorBoardLog

        return [TensorBoardLog(self.run_dir)]

    def _result(self, stopped_by: str | None = None) -> RunResult:
        signals = {"SIGINT": 130, "SIGTERM": 143}
        return RunResult(
            run_dir=self.run_dir,
            episodes=self.progress.episode,
            total_steps=self.progress.total_steps,
            solved=self.progress.solved,
            finished=self.progress.finished,
            stopped_by=stopped_by,
            exit_code=signals.get(stopped_by or "", 0),
        )

    # ---- checkpoints and the end ------------------------------------------------------------

    def save(self, interrupted: bool = False, partial_steps: int = 0) -> None:
        """Write the checkpoint of the episode reached (atomically), prune old replay buffers
        and redraw the learning curve."""
        from training.plotting import plot_learning_curve

        done, agent, config = self.progress, self.agent, self.config
        done.extra["random"] = random_state.capture(self.env, self.push_rng)
        done.extra["update_count"] = int(agent.update_count)
        started = time.perf_counter()
        ckpt.ensure_room(self.run_dir, agent.saved_nbytes() + 8 * len(self.scores))
        size = ckpt.save_checkpoint(
            self.run_dir,
            done.episode,
            save_models=lambda p: agent.save_models(str(p)),
            save_buffer=lambda p: agent.save_replay_buffer(str(p)),
            save_scores=lambda p: np.save(p, np.asarray(self.scores, dtype=np.float64)),
            training_state=done.to_state(),
            info={
                "env_name": config.env_name,
                "total_steps": done.total_steps,
                "update_count": int(agent.update_count),
                "interrupted": interrupted,
                "partial_episode_steps": partial_steps,
                "config": {**config.to_dict(), "save_dir": str(self.run_dir)},
            },
        )
        self.saved_at_step = done.total_steps
        ckpt.prune_buffers(self.run_dir, config.keep_buffers, newest=done.episode)
        plot_learning_curve(
            self.scores, self.run_dir / "train.png", config.task_name(), config.solve_score
        )
        self.log(
            f"checkpoint: episode {done.episode}, {size / 1e6:.1f} MB, "
            f"{time.perf_counter() - started:.1f} s -> {self.run_dir}"
        )

    def save_on_signal(self, episode: Episode | None, session_start: float) -> None:
        """After SIGINT/SIGTERM: keep or write the checkpoint of the episode reached."""
        done = self.progress
        if self.saved_at_step == done.total_steps:
            what = "its checkpoint is complete"
        elif ckpt.manifest_file(self.run_dir, done.episode).exists():
            # Keep the exact checkpoint of this episode; only the partial episode is lost.
            what = f"kept the checkpoint of episode {done.episode} (partial episode dropped)"
        else:
            done.wall_time = time.perf_counter() - session_start
            partial = episode.steps if episode is not None and not episode.complete else 0
            self.save(interrupted=True, partial_steps=partial)
            what = "checkpoint written"
        self.warn(
            f"stopped by {self.stop.name} at episode {done.episode}: {what}; "
            "continue with python main.py --recover"
        )

    def finish(self, only_missing: bool = False) -> None:
        """The learning curve and the recording of the trained agent (`only_missing`: make
        only what a run that finished earlier does not have yet)."""
        from environment.environment import SCREEN_SIZE
        from environment.video import describe_videos, h264_path
        from training.plotting import plot_learning_curve
        from training.recording import record_policy

        config, plot = self.config, self.run_dir / "train.png"
        if not (only_missing and plot.exists()):
            plot_learning_curve(self.scores, plot, config.task_name(), config.solve_score)
            self.log(f"learning curve: {plot}")
        self.env.close()
        video = self.run_dir / "simulation.mp4"
        if config.no_record or (only_missing and video.exists() and h264_path(video).exists()):
            return
        camera = {"zoom": config.zoom} if config.zoom != 1 else {}
        recorder = make_environment(config, render_mode="rgb_array", **camera)
        try:
            written = record_policy(
                recorder, self.agent.policy(), video, config.record_steps, seed=config.seed
            )
        finally:
            recorder.close()
        self.log(f"recording: {describe_videos(written, SCREEN_SIZE)}")
