"""tools/sweep.py: its checks before Ray starts, a tiny real sweep, and a sweep whose driver is
SIGKILLed and resumed, compared row by row with one that was never interrupted."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from tests.run_helpers import subprocess_env
from tests.tool_helpers import call_main, error_line
from tools import sweep
from tools.sweeping import plots as sweep_plots
from tools.sweeping import runner as sweep_runner
from tools.sweeping import summary as sweep_summary
from training import checkpoints as ckpt
from training.config import RunConfig
from training.log import read_rows
from training.runs import load_config

REPO = Path(__file__).resolve().parents[1]
PROG = "sweep.py"
# Four tiny trials (two settings x two seeds), two at a time, a checkpoint after every episode
# so that a trial killed in the middle continues from a checkpoint.
TINY_SETS = [
    "--set", "n_games=6", "--set", "max_steps=20", "--set", "layer1_size=8",
    "--set", "layer2_size=8", "--set", "batch_size=4", "--set", "buffer_size=1000",
    "--set", "save_every=1",
]  # fmt: skip
TINY = [
    "--env_name", "cartpole", "--seeds", "0", "1", "--grid", "policy_samples=1,2", *TINY_SETS,
    "--max_concurrent", "2",
]  # fmt: skip
KEYS = [f"policy_samples={p},seed={s}" for s in (0, 1) for p in (1, 2)]


@pytest.fixture(scope="module")
def ray_tmp():
    """A short folder for Ray's sockets and session files (a Unix socket path is limited),
    the session's cache of compiled XLA programs for the trials (Ray's workers inherit it: a
    trial started again after a kill loads its programs instead of compiling them), and fewer
    bootstrap resamples for the reports of these tiny sweeps."""
    path = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_TMPDIR", path)
        patch.setenv("TF_XLA_FLAGS", subprocess_env()["TF_XLA_FLAGS"])
        patch.delenv("RAY_ADDRESS", raising=False)
        patch.setattr(sweep_summary, "BOOTSTRAP_REPS", 1000)
        patch.setattr(sweep_plots, "CURVE_REPS", 200)
        yield path
    shutil.rmtree(path, ignore_errors=True)


def sweep_args(storage: Path, name: str, *extra: str) -> list[str]:
    return [*TINY, "--name", name, "--storage", str(storage), *extra]


def log_without_wall_time(run_dir: Path) -> list[list[str]]:
    with open(run_dir / "train_log.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    column = rows[0].index("wall_time")
    return [row[:column] + row[column + 1 :] for row in rows]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# ---- refused before anything starts -----------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--grid", "nonsense=1,2"], "--grid nonsense: unknown setting"),
        (["--set", "colour=red"], "--set colour: unknown setting"),
        (["--grid", "policy_samples=1,3"], "--policy_samples must"),
        (["--set", "batch_size=0"], "--batch_size must be at least 1"),
        (["--set", "gamma=1.5"], "--gamma must"),
        (["--grid", "reward_scale=2,,5"], "--grid reward_scale: empty value"),
        (["--grid", "reward_scale="], "--grid reward_scale: empty value"),
        (["--grid", "reward_scale=2,2.0"], "--grid reward_scale repeats the value 2"),
        (["--grid", "seed=1,2"], "--grid seed: give it with --seeds"),
        (["--set", "n_games"], "--set 'n_games': expected KEY=VALUE"),
        (["--set", "reward_scale=3", "--grid", "reward_scale=2,5"], "both swept"),
        (["--seeds", "-1"], "--seed must"),
        (["--seeds", "1", "1"], "--seeds repeats a seed"),
        (["--env_name", "pendulum"], "env_name"),
        (["--recipe", "nope"], "--recipe: no recipe named 'nope'; the recipes are bolla-rolla, "),
        (["--set", "recipe=standing"], "--set recipe: give it with --recipe"),
    ],
)
def test_bad_settings_are_refused_in_one_line_before_anything_starts(
    tmp_path, capsys, change, message
):
    base = ["--env_name", "cartpole", "--seeds", "0", "1", "--set", "n_games=3"]
    code = call_main(sweep.main, *base, *change, "--name", "bad", "--storage", tmp_path)
    assert code == 2
    assert message in error_line(capsys, PROG)
    assert not (tmp_path / "bad").exists()


def test_the_spec_names_trials_and_keeps_values_as_typed():
    spec, configs = sweep.build_spec(
        "cartpole", [3, 4], ["reward_scale=2.0,5", "policy_samples=1"], ["n_games=7"]
    )
    assert spec.env_name == "CartpoleEnvironment"
    assert spec.grid == {"reward_scale": ["2", "5"], "policy_samples": ["1"]}
    assert spec.fixed == {
        "tf_threads": "1", "no_record": "true", "no_progress": "true", "tensorboard": "true",
        "save_every": "100", "n_games": "7",
    }  # fmt: skip
    keys = [t.key for t in spec.trials()]
    assert keys == [
        "reward_scale=2,policy_samples=1,seed=3", "reward_scale=5,policy_samples=1,seed=3",
        "reward_scale=2,policy_samples=1,seed=4", "reward_scale=5,policy_samples=1,seed=4",
    ]  # fmt: skip
    assert spec.settings() == ["reward_scale=2,policy_samples=1", "reward_scale=5,policy_samples=1"]
    assert len(configs) == 4 and {c.tf_threads for c in configs} == {1}
    # --set overrides the sweep's defaults; nothing swept is also fixed.
    spec, _ = sweep.build_spec("cartpole", [0], ["save_every=5,10"], ["tf_threads=2"])
    assert spec.fixed["tf_threads"] == "2" and "save_every" not in spec.fixed
    assert [t.setting for t in spec.trials()] == ["save_every=5", "save_every=10"]
    spec, _ = sweep.build_spec("cartpole", [0], [], [])
    assert [(t.key, t.setting) for t in spec.trials()] == [("seed=0", "all")]


def test_a_recipe_is_the_base_of_a_sweep_under_set_and_grid():
    """--recipe's settings (and its environment) over the trial defaults; --env_name, --set and
    --grid over the recipe's; every trial records the recipe."""
    spec, configs = sweep.build_spec(
        None, [0], ["start_noise=0.1,0.2"], ["n_games=7"], recipe="standing-robust"
    )
    assert spec.env_name == "HumanoidStandingEnvironment"
    assert spec.fixed == {
        "tf_threads": "1", "no_record": "true", "no_progress": "true", "tensorboard": "true",
        "save_every": "100", "train_push": "1", "perturb_ramp": "300", "n_games": "7",
        "recipe": "standing-robust",
    }  # fmt: skip
    assert [c.start_noise for c in configs] == [0.1, 0.2]
    assert {c.recipe for c in configs} == {"standing-robust"}
    assert all(t.values["recipe"] == "standing-robust" for t in spec.trials())
    spec, _ = sweep.build_spec("cartpole", [0], [], [], recipe="standing-robust")
    assert spec.env_name == "CartpoleEnvironment" and spec.fixed["train_push"] == "1"


def test_a_name_that_holds_another_sweep_is_refused(tmp_path, capsys):
    spec, _ = sweep.build_spec("cartpole", [0, 1], ["policy_samples=1,2"], [])
    (tmp_path / "taken").mkdir()
    sweep.write_json_atomic(tmp_path / "taken" / sweep.SPEC_FILE, spec.to_json())
    before = (tmp_path / "taken" / sweep.SPEC_FILE).read_bytes()

    assert call_main(sweep.main, *sweep_args(tmp_path, "taken")) == 2
    line = error_line(capsys, PROG)
    assert "holds a different sweep (--env_name CartpoleEnvironment --seeds 0 1" in line
    same = ["--env_name", "cartpole", "--seeds", "0", "1", "--grid", "policy_samples=1,2"]
    assert call_main(sweep.main, *same, "--name", "taken", "--storage", tmp_path) == 2
    assert "already holds this sweep: continue it with --resume" in error_line(capsys, PROG)
    # --resume with other settings is refused too; the folder is left as it was.
    assert call_main(sweep.main, *sweep_args(tmp_path, "taken", "--resume")) == 2
    assert "--resume takes its settings from its sweep.json" in error_line(capsys, PROG)
    assert (tmp_path / "taken" / sweep.SPEC_FILE).read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == [sweep.SPEC_FILE]


def test_a_sweep_recorded_before_a_default_was_added_matches_its_command():
    """Resuming with the starting command works after the tool gained a trial default."""
    spec, _ = sweep.build_spec("cartpole", [0, 1], ["policy_samples=1,2"], ["n_games=600"])
    older = sweep.Spec.from_json(spec.to_json(), "sweep.json")
    del older.fixed["tensorboard"]
    assert spec.same_as(older) and older.same_as(spec)
    other, _ = sweep.build_spec("cartpole", [0, 1], ["policy_samples=1,2"], ["n_games=601"])
    assert not other.same_as(older)
    # A default given by hand with another value is a different sweep.
    off, _ = sweep.build_spec(
        "cartpole", [0, 1], ["policy_samples=1,2"], ["n_games=600", "tensorboard=false"]
    )
    assert not off.same_as(older) and not off.same_as(spec)


def test_other_folders_and_missing_sweeps_are_refused(tmp_path, capsys):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert call_main(sweep.main, *sweep_args(tmp_path, "other")) == 2
    assert "is not empty and holds no sweep.json" in error_line(capsys, PROG)
    assert call_main(sweep.main, "--name", "nothing", "--storage", tmp_path, "--resume") == 2
    assert "nothing to resume" in error_line(capsys, PROG)
    assert not (tmp_path / "nothing").exists()
    assert call_main(sweep.main, "--report", tmp_path / "other") == 2
    assert "other is neither a sweep (sweep.json) nor a run folder" in error_line(capsys, PROG)
    assert call_main(sweep.main, "--report", tmp_path / "missing", "--out", tmp_path / "o") == 2
    assert "missing is neither a sweep" in error_line(capsys, PROG)
    assert not (tmp_path / "o").exists()
    assert call_main(sweep.main, *TINY, "--storage", tmp_path) == 2
    assert "--name is required" in error_line(capsys, PROG)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_cluster_is_one_line_before_ray_starts(tmp_path, monkeypatch, capsys):
    """The address is probed first, for at most ADDRESS_TIMEOUT seconds: nothing waits on Ray's
    own connection retries (here Ray cannot even be imported)."""
    fake = tmp_path / "no_ray"
    (fake / "ray").mkdir(parents=True)
    (fake / "ray" / "__init__.py").write_text('raise ImportError("Ray was imported")\n')
    path = os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")])
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "sweep.py"), *sweep_args(tmp_path, "far"),
         "--address", address],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=path),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{PROG}: error: no Ray cluster answers at")
    assert "Connection refused" in lines[0]
    assert not (tmp_path / "far").exists()

    probes = []

    def silent_host(address, timeout):
        probes.append((address, timeout))
        raise TimeoutError

    monkeypatch.setattr(sweep_runner.socket, "create_connection", silent_host)
    args = sweep_args(tmp_path, "far", "--address", "10.0.0.9:6379")
    assert call_main(sweep.main, *args) == 2
    assert "no Ray cluster answers at 10.0.0.9:6379 (timed out)" in error_line(capsys, PROG)
    assert probes == [(("10.0.0.9", 6379), sweep.ADDRESS_TIMEOUT)]


# ---- the report, from run folders made by hand ----------------------------------------------


def test_the_iqm_is_rliables_to_the_last_bit():
    """The summary's own IQM (a report's bootstrap calls it 10,000 times per setting) equals
    rliable's aggregate_iqm exactly, for every count of seeds up to 40, ties included."""
    from rliable import metrics

    rng = np.random.default_rng(0)
    for n in range(1, 41):
        for values in (rng.standard_normal(n) * 100, rng.integers(50, 60, n).astype(float)):
            assert sweep_summary.iqm(values) == metrics.aggregate_iqm(values[:, None])


def _fake_run(run_dir: Path, spec_values: dict[str, str], scores: list[float], finished: bool):
    """A run folder as train() leaves it: config.json, the log, the newest checkpoint's state."""
    from training.config import RunConfig
    from training.log import LOG_FIELDS

    config = RunConfig.from_mapping(spec_values)
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict()))
    rows, streak, solved = [], 0, False
    for i, score in enumerate(scores, start=1):
        streak = streak + 1 if score >= config.solve_score else 0
        solved = streak >= config.solve_count
        rows.append({"episode": i, "score": score, "total_steps": 10 * i, "wall_time": 6.0 * i})
    with open(run_dir / "train_log.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    episode = len(scores)
    (run_dir / f"checkpoint_ep{episode}.json").write_text("{}")
    state = {"episode": episode, "total_steps": 10 * episode, "wall_time": 6.0 * episode,
             "finished": finished, "solved": solved}  # fmt: skip
    (run_dir / f"models_ep{episode}").mkdir()
    (run_dir / f"models_ep{episode}" / ckpt.TRAINING_STATE_FILE).write_text(json.dumps(state))


def test_the_report_counts_unsolved_trials_at_the_cap_and_leaves_out_unfinished(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(sweep_summary, "BOOTSTRAP_REPS", 1000)
    monkeypatch.setattr(sweep_plots, "CURVE_REPS", 200)
    spec, _ = sweep.build_spec(
        "cartpole",
        [0, 1, 2],
        ["reward_scale=2,5"],
        ["n_games=40", "solve_score=10", "solve_count=2"],
    )
    sweep.write_json_atomic(tmp_path / sweep.SPEC_FILE, spec.to_json())
    runs = {  # (scores, finished); solved when two in a row reach 10
        "reward_scale=2,seed=0": ([1, 10, 10], True),  # solved at 3
        "reward_scale=2,seed=1": ([1] * 8 + [10, 10], True),  # solved at 10
        "reward_scale=2,seed=2": ([1] * 40, True),  # unsolved: counts as 40
        "reward_scale=5,seed=0": ([2] * 5 + [10, 10], True),  # solved at 7
        "reward_scale=5,seed=1": ([1, 1], False),  # still running
        # reward_scale=5,seed=2 not started
    }
    trials = {t.key: t for t in spec.trials()}
    for key, (scores, finished) in runs.items():
        _fake_run(tmp_path / "runs" / key, trials[key].values, scores, finished)

    assert call_main(sweep.main, "--report", tmp_path) == 0
    table = capsys.readouterr().out
    assert "unsolved trial counts at the episode cap (n_games = 40)" in table
    rows = {r["setting"] + "," + r["seed"]: r for r in read_csv(tmp_path / "trials.csv")}
    assert rows["reward_scale=2,0"]["episodes_to_solve"] == "3"
    assert rows["reward_scale=2,1"]["episodes_to_solve"] == "10"
    assert rows["reward_scale=2,2"]["episodes_to_solve"] == ""
    assert (
        rows["reward_scale=2,2"]["episodes"] == "40"
        and rows["reward_scale=2,2"]["solved"] == "false"
    )
    assert (
        rows["reward_scale=5,1"]["finished"] == "false"
        and rows["reward_scale=5,1"]["episodes"] == "2"
    )
    assert rows["reward_scale=5,2"]["episodes"] == "0"
    assert float(rows["reward_scale=2,1"]["final_avg_score"]) == pytest.approx(2.8)
    assert rows["reward_scale=2,1"]["wall_time"] == "60.0"
    two, five = read_csv(tmp_path / "summary.csv")
    assert (two["trials"], two["unfinished"], two["solved"]) == ("3", "0", "2")
    assert float(two["episodes_median"]) == 10.0  # of 3, 10 and the cap 40
    assert float(two["minutes_median"]) == 1.0  # 10 episodes x 6 s
    assert float(two["episodes_median_low"]) <= 10.0 <= float(two["episodes_median_high"])
    assert float(two["episodes_median_high"]) <= 40.0
    assert (five["trials"], five["unfinished"], five["solved_fraction"]) == ("1", "2", "1.0")
    assert float(five["episodes_iqm"]) == float(five["episodes_iqm_high"]) == 7.0
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_a_report_takes_finished_run_folders_such_as_a_shipped_result(
    tmp_path, capsys, monkeypatch
):
    """A run folder without checkpoints (results/...: config.json, the log, the policy) joins
    a report as one trial: finished when the solved rule, replayed over its log, solves it or
    it reached n_games; labelled like the sweeps' trials it was run like."""
    monkeypatch.setattr(sweep_summary, "BOOTSTRAP_REPS", 1000)
    monkeypatch.setattr(sweep_plots, "CURVE_REPS", 200)
    settings = ["n_games=40", "solve_score=10", "solve_count=2"]
    spec, _ = sweep.build_spec("cartpole", [0, 1], [], settings)
    (tmp_path / "sweep").mkdir()
    sweep.write_json_atomic(tmp_path / "sweep" / sweep.SPEC_FILE, spec.to_json())
    values = spec.trials()[0].values
    _fake_run(tmp_path / "sweep" / "runs" / "seed=0", values, [1, 10, 10], True)
    _fake_run(tmp_path / "sweep" / "runs" / "seed=1", {**values, "seed": "1"}, [1] * 40, True)
    shipped, short = tmp_path / "cartpole-seed2", tmp_path / "cartpole-seed3"
    _fake_run(shipped, {**values, "seed": "2"}, [1] * 4 + [10, 10], True)
    _fake_run(short, {**values, "seed": "3"}, [1, 10], True)
    for run in (shipped, short):  # kept as a result is: no checkpoint
        for path in [*run.glob("checkpoint_ep*.json"), *run.glob("models_ep*/*")]:
            path.unlink()

    out = tmp_path / "out"
    assert call_main(sweep.main, "--report", tmp_path / "sweep", shipped, short, "--out", out) == 0
    capsys.readouterr()
    rows = {r["seed"]: r for r in read_csv(out / "trials.csv")}
    assert {s: r["setting"] for s, r in rows.items()} == dict.fromkeys("0123", "all")
    assert rows["2"] == {
        **rows["2"], "finished": "true", "solved": "true", "episodes_to_solve": "6",
        "episodes": "6", "total_steps": "60", "wall_time": "36.0", "run_dir": "cartpole-seed2",
    }  # fmt: skip
    assert (rows["3"]["finished"], rows["3"]["episodes"]) == ("false", "2")
    assert rows["0"]["run_dir"] == "sweep/runs/seed=0"
    (summary,) = read_csv(out / "summary.csv")
    assert (summary["trials"], summary["unfinished"], summary["solved"]) == ("3", "1", "2")

    assert call_main(sweep.main, "--report", shipped) == 2
    assert "with a run folder, needs --out DIR" in error_line(capsys, PROG)
    assert call_main(sweep.main, "--report", shipped, "--out", short) == 2
    assert "holds a run: choose another folder" in error_line(capsys, PROG)
    assert call_main(sweep.main, "--report", shipped, tmp_path, "--out", out) == 2
    assert "is neither a sweep (sweep.json) nor a run folder" in error_line(capsys, PROG)


def test_a_trial_run_again_in_another_sweep_counts_once_where_it_finished(
    tmp_path, capsys, monkeypatch
):
    """A trial that did not finish in one sweep (its machine went away) and was run again in
    another counts once, from the sweep where it finished; of two unfinished copies, the one
    further on counts. Either way stderr says which."""
    monkeypatch.setattr(sweep_summary, "BOOTSTRAP_REPS", 1000)
    monkeypatch.setattr(sweep_plots, "CURVE_REPS", 200)
    settings = ["n_games=40", "solve_score=10", "solve_count=2"]
    first, again = tmp_path / "s0-2", tmp_path / "s1-2"
    for folder, seeds in ((first, [0, 1, 2]), (again, [1, 2])):
        spec, _ = sweep.build_spec("cartpole", seeds, [], settings)
        folder.mkdir()
        sweep.write_json_atomic(folder / sweep.SPEC_FILE, spec.to_json())
    values = spec.trials()[0].values
    _fake_run(first / "runs" / "seed=0", {**values, "seed": "0"}, [1, 10, 10], True)
    _fake_run(first / "runs" / "seed=1", values, [1] * 5, False)  # lost mid-run
    _fake_run(again / "runs" / "seed=1", values, [1] * 4 + [10, 10], True)
    _fake_run(first / "runs" / "seed=2", {**values, "seed": "2"}, [1] * 7, False)
    _fake_run(again / "runs" / "seed=2", {**values, "seed": "2"}, [1] * 3, False)

    out = tmp_path / "out"
    for order in ((first, again), (again, first)):
        assert call_main(sweep.main, "--report", *order, "--out", out) == 0
        err = capsys.readouterr().err
        assert "seed 1 is in two folders: counted from s1-2/runs/seed=1, not s0-2" in err
        assert "seed 2 is in two folders: counted from s0-2/runs/seed=2, not s1-2" in err
        rows = {r["seed"]: r for r in read_csv(out / "trials.csv")}
        assert sorted(rows) == ["0", "1", "2"]
        assert (rows["1"]["episodes_to_solve"], rows["1"]["run_dir"]) == ("6", "s1-2/runs/seed=1")
        assert (rows["2"]["finished"], rows["2"]["episodes"]) == ("false", "7")
        (summary,) = read_csv(out / "summary.csv")
        assert (summary["trials"], summary["unfinished"], summary["solved"]) == ("2", "1", "2")


# ---- a real sweep on the embedded Ray ---------------------------------------------------------


@pytest.fixture(scope="module")
def reference(ray_tmp, tmp_path_factory):
    """An uninterrupted tiny sweep, run in this process."""
    import ray

    storage = tmp_path_factory.mktemp("sweeps")
    assert call_main(sweep.main, *sweep_args(storage, "ref")) == 0
    assert not ray.is_initialized()
    return storage / "ref"


@pytest.mark.slow
def test_a_tiny_sweep_writes_its_tables_plot_and_run_folders(reference):
    trials = read_csv(reference / "trials.csv")
    assert [(r["setting"], r["seed"]) for r in trials] == [
        ("policy_samples=1", "0"), ("policy_samples=2", "0"),
        ("policy_samples=1", "1"), ("policy_samples=2", "1"),
    ]  # fmt: skip
    for row in trials:
        assert row["finished"] == "true" and row["solved"] == "false"
        assert row["episodes"] == "6" and row["episodes_to_solve"] == ""
        assert int(row["total_steps"]) > 6 and float(row["wall_time"]) > 0
        assert float(row["final_avg_score"]) > 0
        # Its worker's peak resident memory (a TensorFlow process holds a few hundred MB).
        assert 100 < float(row["peak_memory_mb"]) < 4000
    summary = read_csv(reference / "summary.csv")
    assert [r["setting"] for r in summary] == ["policy_samples=1", "policy_samples=2"]
    for row in summary:
        assert row["trials"] == "2" and row["solved_fraction"] == "0.0"
        # Unsolved trials count at the episode cap.
        assert float(row["episodes_median"]) == float(row["episodes_iqm_high"]) == 6.0
        assert float(row["minutes_iqm_low"]) <= float(row["minutes_iqm"])
        assert float(row["minutes_iqm"]) <= float(row["minutes_iqm_high"])
        peaks = [float(r["peak_memory_mb"]) for r in trials if r["setting"] == row["setting"]]
        assert float(row["peak_memory_mb_max"]) == max(peaks)
    assert (reference / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((reference / "sweep.json").read_text())["seeds"] == [0, 1]

    for key in KEYS:  # each trial is an ordinary run folder: main.py --recover can open it
        run_dir = reference / "runs" / key
        config = load_config(run_dir)  # checked as main.py --recover checks it
        assert config["layer1_size"] == 8 and config["tf_threads"] == 1
        assert config["seed"] == int(key[-1]) and config["policy_samples"] == int(key[15])
        good = ckpt.latest_good_checkpoint(run_dir)
        assert good.episode == 6 and good.training_state()["finished"]
        assert len(read_rows(run_dir / "train_log.csv")) == 6
        assert config["tensorboard"] and any((run_dir / "tensorboard").glob("events.out.*"))


def test_run_cost_counts_each_settings_update_flops_and_steps(reference):
    """benchmarks/run_cost.py: per setting, FLOPs per update from its sizes and update (two
    policy samples cost more than one), and its trials' steps and episodes."""
    from benchmarks.run_cost import setting_costs
    from benchmarks.update_throughput import update_flops

    rows = {row["setting"]: row for row in setting_costs([reference])}
    assert sorted(rows) == ["policy_samples=1", "policy_samples=2"]
    for samples in (1, 2):
        row = rows[f"policy_samples={samples}"]
        assert (row["trials"], row["solved"], row["episodes"]) == (2, 0, 6)
        assert row["MFLOP/update"] == update_flops(4, 1, 8, 8, 4, "sac1", samples) / 1e6
        assert row["updates/episode"] == pytest.approx(row["steps"] / 6, rel=0.5)
    assert rows["policy_samples=2"]["MFLOP/update"] > rows["policy_samples=1"]["MFLOP/update"]


@pytest.mark.slow
def test_report_and_resume_of_a_finished_sweep_change_nothing(reference, capsys):
    outputs = ["trials.csv", "summary.csv", "curves.png"]
    before = {name: (reference / name).read_bytes() for name in outputs}
    runs = {p: p.stat().st_mtime_ns for p in (reference / "runs").rglob("*") if p.is_file()}
    for name in outputs:
        (reference / name).unlink()
    assert call_main(sweep.main, "--report", reference) == 0
    out = capsys.readouterr().out
    assert "policy_samples=1" in out and "unsolved trial counts at the episode cap" in out
    assert {name: (reference / name).read_bytes() for name in outputs} == before

    code = call_main(sweep.main, "--name", "ref", "--storage", reference.parent, "--resume")
    assert code == 0
    assert "every trial has finished, nothing to run" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in runs} == runs
    assert {name: (reference / name).read_bytes() for name in outputs} == before


@pytest.mark.slow
def test_a_report_compares_several_sweeps_of_one_environment(reference, tmp_path, capsys):
    """--report A B --out C: one table and plot; a setting is named by what differs between
    the sweeps' trials, not by how they are watched (tensorboard) or kept."""
    other = tmp_path / "alpha"
    spec, _ = sweep.build_spec(
        "cartpole", [0, 1], [],
        ["n_games=6", "max_steps=20", "layer1_size=8", "layer2_size=8", "batch_size=4",
         "buffer_size=1000", "save_every=1", "learn_alpha=true", "tensorboard=false"],
    )  # fmt: skip
    other.mkdir()
    sweep.write_json_atomic(other / sweep.SPEC_FILE, spec.to_json())  # not run: unfinished
    out = tmp_path / "compared"
    assert call_main(sweep.main, "--report", reference, other, "--out", out) == 0
    printed = capsys.readouterr().out
    assert "policy_samples=1,learn_alpha=false" in printed
    summary = read_csv(out / "summary.csv")
    assert [(r["setting"], r["trials"], r["unfinished"]) for r in summary] == [
        ("policy_samples=1,learn_alpha=false", "2", "0"),
        ("policy_samples=2,learn_alpha=false", "2", "0"),
        ("policy_samples=2,learn_alpha=true", "0", "2"),  # today's default
    ]  # fmt: skip
    assert summary[0] == {**summary[0], "policy_samples": "1", "learn_alpha": "false"}
    trials = read_csv(out / "trials.csv")
    assert trials[0]["run_dir"] == "ref/runs/policy_samples=1,seed=0"
    ref_trials = read_csv(reference / "trials.csv")
    assert [r["total_steps"] for r in trials[:4]] == [r["total_steps"] for r in ref_trials]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in other.iterdir()) == [sweep.SPEC_FILE]  # left as it was

    # A setting a sweep left alone is what its run recorded, not today's default.
    started = other / "runs" / "seed=0"
    started.mkdir(parents=True)
    values = {**spec.trials()[0].values, "policy_samples": "1"}
    config = RunConfig.from_mapping(values, "x").to_dict()
    (started / "config.json").write_text(json.dumps(config))
    assert call_main(sweep.main, "--report", reference, other, "--out", out) == 0
    assert [r["setting"] for r in read_csv(out / "summary.csv")][2:] == [
        "policy_samples=1,learn_alpha=true", "policy_samples=2,learn_alpha=true",
    ]  # fmt: skip
    capsys.readouterr()

    assert call_main(sweep.main, "--report", reference, other) == 2
    assert "needs --out DIR" in error_line(capsys, PROG)
    assert call_main(sweep.main, "--report", reference, reference, "--out", out) == 2
    assert "policy_samples=1, seed 0 is finished in more than one sweep" in error_line(capsys, PROG)
    assert call_main(sweep.main, "--report", reference, other, "--out", reference) == 2
    assert "holds a sweep: choose another folder" in error_line(capsys, PROG)
    standing = tmp_path / "standing"
    standing.mkdir()
    spec, _ = sweep.build_spec("standing", [0], [], [])
    sweep.write_json_atomic(standing / sweep.SPEC_FILE, spec.to_json())
    assert call_main(sweep.main, "--report", reference, standing, "--out", out) == 2
    assert "train different environments" in error_line(capsys, PROG)
    assert call_main(sweep.main, "--out", out, "--name", "x") == 2
    assert "--out goes with --report" in error_line(capsys, PROG)


def trial_that_dies_once(config: dict) -> None:
    """sweep.run_trial, but the first time (a file in the sweep folder remembers it) its worker
    process dies at the end of episode 3: after the checkpoint of episode 2, before episode 3's."""
    import training

    died = Path(config["trial"]["sweep_dir"]) / "died"
    if not died.exists():
        train = training.train

        def dying_train(*args, callbacks=(), **kwargs):
            def die(report):
                if report.episode == 3:
                    died.touch()
                    os._exit(1)

            return train(*args, callbacks=[*callbacks, die], **kwargs)

        training.train = dying_train
    sweep.run_trial(config)


@pytest.mark.slow
def test_a_trial_whose_worker_dies_is_retried_from_its_checkpoint(
    reference, ray_tmp, tmp_path, monkeypatch, capsys
):
    """A trial whose process dies is run again (up to MAX_FAILURES times) and continues from
    its newest checkpoint: it finishes with the log of the trial that never died."""
    monkeypatch.setattr(sweep_runner, "run_trial", trial_that_dies_once)
    key = "policy_samples=1,seed=0"
    one_trial = ["--env_name", "cartpole", "--seeds", "0", "--grid", "policy_samples=1"]
    args = [*one_trial, *TINY_SETS, "--name", "dies", "--storage", tmp_path]
    assert call_main(sweep.main, *args) == 0
    out = capsys.readouterr().out
    assert f"retrying {key} from its newest checkpoint (retry 1 of {sweep.MAX_FAILURES})" in out
    run_dir, died = tmp_path / "dies" / "runs" / key, tmp_path / "dies" / "died"
    assert died.exists()
    # Episode 2's checkpoint is the one the first process wrote; episode 3 was played again.
    assert ckpt.scores_file(run_dir, 2).stat().st_mtime_ns <= died.stat().st_mtime_ns
    assert ckpt.scores_file(run_dir, 3).stat().st_mtime_ns > died.stat().st_mtime_ns
    assert log_without_wall_time(run_dir) == log_without_wall_time(reference / "runs" / key)
    (row,) = read_csv(tmp_path / "dies" / "trials.csv")
    assert (row["finished"], row["episodes"]) == ("true", "6")


def _session_processes(session: int) -> list[int]:
    """Live processes of a session (Ray's workers leave the driver's process group)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _kill_session(driver: subprocess.Popen) -> None:
    try:
        os.killpg(driver.pid, signal.SIGKILL)
    except ProcessLookupError:  # the driver and every process it started have ended
        pass
    driver.wait(timeout=30)
    deadline = time.monotonic() + 30
    while (left := _session_processes(driver.pid)) and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    assert not _session_processes(driver.pid)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM], ids=["SIGTERM"])
def test_ctrl_c_or_sigterm_stops_a_sweep_with_exit_code_130(ray_tmp, tmp_path, signum):
    """SIGTERM while a trial runs, which the driver takes as Ctrl-C rather than let Ray exit at
    once (so this is also the Ctrl-C path, from the KeyboardInterrupt on): Ray's processes end,
    the report is written with the trial unfinished, one line says how to continue, and the
    exit code is 130. (SIGINT itself took the same path to the same end in a run of both.) The
    driver starts as `nohup ... &` from a script starts it, with SIGINT ignored: SIGTERM must
    stop it all the same."""
    # A trial that would run for hours; it never learns (its batch is larger than what its
    # first episodes fill), so it answers Tune's stop at once.
    long_trial = [
        "--env_name", "cartpole", "--seeds", "0", "--set", "n_games=100000",
        "--set", "layer1_size=8", "--set", "layer2_size=8", "--set", "batch_size=1000",
        "--set", "buffer_size=1000", "--set", "save_every=1",
    ]  # fmt: skip
    driver = subprocess.Popen(
        [sys.executable, str(REPO / "tools" / "sweep.py"), *long_trial, "--name", "stopped",
         "--storage", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not ckpt.list_checkpoint_episodes(tmp_path / "stopped" / "runs" / "seed=0"):
            assert driver.poll() is None, driver.communicate()
            assert time.monotonic() < deadline, "the trial did not start"
            time.sleep(0.05)
        driver.send_signal(signum)
        _, err = driver.communicate(timeout=120)
        deadline = time.monotonic() + 30
        while (left := _session_processes(driver.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        _kill_session(driver)
    assert driver.returncode == 130, err
    assert not left, "Ray's processes outlived the driver"
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"{PROG}: warning: 1 trial(s) unfinished (seed=0; interrupted): finished trials are "
        "kept; continue with --name stopped --resume"
    )
    (row,) = read_csv(tmp_path / "stopped" / "trials.csv")
    assert row["finished"] == "false"


@pytest.mark.slow
def test_a_killed_sweep_resumes_to_the_same_logs(reference, ray_tmp, tmp_path, capsys):
    """SIGKILL the driver once a trial has finished and another is halfway (it has a
    checkpoint), then --resume: every log equals the uninterrupted sweep's but for wall_time,
    and the trials that had finished are not touched."""
    spec = sweep.read_spec(reference)
    driver = subprocess.Popen(
        [sys.executable, str(REPO / "tools" / "sweep.py"), *sweep_args(tmp_path, "killed")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    sweep_dir = tmp_path / "killed"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and driver.poll() is None:
            outcomes = [sweep.read_outcome(sweep_dir, t) for t in spec.trials()]
            finished = [o.trial.key for o in outcomes if o.finished]
            halfway = [
                o.trial.key
                for o in outcomes
                if not o.finished
                and ckpt.list_checkpoint_episodes(sweep_dir / "runs" / o.trial.key)
            ]
            if finished and halfway:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the sweep ended before a trial was caught halfway")
    finally:
        _kill_session(driver)
    capsys.readouterr()
    kept = {
        p: p.stat().st_mtime_ns
        for key in finished
        for p in (sweep_dir / "runs" / key).iterdir()
        if p.is_file()
    }
    assert len(finished) < len(KEYS)

    assert call_main(sweep.main, "--name", "killed", "--storage", tmp_path, "--resume") == 0
    for key in KEYS:
        resumed, uninterrupted = sweep_dir / "runs" / key, reference / "runs" / key
        assert log_without_wall_time(resumed) == log_without_wall_time(uninterrupted), key
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert [r["finished"] for r in read_csv(sweep_dir / "trials.csv")] == ["true"] * len(KEYS)


@pytest.mark.slow
def test_a_report_can_evaluate_every_finished_trial(reference, tmp_path, capsys):
    """--report --evaluate N: evaluation.csv holds, for every finished trial, what
    tools/evaluate.py reports of its final policy under each of the README's measures."""
    from tools import evaluate

    out = tmp_path / "evaluated"
    assert call_main(sweep.main, "--report", reference, "--out", out, "--evaluate", "3") == 0
    printed = capsys.readouterr().out
    assert "full, noise 0.2" in printed and "recovered, full, push 1.0" in printed
    rows = read_csv(out / sweep.EVALUATION_FILE)
    assert sorted(f"{r['setting']},seed={r['seed']}" for r in rows) == sorted(KEYS)
    for row in rows:
        assert row["checkpoint_episode"] == "6" and row["evaluation_episodes"] == "3"
        run_dir = reference / "runs" / f"{row['setting']},seed={row['seed']}"
        for name, start_noise, push in sweep.EVALUATIONS:
            args = [run_dir, "--episodes", "3", "--start_noise", str(start_noise), "--json"]
            assert call_main(evaluate.main, *args, *(["--push", str(push)] if push else [])) == 0
            direct = json.loads(capsys.readouterr().out.splitlines()[-1])
            assert int(row[f"full_{name}"]) == direct["full_episodes"]
            if push is not None:
                assert int(row[f"recovered_{name}"]) == direct["recovered"]
                assert int(row[f"pushes_{name}"]) == direct["pushes"]
    assert call_main(sweep.main, "--report", reference, "--evaluate", "0") == 2
    assert "--evaluate needs at least 1 episode" in error_line(capsys, PROG)


@pytest.mark.slow
def test_an_archive_is_small_and_reports_and_evaluates_as_the_sweep(reference, tmp_path, capsys):
    """--archive SWEEP --out DIR: a copy without buffers or critics that --report --evaluate
    reads to the same tables, whose runs tools/evaluate.py takes; never into a used folder."""
    archive = tmp_path / "archive"
    assert call_main(sweep.main, "--archive", reference, "--out", archive) == 0
    assert "archived 4 finished trial(s)" in capsys.readouterr().out
    for key in KEYS:
        files = {p.name for p in (archive / "runs" / key).rglob("*") if p.is_file()}
        assert files == {
            "config.json", "train_log.csv", "train.png", "checkpoint_ep6.json",
            ckpt.TRAINING_STATE_FILE, "actor.weights.h5", "peak_memory_mb.txt",
        }  # fmt: skip
    source = sum(p.stat().st_size for p in (reference / "runs").rglob("*") if p.is_file())
    copied = sum(p.stat().st_size for p in archive.rglob("*") if p.is_file())
    assert copied < source / 5

    tables = ["summary.csv", "evaluation.csv"]
    assert (
        call_main(sweep.main, "--report", reference, "--out", tmp_path / "a", "--evaluate", "2")
        == 0
    )
    assert call_main(sweep.main, "--report", archive, "--evaluate", "2") == 0
    capsys.readouterr()
    for name in tables:
        assert (archive / name).read_text() == (tmp_path / "a" / name).read_text()
    trials = read_csv(archive / "trials.csv")
    assert trials == read_csv(tmp_path / "a" / "trials.csv")

    assert call_main(sweep.main, "--archive", reference, "--out", archive) == 2
    assert "is not empty: archive into a new folder" in error_line(capsys, PROG)
    assert call_main(sweep.main, "--archive", reference) == 2
    assert "--archive takes one sweep folder and --out" in error_line(capsys, PROG)
