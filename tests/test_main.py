"""main.py: its command line, its one-line errors, signals and what a run writes (tiny budgets).

What belongs to the process (exit code, a signal, the only line on stderr, what is imported
before the settings are checked) is tested on main.py in a subprocess; everything else calls
main.main() in this process.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

import main
from environment.video import count_frames
from tests.run_helpers import (
    REFERENCE_LOGS,
    TINY,
    TINY_SETTINGS,
    assert_same_run,
    cpu_model,
    error_lines,
    flags,
    one_error_line,
    read_log,
    run_main,
    signal_during_episode,
    signal_during_recording,
    start_main,
    subprocess_env,
    train_tiny,
    wait_for_log_rows,
)
from tests.tool_helpers import call_main
from training import checkpoints as ckpt


def run_cli(*argv: str | Path) -> int:
    """main.main() in this process."""
    return call_main(main.main, *argv)


def cli_error(capsys) -> str:
    """The one line main.py said on stderr."""
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("main.py: error: "), line
    return line


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under `folder` with its modification time and content."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ------------------------------------------------------------------------------------------
# What a run writes


def test_a_run_writes_every_artifact(finished_run):
    """main.py --env_name cartpole --n_games 3 (the session's finished tiny run)."""
    run_dir = finished_run.dir
    for episode in (1, 2, 3):
        assert f"episode {episode} score " in finished_run.stdout
        assert (run_dir / f"models_ep{episode}" / "actor.weights.h5").is_file()
        assert (run_dir / f"score_history_{episode}.npy").is_file()
        assert ckpt.verify_checkpoint(run_dir, episode)
    # Replay buffers are kept for the newest two checkpoints only.
    assert sorted(p.name for p in run_dir.glob("replay_buffer_ep*")) == [
        "replay_buffer_ep2",
        "replay_buffer_ep3",
    ]
    scores = np.load(run_dir / "score_history_3.npy")
    assert scores.shape == (3,) and np.all((scores >= 1) & (scores <= 25))
    rows = read_log(run_dir)
    assert [int(r["episode"]) for r in rows] == [1, 2, 3]
    assert [float(r["score"]) for r in rows] == scores.tolist()
    assert int(rows[-1]["total_steps"]) == int(sum(int(r["steps"]) for r in rows))
    config = json.loads((run_dir / "config.json").read_text())
    assert config["env_name"] == "CartpoleEnvironment"
    assert config["seed"] == 3 and config["n_games"] == 3
    assert (run_dir / "train.png").stat().st_size > 10_000
    assert count_frames(run_dir / "simulation.mp4") == 20
    assert count_frames(run_dir / "simulation_h264.mp4") == 20
    assert "Traceback" not in finished_run.stderr


@pytest.mark.parametrize(
    ("env_name", "canonical"),
    [("standing", "HumanoidStandingEnvironment"), ("bolla-rolla", "BollaRollaEnvironment")],
)
def test_the_humanoid_tasks_train_record_and_checkpoint(tmp_path, no_xla, env_name, canonical):
    run_dir = tmp_path / "run"
    result, said = train_tiny(run_dir, env_name=env_name, n_games=2, no_record=False)
    assert result.finished and result.episodes == 2 and result.exit_code == 0
    for episode in (1, 2):
        assert ckpt.verify_checkpoint(run_dir, episode)
    rows = read_log(run_dir)
    assert [float(r["score"]) for r in rows] == np.load(run_dir / "score_history_2.npy").tolist()
    assert json.loads((run_dir / "config.json").read_text())["env_name"] == canonical
    assert count_frames(run_dir / "simulation.mp4") == 20
    assert count_frames(run_dir / "simulation_h264.mp4") == 20
    assert any(m.startswith("recording: ") for m in said.logged)


# ------------------------------------------------------------------------------------------
# Mistakes: one line, exit 2, nothing written


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--env_name", "Pendulum"], "cartpole"),
        (["--n_games", "many"], "--n_games must be a whole number (got 'many')"),
        (["--n_games", "0"], "--n_games must be at least 1"),
        (["--gamma", "1.5"], "--gamma must lie in (0, 1]"),
        (["--policy_samples", "3"], "--policy_samples must be 1 or 2"),
        (["--no_such_flag"], "unrecognized"),
        (["--batch_size", "64", "--buffer_size", "32"], "--batch_size cannot exceed buffer_size"),
        (["--upright"], "--upright applies to bolla-rolla only"),
        (["--recover", "--overwrite"], "exclude each other"),
        (["--recipe", "nope"], "--recipe: no recipe named 'nope'; the recipes are bolla-rolla, "),
        (["--recipe", "standing", "--recover"], "--recipe starts a fresh run"),
        (["--recipe", "bolla-rolla-upright", "--env_name", "standing"], "--upright applies to"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(tmp_path, capsys, args, expected):
    assert run_cli("--save_dir", tmp_path / "run", *args) == 2
    assert expected in cli_error(capsys)
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def no_tensorflow(tmp_path_factory) -> dict[str, str]:
    """A subprocess environment in which importing TensorFlow fails loudly."""
    fake = tmp_path_factory.mktemp("no_tensorflow")
    (fake / "tensorflow").mkdir()
    (fake / "tensorflow" / "__init__.py").write_text(
        'raise ImportError("TensorFlow was imported before the settings were checked")\n'
    )
    env = subprocess_env()
    env["PYTHONPATH"] = os.pathsep.join([str(fake), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--seed", "-1"], "--seed must lie in 0 .. 4294967295 (got -1)"),
        (["--seed", "99999999999999999999"], "--seed must lie in 0 .. 4294967295"),
        (["--buffer_size", "100000000000"], "buffer_size 100000000000 needs about"),
    ],
)
def test_bad_seeds_and_runs_too_big_for_memory_stop_before_tensorflow(
    tmp_path, no_tensorflow, args, expected
):
    """Seeds every generator accepts, and a replay buffer this machine can hold, are checked
    before anything starts: one line, exit 2, and TensorFlow never imported."""
    result = run_main("--save_dir", tmp_path / "run", *args, env=no_tensorflow, timeout=60)
    assert result.returncode == 2, result.stderr
    line = one_error_line(result.stderr)
    assert line.startswith("main.py: error: ") and expected in line, line
    assert not (tmp_path / "run").exists()


def test_nothing_to_recover(tmp_path, capsys):
    assert run_cli("--recover", "--save_dir", tmp_path / "nothing") == 2
    assert "nothing to recover" in cli_error(capsys)


def test_a_run_folder_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("mine")
    assert run_cli("--save_dir", target, "--n_games", "1") == 2
    assert "cannot use" in cli_error(capsys)
    assert target.read_text() == "mine"


def test_a_run_folder_in_use_by_another_process_is_refused(run_copy, capsys):
    from training.locking import lock_run

    lock = lock_run(run_copy)  # what a training process holds for its whole life
    try:
        assert run_cli("--recover", "--save_dir", run_copy) == 2
        assert "in use by another training process" in cli_error(capsys)
    finally:
        lock.close()


def test_help_lists_every_flag_with_its_default(capsys):
    from training.config import settings

    assert run_cli("--help") == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for flag in ("--recover", "--save_dir", "--overwrite"):
        assert flag in text
    for f in settings():
        assert f"--{f.name}" in text
        assert " ".join(f.metadata["help"].split()) in text, f.name
    assert "(default: 30000)" in text and "(default: CartpoleEnvironment)" in text


def test_a_hand_edited_config_is_checked_like_flags(run_copy, capsys):
    """Values read back from config.json pass the checks of flags: one line naming the file,
    the setting and its rule; the run is left as it was."""
    path = run_copy / "config.json"
    saved = json.loads(path.read_text())
    cases = [
        ("gamma", "abc", "gamma must be a number (got 'abc')"),
        ("n_games", "many", "n_games must be a whole number (got 'many')"),
        ("env_name", "Nope", "env_name must name an environment"),
        ("batch_size", 0, "batch_size must be at least 1 (got 0)"),
        ("no_such_setting", 1, "unknown setting 'no_such_setting'"),
    ]
    for key, value, rule in cases:
        path.write_text(json.dumps({**saved, key: value}))
        before = snapshot(run_copy)
        assert run_cli("--recover", "--save_dir", run_copy) == 2, key
        line = cli_error(capsys)
        assert f"{path}: {rule}" in line, line
        assert snapshot(run_copy) == before


def test_a_bad_recipe_file_is_one_line_naming_it_and_the_setting(tmp_path, monkeypatch, capsys):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "x.yaml").write_text("env_name: standing\nn_episodes: 30\n")
    monkeypatch.chdir(tmp_path)
    assert run_cli("--recipe", "recipes/x.yaml", "--save_dir", tmp_path / "run") == 2
    assert cli_error(capsys) == "main.py: error: recipes/x.yaml: unknown setting 'n_episodes'"
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------------
# --recipe


def test_a_recipe_gives_the_settings_and_the_flags_override_them(tmp_path, no_xla):
    """main.py --recipe NAME trains with the recipe's settings under the flags given; its
    config.json records every setting and the recipe, and --recover continues it."""
    run_dir = tmp_path / "run"
    recipe = ("--recipe", "standing-robust", "--start_noise", "0.1", "--n_games", "1")
    assert run_cli("--save_dir", run_dir, *recipe, "--no_record", *TINY) == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["recipe"] == "standing-robust"
    assert config["env_name"] == "HumanoidStandingEnvironment"  # the recipe's, as these:
    assert (config["train_push"], config["perturb_ramp"]) == (1.0, 300)
    assert (config["start_noise"], config["n_games"], config["max_steps"]) == (0.1, 1, 25)
    assert run_cli("--recover", "--save_dir", run_dir, "--n_games", "2") == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["recipe"], config["n_games"], config["train_push"]) == ("standing-robust", 2, 1)
    assert ckpt.verify_checkpoint(run_dir, 2).manifest["config"]["recipe"] == "standing-robust"


def test_a_recipe_names_the_default_run_folder():
    from training.runs import SAVE_ROOT
    from training.train_cli import parse_args, resolve_run_dir

    args, given = parse_args(["--recipe", "bolla-rolla-upright", "--gamma", "0.9"])
    assert given["upright"] is True and given["gamma"] == "0.9"
    assert resolve_run_dir(args, given) == SAVE_ROOT / "BollaRollaEnvironment"


# ------------------------------------------------------------------------------------------
# Used folders and --overwrite


def test_a_fresh_run_into_a_used_folder_is_refused(run_copy, no_xla, capsys):
    before = snapshot(run_copy)
    assert run_cli("--save_dir", run_copy, "--n_games", "1", *TINY) == 2
    line = cli_error(capsys)
    assert "--recover" in line and "--overwrite" in line
    assert snapshot(run_copy) == before
    assert (
        run_cli("--save_dir", run_copy, "--n_games", "1", "--no_record", "--overwrite", *TINY) == 0
    )
    assert ckpt.list_checkpoint_episodes(run_copy) == [1]
    assert not (run_copy / "simulation.mp4").exists()


@pytest.mark.parametrize(
    "leftovers",
    [
        ("train_log.csv", "train.png", "simulation.mp4"),
        ("train_log.csv",),
        ("simulation_h264.mp4",),
        ("train_log.unreadable.csv",),
        ("recordings/recording_ep1.mp4",),
        ("tensorboard/events.out",),
        ("score_history_7.npy",),
    ],
    ids=lambda names: "+".join(Path(n).parts[0] for n in names),
)
def test_what_an_earlier_run_left_makes_a_used_folder(tmp_path, capsys, leftovers):
    """Any file a run writes counts, not only config.json and checkpoints: a fresh run there is
    refused in one line and nothing is touched."""
    run_dir = tmp_path / "run"
    for name in leftovers:
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / name).write_bytes(b"1,2,3\n" if name.endswith(".csv") else b"\x89 old")
    before = snapshot(run_dir)
    assert run_cli("--save_dir", run_dir, "--n_games", "1", *TINY) == 2
    line = cli_error(capsys)
    assert "already holds a run" in line and "--overwrite" in line
    assert Path(leftovers[0]).parts[0] in line or "checkpoints" in line
    assert snapshot(run_dir) == before
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(
        {Path(n).parts[0] for n in leftovers}
    )


def test_overwrite_removes_the_old_runs_videos_but_nothing_else(tmp_path, no_xla):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{}")
    (run_dir / "recordings").mkdir()
    (run_dir / "recordings" / "recording_ep1.mp4").write_bytes(b"old")
    (run_dir / "simulation.mp4").write_bytes(b"old")
    (run_dir / "notes.txt").write_text("mine")
    assert (
        run_cli("--save_dir", run_dir, "--n_games", "1", "--no_record", "--overwrite", *TINY) == 0
    )
    assert not (run_dir / "recordings").exists() and not (run_dir / "simulation.mp4").exists()
    assert (run_dir / "notes.txt").read_text() == "mine"


# ------------------------------------------------------------------------------------------
# --recover


def test_recover_continues_at_the_right_episode(run_copy, no_xla, capsys):
    first_scores = np.load(run_copy / "score_history_3.npy")
    assert run_cli("--recover", "--save_dir", run_copy, "--n_games", "5", "--no_record") == 0
    out = capsys.readouterr().out
    assert "resuming CartpoleEnvironment from episode 3" in out
    assert "episode 4 score" in out and "episode 1 score" not in out
    scores = np.load(run_copy / "score_history_5.npy")
    assert scores.shape == (5,)
    np.testing.assert_array_equal(scores[:3], first_scores)
    assert [int(r["episode"]) for r in read_log(run_copy)] == [1, 2, 3, 4, 5]
    # A finished run is not trained again.
    assert run_cli("--recover", "--save_dir", run_copy, "--no_record") == 0
    assert "already finished at episode 5" in capsys.readouterr().out


def test_a_run_without_a_seed_records_the_seed_it_drew_and_keeps_it(tmp_path, no_xla):
    """Without --seed a run draws one and records it in config.json (and every manifest);
    --recover keeps it, and --seed with that value makes the same run."""
    unseeded = flags({k: v for k, v in TINY_SETTINGS.items() if k != "seed"})
    drawn_dir, seeded_dir = tmp_path / "drawn", tmp_path / "seeded"
    assert run_cli("--save_dir", drawn_dir, "--n_games", "1", "--no_record", *unseeded) == 0
    seed = json.loads((drawn_dir / "config.json").read_text())["seed"]
    assert isinstance(seed, int) and 0 <= seed < 2**31
    assert ckpt.verify_checkpoint(drawn_dir, 1).manifest["config"]["seed"] == seed
    assert run_cli("--recover", "--save_dir", drawn_dir, "--n_games", "2") == 0
    assert json.loads((drawn_dir / "config.json").read_text())["seed"] == seed
    assert ckpt.verify_checkpoint(drawn_dir, 2).manifest["config"]["seed"] == seed
    args = ("--n_games", "1", "--no_record", *unseeded, "--seed", str(seed))
    assert run_cli("--save_dir", seeded_dir, *args) == 0
    assert_same_run(drawn_dir, seeded_dir, 1)


def test_recover_refuses_to_change_a_fixed_setting(run_copy, capsys):
    assert run_cli("--recover", "--save_dir", run_copy, "--layer1_size", "32") == 2
    assert "--layer1_size cannot change when resuming (this run uses 16)" in cli_error(capsys)


# ------------------------------------------------------------------------------------------
# Signals: SIGINT (Ctrl-C) and SIGTERM go through one handler


def test_ctrl_c_mid_run_writes_a_checkpoint_and_exits_130(tmp_path, no_xla, capsys):
    """No checkpoint of the current episode yet: the signal writes one (marked interrupted)."""
    run_dir = tmp_path / "run"
    process = start_main(
        run_dir, "--n_games", "100000", "--no_record", *TINY, "--save_every", "1000"
    )
    wait_for_log_rows(run_dir, process, 3)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    lines = error_lines(err)
    assert lines[0] == "SIGINT: saving a checkpoint after this step"
    assert "checkpoint written" in lines[-1] and "--recover" in lines[-1] and len(lines) == 2
    checkpoint = ckpt.latest_good_checkpoint(run_dir)
    assert checkpoint is not None and checkpoint.manifest["interrupted"] is True
    episodes = [line for line in out.splitlines() if line.startswith("episode ")]
    assert checkpoint.episode == len(episodes) >= 3
    target = str(checkpoint.episode + 1)
    assert run_cli("--recover", "--save_dir", run_dir, "--n_games", target, "--no_record") == 0
    assert f"episode {target} score" in capsys.readouterr().out


def test_sigterm_mid_episode_writes_a_checkpoint_of_the_episode_reached(
    tmp_path, no_xla, monkeypatch
):
    """SIGTERM takes the path of Ctrl-C (here in this process): the run stops after the current
    step, drops the partial episode and writes the checkpoint of the last complete one."""
    signal_during_episode(monkeypatch, episode=3, step=2, signum=signal.SIGTERM)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    result, said = train_tiny(tmp_path / "run", n_games=100, save_every=1000)
    assert (result.stopped_by, result.exit_code, result.episodes) == ("SIGTERM", 143, 2)
    assert not result.finished
    assert said.warned == [
        "stopped by SIGTERM at episode 2: checkpoint written; continue with python main.py "
        "--recover"
    ]
    checkpoint = ckpt.latest_good_checkpoint(tmp_path / "run")
    assert checkpoint.episode == 2
    assert checkpoint.manifest["interrupted"] is True
    assert checkpoint.manifest["partial_episode_steps"] == 2
    # The caller's handlers are back (a sweep or a notebook keeps its own).
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


def test_a_signal_keeps_an_exact_checkpoint_of_the_same_episode(tmp_path, no_xla, monkeypatch):
    """With a checkpoint after every episode, a signal keeps it rather than overwrite it."""
    signal_during_episode(monkeypatch, episode=4, step=2, signum=signal.SIGINT)
    result, said = train_tiny(tmp_path / "run", n_games=100)
    assert (result.stopped_by, result.exit_code, result.episodes) == ("SIGINT", 130, 3)
    assert "kept the checkpoint of episode 3 (partial episode dropped)" in said.warned[-1]
    checkpoint = ckpt.latest_good_checkpoint(tmp_path / "run")
    assert checkpoint.episode == 3 and checkpoint.manifest["interrupted"] is False


def test_ctrl_c_during_the_final_recording_leaves_it_to_recover(
    tmp_path, no_xla, monkeypatch, capsys
):
    """Ctrl-C while the trained agent is being filmed: the run is finished and checkpointed, no
    partial video is kept, exit code 130 and one line saying --recover makes the recording;
    main.py --recover then makes it (every frame) without training again."""
    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        signal_during_recording(patch, step=5, signum=signal.SIGINT)
        result, said = train_tiny(run_dir, n_games=2, no_record=False)
    assert (result.stopped_by, result.exit_code, result.finished) == ("SIGINT", 130, True)
    assert said.warned == [
        "interrupted during the final recording: the checkpoint is complete; python main.py "
        "--recover makes the recording"
    ]
    assert ckpt.latest_good_checkpoint(run_dir).training_state()["finished"]
    assert not [p.name for p in run_dir.iterdir() if p.suffix == ".mp4"]
    assert run_cli("--recover", "--save_dir", run_dir) == 0
    out = capsys.readouterr().out
    assert f"run {run_dir} already finished at episode 2 (reached n_games 2)" in out
    assert "recording: " in out
    assert count_frames(run_dir / "simulation.mp4") == TINY_SETTINGS["record_steps"]
    assert count_frames(run_dir / "simulation_h264.mp4") == TINY_SETTINGS["record_steps"]
    assert sorted(p.name for p in run_dir.glob("*.mp4")) == [
        "simulation.mp4", "simulation_h264.mp4",
    ]  # fmt: skip
    assert ckpt.list_checkpoint_episodes(run_dir) == [1, 2] and len(read_log(run_dir)) == 2


@pytest.mark.parametrize("delay", [1.0, 2.5])
def test_ctrl_c_while_tensorflow_loads_is_one_line(tmp_path, delay):
    """Ctrl-C in the first seconds (imports, TensorFlow starting, the agent being built)."""
    run_dir = tmp_path / "run"
    process = start_main(run_dir, "--n_games", "1", *TINY)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    if "SIGINT: saving a checkpoint" in err:
        pytest.skip(f"training had started within {delay} s (tested above)")
    assert process.returncode == 130, err
    line = one_error_line(err)
    assert line.startswith("main.py: ") and "interrupted" in line, line
    from training.runs import used_by

    assert used_by(run_dir) == []  # nothing written: a fresh run may start there


def test_ctrl_c_inside_a_native_import_is_the_same_one_line(monkeypatch, capsys):
    """A SIGINT while TensorFlow's native modules initialise surfaces as "ImportError:
    initialization failed" caused by KeyboardInterrupt: still one line and exit 130. An import
    error of its own is not swallowed."""

    def interrupted_import(argv=None):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    import training.signals

    monkeypatch.setattr(training.signals, "interrupt_on_sigterm", lambda: None)  # not pytest's
    monkeypatch.setattr(main, "main", interrupted_import)
    assert main.run_as_script() == 130
    assert capsys.readouterr().err == "main.py: interrupted before training started\n"

    def broken_import(argv=None):
        raise ImportError("no module named tensorflow")

    monkeypatch.setattr(main, "main", broken_import)
    with pytest.raises(ImportError, match="no module named tensorflow"):
        main.run_as_script()


def test_a_native_crash_prints_the_python_stack_it_hit():
    """main.py turns on faulthandler: an abort in native code (here os.abort() where training
    would start) prints where in the Python code it happened instead of only "Aborted"."""
    import subprocess
    import sys

    env = subprocess_env()
    env.pop("PYTHONFAULTHANDLER", None)
    code = "import os, main; main.main = lambda argv=None: os.abort(); main.run_as_script()"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(main.__file__).parent, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == -signal.SIGABRT
    assert "Fatal Python error: Aborted" in result.stderr
    assert "main.py" in result.stderr and "run_as_script" in result.stderr


# ------------------------------------------------------------------------------------------
# The end-to-end learning check


@pytest.mark.slow
def test_cartpole_is_solved_with_the_default_settings(cartpole_solve):
    """The default settings (the reference's hyperparameters) solve the cartpole, seed 6.

    A run is deterministic for a given CPU model, but the math kernels of TensorFlow and XLA
    differ between models, and so does the trajectory. On a CPU model listed in
    tests/reference_logs/cartpole-solve-seed6/solves.json (model name -> episode and steps, each
    with the run's log beside it) the run must solve at exactly that episode and step; on any
    other, within the stated range (the ten seeds of the default settings solved between
    episodes 87 and 272). The run started with the test session (tests/conftest.py); this
    waits for it."""
    from tests.conftest import SOLVE_ARGS

    table = json.loads((REFERENCE_LOGS / "cartpole-solve-seed6" / "solves.json").read_text())
    assert table["command"] == " ".join(("python main.py", *SOLVE_ARGS))
    code, out, err = cartpole_solve.wait(timeout=1800)
    assert code == 0, err
    solved = [line for line in out.splitlines() if line.startswith("solved at episode")]
    assert len(solved) == 1, out[-2000:]
    episode = int(solved[0].split()[3].rstrip(":"))
    rows = read_log(cartpole_solve.folder / "run")
    assert len(rows) == episode and all(float(r["score"]) >= 395 for r in rows[-10:])
    assert int(rows[-1]["total_steps"]) == sum(int(r["steps"]) for r in rows)
    expected = table["by_cpu"].get(cpu_model())
    if expected is not None:
        assert (episode, int(rows[-1]["total_steps"])) == (
            expected["episode"],
            expected["total_steps"],
        ), cpu_model()
    else:
        bounds = table["elsewhere"]
        assert bounds["min_episode"] <= episode <= bounds["max_episode"], solved[0]
