"""training/loop.py: train() from Python, its per-episode callbacks and how a run ends."""

from __future__ import annotations

import dataclasses
import errno
import gc
import signal

import numpy as np
import pytest

from agent import LOSS_NAMES
from tests.run_helpers import TINY_SETTINGS, assert_same_run, read_log, train_tiny
from training import ConfigError, EpisodeReport, RunConfig, RunError, StopTraining, train
from training import checkpoints as ckpt
from training.curriculum import ramp_factor

pytestmark = pytest.mark.usefixtures("no_xla")


def test_callbacks_get_one_report_per_episode_with_the_documented_fields(tmp_path):
    reports: list[EpisodeReport] = []
    result, _ = train_tiny(tmp_path / "run", [reports.append], n_games=4, save_every=2)
    assert [f.name for f in dataclasses.fields(EpisodeReport)] == [
        "episode", "score", "avg_score", "steps", "total_steps", "updates", "skipped_updates",
        "wall_time", "steps_per_second", "solved", "losses",
    ]  # fmt: skip
    assert [r.episode for r in reports] == [1, 2, 3, 4] and result.episodes == 4
    scores = [r.score for r in reports]
    np.testing.assert_array_equal(scores, np.load(tmp_path / "run" / "score_history_4.npy"))
    for i, report in enumerate(reports):
        assert report.avg_score == pytest.approx(np.mean(scores[: i + 1]))
        assert report.total_steps == sum(r.steps for r in reports[: i + 1])
        # One update after every step once the buffer holds a batch (16 transitions).
        assert report.updates == max(0, report.total_steps - 15) and report.skipped_updates == 0
        assert report.steps_per_second > 0 and not report.solved
        if report.updates:
            assert set(report.losses) == set(LOSS_NAMES) - {"alpha_loss"}
            assert all(np.isfinite(v) for v in report.losses.values())
    assert [r.wall_time for r in reports] == sorted(r.wall_time for r in reports)
    assert result.total_steps == reports[-1].total_steps
    # The CSV log is one of the callbacks: it says what the reports say.
    rows = read_log(tmp_path / "run")
    assert [float(row["score"]) for row in rows] == scores
    assert [int(row["updates"]) for row in rows] == [r.updates for r in reports]


def test_update_every_k_learns_k_updates_in_one_call_after_every_k_steps(tmp_path, monkeypatch):
    """--update_every 4: the agent learns after every 4th step, 4 updates in one call (none
    until the buffer holds a batch of 16 transitions), so the updates grow in blocks of 4."""
    from agent.agent import SACAgent

    calls: list[tuple[int, int]] = []  # (transitions stored, n_updates) of every learn call
    real_learn = SACAgent.learn

    def spy(self, n_updates=1):
        calls.append((len(self.memory), n_updates))
        return real_learn(self, n_updates)

    monkeypatch.setattr(SACAgent, "learn", spy)
    reports: list[EpisodeReport] = []
    result, _ = train_tiny(tmp_path / "run", [reports.append], n_games=3, update_every=4)
    assert calls == [(steps, 4) for steps in range(4, result.total_steps + 1, 4)]
    for report in reports:
        assert report.updates == 4 * len(range(16, report.total_steps + 1, 4))
    assert reports[-1].updates >= 8
    checkpoint = ckpt.latest_good_checkpoint(tmp_path / "run")
    assert checkpoint.manifest["update_count"] == reports[-1].updates


def test_a_solved_task_ends_the_run(tmp_path):
    reports: list[EpisodeReport] = []
    result, said = train_tiny(
        tmp_path / "run", [reports.append], n_games=50, save_every=100, solve_score=1, solve_count=2
    )
    assert result.solved and result.finished and result.episodes == 2
    assert [r.solved for r in reports] == [False, True]
    assert "solved at episode 2: 2 consecutive episodes scored at least 1" in said.logged
    # The final checkpoint is named after the episode reached, not after n_games.
    assert ckpt.latest_good_checkpoint(tmp_path / "run").episode == 2


def test_stop_training_from_a_callback_ends_the_run_with_a_checkpoint(tmp_path):
    def stop_after_two(report: EpisodeReport) -> None:
        if report.episode == 2:
            raise StopTraining

    result, _ = train_tiny(tmp_path / "run", [stop_after_two], n_games=10, save_every=1000)
    assert (result.stopped_by, result.finished, result.episodes, result.exit_code) == (
        "callback", False, 2, 0,
    )  # fmt: skip
    checkpoint = ckpt.latest_good_checkpoint(tmp_path / "run")
    assert checkpoint.episode == 2 and checkpoint.manifest["interrupted"] is False
    result, said = train_tiny(tmp_path / "run", n_games=3, recover=True)
    assert result.finished and result.episodes == 3
    assert said.logged[0].startswith("resuming CartpoleEnvironment from episode 2")


def test_recover_auto_starts_fresh_in_an_empty_folder_and_resumes_in_a_used_one(tmp_path):
    run_dir = tmp_path / "run"
    result, said = train_tiny(run_dir, n_games=1, recover="auto")
    assert result.episodes == 1 and not any("resuming" in m for m in said.logged)
    result, said = train_tiny(run_dir, n_games=2, recover="auto")
    assert result.episodes == 2 and said.logged[0].startswith("resuming")
    assert [int(r["episode"]) for r in read_log(run_dir)] == [1, 2]
    # A folder with what another run left but no checkpoint is not taken for a fresh one.
    leftovers = tmp_path / "leftovers"
    leftovers.mkdir()
    (leftovers / "train.png").write_bytes(b"old")
    with pytest.raises(RunError, match="already holds a run .train.png."):
        train_tiny(leftovers, n_games=1, recover="auto")
    assert (leftovers / "train.png").read_bytes() == b"old"


def test_train_twice_in_one_process_gives_the_same_run(tmp_path):
    """What a sweep does: runs one after another in one process, none leaking into the next
    (random states, signal handlers, frozen garbage)."""
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    config = RunConfig(**{**TINY_SETTINGS, "n_games": 3, "no_record": True, "no_progress": True})
    first = train(config, tmp_path / "a", log=lambda m: None)
    assert gc.get_freeze_count() == 0
    np.random.seed(99)  # noqa: NPY002 (the caller's global state must not matter)
    second = train(config, tmp_path / "b", log=lambda m: None)
    assert first.episodes == second.episodes == 3
    assert_same_run(tmp_path / "a", tmp_path / "b", 3)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


def test_recover_keeps_the_runs_settings_and_refuses_another_task(tmp_path):
    run_dir = tmp_path / "run"
    train_tiny(run_dir, n_games=1)
    with pytest.raises(RunError, match="holds a CartpoleEnvironment run, not HumanoidStanding"):
        train(RunConfig(env_name="standing"), run_dir, recover=True, log=lambda m: None)
    # A RunConfig given on --recover changes only what may change; its unset seed is ignored.
    given = RunConfig(**{**TINY_SETTINGS, "seed": None, "n_games": 2, "no_record": True})
    result = train(given, run_dir, recover=True, log=lambda m: None, warn=lambda m: None)
    assert result.episodes == 2


def test_a_thread_setting_tensorflow_cannot_take_is_one_line(tmp_path):
    import tensorflow as tf

    tf.constant(1.0) + 1.0  # TensorFlow runs in this process: its threads are fixed
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    with pytest.raises(RunError, match=f"^tf_threads {threads + 3}: TensorFlow already runs"):
        train_tiny(tmp_path / "run", n_games=1, tf_threads=threads + 3)


def test_a_full_disk_is_one_line_naming_the_newest_good_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    ensure_room = ckpt.ensure_room

    def third_checkpoint_does_not_fit(run_dir, nbytes):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        ensure_room(run_dir, nbytes)

    monkeypatch.setattr(ckpt, "ensure_room", third_checkpoint_does_not_fit)
    with pytest.raises(RunError) as error:
        train_tiny(tmp_path / "run", n_games=10)
    assert str(error.value) == (
        f"the disk is full ({tmp_path / 'run'}): the newest good checkpoint is episode 2; free "
        "some space (or copy the folder to a disk with room) and continue with --recover"
    )


def test_a_disk_that_fills_up_mid_checkpoint_leaves_no_temporary_files(tmp_path, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", disk_full)  # the score history, the checkpoint's last piece
    with pytest.raises(RunError, match="no checkpoint could be written; free some space and st"):
        train_tiny(tmp_path / "run", n_games=10)
    assert sorted(p.name for p in (tmp_path / "run").glob(".*")) == [".lock"]
    assert not ckpt.has_checkpoint_files(tmp_path / "run")


def test_arguments_of_train_that_cannot_work(tmp_path):
    with pytest.raises(ValueError, match='^recover must be True, False or "auto", got .yes.$'):
        train({}, tmp_path / "run", recover="yes")
    with pytest.raises(ValueError, match="^callbacks must be callables"):
        train({}, tmp_path / "run", callbacks=["print"])
    with pytest.raises(ConfigError, match="^settings: unknown setting 'n_episodes'$"):
        train({"n_episodes": 3}, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_margin_penalty_changes_what_the_agent_learns_from_not_the_score(tmp_path, monkeypatch):
    """--margin_penalty w: the agent remembers 1 - w * mean(shares^2) of the state reached for
    a surviving step (0 for the terminating one); the log still scores 1 per step."""
    from agent.agent import SACAgent
    from environment import CartpoleEnvironment

    remembered = []
    real_remember = SACAgent.remember

    def spy(self, state, action, reward, new_state, terminated):
        remembered.append((reward, np.array(new_state), terminated))
        real_remember(self, state, action, reward, new_state, terminated)

    monkeypatch.setattr(SACAgent, "remember", spy)
    train_tiny(tmp_path / "run", n_games=3, margin_penalty=0.8)
    env = CartpoleEnvironment()
    for reward, new_state, terminated in remembered:
        shares = np.clip(env.limit_shares(new_state), 0.0, 1.0)
        assert reward == pytest.approx(0.0 if terminated else 1 - 0.8 * np.mean(shares**2))
    assert any(0.0 < reward < 0.99 for reward, _, _ in remembered)
    rows = read_log(tmp_path / "run")
    # 1 per surviving step, 0 for a terminating one: whole numbers, not the learned reward
    assert all(float(r["score"]) in (int(r["steps"]) - 1, int(r["steps"])) for r in rows)


def test_a_time_limit_is_stored_as_not_terminated_so_the_critics_bootstrap(tmp_path, monkeypatch):
    """The agent remembers `terminated`, never `terminated or truncated`: the last transition of
    an episode cut by --max_steps is stored as not terminated (its value is bootstrapped), the
    last of an episode that failed as terminated, and every other one as not terminated."""
    from agent.agent import SACAgent

    flags = []
    real_remember = SACAgent.remember

    def spy(self, state, action, reward, new_state, terminated):
        flags.append(terminated)
        real_remember(self, state, action, reward, new_state, terminated)

    monkeypatch.setattr(SACAgent, "remember", spy)
    train_tiny(tmp_path / "run", n_games=8, max_steps=12, seed=0)
    rows = read_log(tmp_path / "run")
    assert len(flags) == sum(int(r["steps"]) for r in rows)
    kinds, start = set(), 0
    for row in rows:
        steps = int(row["steps"])
        failed = float(row["score"]) == steps - 1  # the failing step scores 0
        kinds.add("failed" if failed else "cut by the time limit")
        assert steps == 12 or failed
        assert flags[start : start + steps] == [False] * (steps - 1) + [failed]
        start += steps
    assert kinds == {"failed", "cut by the time limit"}


def test_mirror_also_remembers_every_transition_reflected(tmp_path, monkeypatch):
    """--mirror: each step stores its transition, then the same one seen in the mirror
    (observations and action reflected, the same reward and end), in the buffer."""
    from agent.buffer import ReplayBuffer
    from environment import CartpoleEnvironment

    remembered = []
    real_store = ReplayBuffer.store_transition

    def spy(self, *transition):
        remembered.append(transition)
        real_store(self, *transition)

    monkeypatch.setattr(ReplayBuffer, "store_transition", spy)
    result, _ = train_tiny(tmp_path / "run", n_games=3, mirror=True, margin_penalty=0.5)
    assert len(remembered) == 2 * result.total_steps
    env = CartpoleEnvironment()
    env.reset(seed=0)
    for seen, reflected in zip(remembered[::2], remembered[1::2], strict=True):
        state, action, reward, new_state, terminated = seen
        np.testing.assert_allclose(reflected[0], env.mirror.observation(state), rtol=1e-6)
        np.testing.assert_allclose(reflected[1], -np.asarray(action), rtol=1e-6)
        assert reflected[2] == reward and reflected[4] == terminated
        np.testing.assert_allclose(reflected[3], env.mirror.observation(new_state), rtol=1e-6)
    assert any(abs(s[0][0] - 3.0) > 0.01 for s in remembered[::2])  # the cart did move


def test_symmetric_policy_acts_with_the_mirror_in_training(tmp_path, monkeypatch):
    """--symmetric_policy: every training action comes from the symmetric version of the
    policy (choose_action gets the environment's mirror); without it, from the policy itself."""
    from agent.agent import SACAgent

    mirrors = []
    real_choose = SACAgent.choose_action

    def spy(self, observation, deterministic=False, averaged=False, mirror=None):
        mirrors.append(mirror)
        return real_choose(self, observation, deterministic, averaged, mirror)

    monkeypatch.setattr(SACAgent, "choose_action", spy)
    result, _ = train_tiny(tmp_path / "run", n_games=2, symmetric_policy=True)
    assert len(mirrors) == result.total_steps
    assert all(m is not None and list(m.action_sign) == [-1.0] for m in mirrors)
    mirrors.clear()
    train_tiny(tmp_path / "plain", n_games=1)
    assert mirrors and all(m is None for m in mirrors)


def perturbations_of_each_episode(monkeypatch) -> list[tuple[float, float | None]]:
    """Record (start noise, push strength) of every episode a run plays from now on."""
    from training import loop

    seen: list[tuple[float, float | None]] = []
    real_run_episode = loop.run_episode

    def spy(env, agent, progress, stop, plan):
        options = plan.reset_options
        seen.append((options["start_noise"], options.get("push_strength")))
        return real_run_episode(env, agent, progress, stop, plan)

    monkeypatch.setattr(loop, "run_episode", spy)
    return seen


def test_a_perturbation_ramp_grows_noise_and_pushes_and_solving_waits_for_it(tmp_path, monkeypatch):
    """--perturb_ramp 4: episodes 1..5 get 0, 1/4, 2/4, 3/4 and all of --start_noise and
    --train_push; an episode on the ramp never counts towards solving."""
    from training import loop

    seen = perturbations_of_each_episode(monkeypatch)
    perturbed = dict(start_noise=0.2, train_push=0.8, train_push_every=10, perturb_ramp=4)
    result, said = train_tiny(
        tmp_path / "run", n_games=9, save_every=100, solve_score=0, solve_count=2, **perturbed
    )
    shares = [0, 0.25, 0.5, 0.75, 1, 1]
    assert [x for pair in seen for x in pair] == pytest.approx(
        [x for s in shares for x in (0.2 * s, 0.8 * s)]
    )
    # Every episode scores at least 0: the first two after the ramp (5 and 6) solve it.
    assert result.solved and result.episodes == 6
    assert "solved at episode 6: 2 consecutive episodes scored at least 0" in said.logged
    assert [ramp_factor(n, 0) for n in (0, 7)] == [1.0, 1.0]
    # The rule replayed over the log (a run folder without checkpoints) finds the same episode.
    scores = [float(row["score"]) for row in read_log(tmp_path / "run")]
    assert loop.solved_at(recorded_config(tmp_path / "run"), scores) == 6


def test_a_ramp_by_success_counts_episodes_at_the_solve_score(tmp_path, monkeypatch):
    """--ramp_by_success: the share of an episode is (earlier episodes scoring at least
    --solve_score) / --perturb_ramp, so failures hold the perturbations where they are."""
    seen = perturbations_of_each_episode(monkeypatch)
    perturbed = dict(start_noise=0.2, perturb_ramp=3, ramp_by_success=True, solve_score=15)
    result, _ = train_tiny(tmp_path / "run", n_games=12, save_every=100, **perturbed)
    scores = [float(row["score"]) for row in read_log(tmp_path / "run")]
    successes = np.cumsum(np.asarray(scores) >= 15)
    expected = [min(1.0, n / 3) for n in [0, *successes[:-1]]]
    assert [noise / 0.2 for noise, _ in seen] == pytest.approx(expected)
    # The run has failures before the ramp's end: an episode ramp would have grown on them.
    assert expected != [min(1.0, k / 3) for k in range(12)]
    with pytest.raises(ConfigError, match="ramp_by_success needs a perturb_ramp"):
        RunConfig(ramp_by_success=True, start_noise=0.2)


def recorded_config(run_dir) -> RunConfig:
    from training.runs import load_config

    return RunConfig.from_mapping(load_config(run_dir))


def test_the_solved_rule_replayed_over_a_log_counts_only_full_perturbation_episodes():
    from training.loop import solved_at

    rule = dict(solve_score=10, solve_count=2)
    assert solved_at(RunConfig(**rule), [1, 10, 3, 10, 10, 10]) == 5
    assert solved_at(RunConfig(**rule), [10, 3, 10]) is None
    # A ramp of 3 episodes: episodes 1 to 3 are on it and never count.
    ramped = RunConfig(**rule, start_noise=0.2, perturb_ramp=3)
    assert solved_at(ramped, [10, 10, 10, 10, 10]) == 5
    # A ramp of 2 successes: the third success is the first at the full share.
    by_success = RunConfig(**rule, start_noise=0.2, perturb_ramp=2, ramp_by_success=True)
    assert solved_at(by_success, [1, 10, 1, 10, 10, 1, 10, 10]) == 8
    assert solved_at(by_success, [1, 10, 1, 10, 10, 10]) == 6


def test_the_solved_rule_replayed_over_every_shipped_log_ends_where_its_run_ended():
    """Every shipped run (results/) stopped when it was solved, or at n_games: the replay over
    its log, which a report of a shipped run relies on, agrees with the run on each."""
    from pathlib import Path

    from training.loop import solved_at

    runs = sorted(p.parent for p in (Path(__file__).parents[1] / "results").rglob("config.json"))
    runs = [r for r in runs if (r / "train_log.csv").exists()]
    assert len(runs) >= 10
    for run in runs:
        config = recorded_config(run)
        scores = [float(row["score"]) for row in read_log(run)]
        solved = solved_at(config, scores)
        assert solved == len(scores) or (solved is None and len(scores) == config.n_games), run


def actions_of_a_run(monkeypatch, run_dir, **settings) -> list[tuple[float, int, bool, bool]]:
    """(episode's start noise, updates made, deterministic, averaged) of every action a tiny run
    chooses."""
    from agent.agent import SACAgent

    calls: list[tuple[float, int, bool, bool]] = []
    real_choose = SACAgent.choose_action
    with monkeypatch.context() as patch:
        episodes = perturbations_of_each_episode(patch)

        def spy_choose(self, observation, deterministic=False, averaged=False, mirror=None):
            calls.append((episodes[-1][0], self.update_count, deterministic, averaged))
            return real_choose(self, observation, deterministic, averaged, mirror)

        patch.setattr(SACAgent, "choose_action", spy_choose)
        assert train_tiny(run_dir, **settings)[0].finished
    return calls


def test_act_averaged_plays_the_episodes_after_the_ramp_with_the_averaged_actor(
    tmp_path, monkeypatch
):
    """--act_averaged: on the perturbation ramp the actor samples the actions; at full share,
    the averaged actor (sampled too) once the agent has made 3 x --average_actor updates; a run
    resumes exactly with it."""
    # No ramp: every episode is at full share, and the average plays from 3 x 10 updates on.
    calls = actions_of_a_run(
        monkeypatch, tmp_path / "warmup", n_games=6, average_actor=10, act_averaged=True,
        start_noise=0.1,
    )  # fmt: skip
    assert not any(deterministic for _, _, deterministic, _ in calls)
    assert all(averaged == (updates >= 30) for _, updates, _, averaged in calls)
    assert {averaged for *_, averaged in calls} == {False, True}
    # A ramp of 3 episodes: the actor plays on it, past the 3 x 2 updates too.
    settings = dict(
        average_actor=2, act_averaged=True, start_noise=0.1, perturb_ramp=3, save_every=2
    )
    straight, split = tmp_path / "straight", tmp_path / "split"
    calls = actions_of_a_run(monkeypatch, straight, n_games=6, **settings)
    on_ramp = [(updates, averaged) for n, updates, _, averaged in calls if n < 0.0999]
    at_full = [(updates, averaged) for n, updates, _, averaged in calls if n > 0.0999]
    assert not any(averaged for _, averaged in on_ramp)
    assert any(updates >= 6 for updates, _ in on_ramp)
    assert at_full and all(averaged == (updates >= 6) for updates, averaged in at_full)
    assert train_tiny(split, n_games=3, **settings)[0].finished
    assert train_tiny(split, n_games=6, recover=True)[0].finished
    assert_same_run(straight, split, 6)
    with pytest.raises(ConfigError, match="act_averaged needs an average_actor"):
        RunConfig(act_averaged=True)


@pytest.mark.parametrize("by_success", [False, True])
def test_a_perturbed_run_resumes_exactly(tmp_path, by_success):
    """Start noise, pushes and their ramp (of episodes or of successes) are part of the exact
    resume."""
    perturbed = dict(
        start_noise=0.3, train_push=1.0, train_push_every=6, perturb_ramp=3,
        ramp_by_success=by_success, solve_score=12,
    )  # fmt: skip
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert train_tiny(straight, n_games=6, save_every=2, **perturbed)[0].finished
    assert train_tiny(split, n_games=3, save_every=2, **perturbed)[0].finished
    assert train_tiny(split, n_games=6, recover=True)[0].finished
    assert_same_run(straight, split, 6)
