"""tools/sweep.py --search: its space file's checks before Ray starts, the objective and the
report read from run folders, and a tiny real search whose driver is SIGKILLed, resumed to
the end, and whose best.yaml then trains with main.py --recipe."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import main
from tests.test_sweep import _kill_session, ray_tmp  # noqa: F401 (a fixture)
from tests.tool_helpers import call_main, error_line
from tools import sweep
from tools.sweeping import search as search_module
from tools.sweeping.search_report import (
    Candidate,
    _check_text,
    best_recipe,
    read_candidates,
    search_table,
)
from training import checkpoints as ckpt
from training.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]
PROG = "sweep.py"
SPACE = "actor_lr: {loguniform: [1.0e-4, 3.0e-3]}\nlayer1_size: {choice: [8, 16]}\n"
# Two candidates of one seed each, on a cartpole of 20-step episodes that a 2-of-a-row rule at
# score 19 can solve; T_cap 0.04 min (2.4 s of training) per seed.
TINY = [
    "--env_name", "cartpole", "--seeds", "0", "1", "--samples", "2", "--time_cap", "0.04",
    "--set", "n_games=8", "--set", "max_steps=20", "--set", "layer2_size=8",
    "--set", "batch_size=4", "--set", "buffer_size=1000", "--set", "save_every=1",
    "--set", "solve_score=19", "--set", "solve_count=2",
]  # fmt: skip


def space_file(folder: Path, text: str = SPACE) -> Path:
    path = folder / "space.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour: {choice: [1, 2]}", "space.yaml: colour: not a setting a search can vary"),
        ("seed: {choice: [1, 2]}", "space.yaml: seed: not a setting a search can vary"),
        ("gamma: {normal: [0.9, 0.1]}", "space.yaml: gamma: unknown distribution 'normal'"),
        ("gamma: [0.9, 0.99]", "space.yaml: gamma: expected one of {choice, uniform"),
        ("gamma: {uniform: [0.99, 0.9]}", "gamma: uniform takes [low, high] with low < high"),
        ("gamma: {uniform: [0.9, 1.5]}", "space.yaml: uniform of --gamma must lie in"),
        ("actor_lr: {loguniform: [0, 0.1]}", "actor_lr: loguniform needs low > 0"),
        ("layer1_size: {uniform: [8, 64]}", "a whole-number setting: use randint or choice"),
        ("layer1_size: {randint: [8.5, 64]}", "layer1_size: randint takes whole numbers"),
        ("layer1_size: {choice: [8, 0]}", "choice of --layer1_size must be at least 1"),
        ("algo: {choice: [sac1, sac1]}", "algo: choice repeats a value"),
        ("algo: {choice: [sac1, sac9]}", "choice of --algo must be sac1 or sac2"),
        ("- 1\n- 2", "space.yaml: expected settings, each mapped to a distribution"),
        ("gamma: {uniform: [0.9, 0.99]", "--search: cannot read"),
        ("policy_delay: {choice: [1, 3]}", "choice of --policy_delay applies to --algo crossq"),
        ("policy_delay: {choice: [1, 3], when: crossq}", "policy_delay: when takes {setting"),
        ("tau: {choice: [0.01], when: {colour: 1}}", "tau: when: colour is not another setting"),
        ("tau: {choice: [0.01], when: {tau: 0.1}}", "tau: when: tau is not another setting"),
        ("tau: {choice: [0.01], when: {algo: []}}", "tau: when: algo takes a value or a list"),
        ("tau: {choice: [0.1], when: {algo: sac9}}", "choice of --algo must be sac1 or sac2"),
    ],
)
def test_a_space_that_cannot_be_searched_is_one_line_before_anything_starts(
    tmp_path, capsys, text, message
):
    path = space_file(tmp_path, text)
    code = call_main(sweep.main, "--search", path, *TINY, "--name", "s", "--storage", tmp_path)
    assert code == 2
    assert message in error_line(capsys, PROG)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--search", "SPACE", "--env_name", "cartpole"], "--search needs --samples N"),
        (["--samples", "3", "--env_name", "cartpole"], "--samples, --time_cap and --check go with"),
        (
            [
                "--search",
                "SPACE",
                "--samples",
                "2",
                "--env_name",
                "cartpole",
                "--grid",
                "gamma=0.9,0.99",
            ],
            "--search takes no --grid",
        ),  # fmt: skip
        (
            [
                "--search",
                "SPACE",
                "--samples",
                "2",
                "--env_name",
                "cartpole",
                "--set",
                "actor_lr=0.001",
            ],
            "actor_lr is both searched (space.yaml) and fixed (--set)",
        ),  # fmt: skip
        (
            ["--search", "nowhere.yaml", "--samples", "2", "--env_name", "cartpole"],
            "--search: nowhere.yaml does not exist",
        ),  # fmt: skip
        (["--search", "SPACE", "--samples", "0", "--env_name", "cartpole"], "--samples must"),
    ],
)
def test_a_search_asked_for_wrongly_is_one_line(tmp_path, capsys, args, message):
    path = space_file(tmp_path)
    args = [str(path) if a == "SPACE" else a for a in args]
    code = call_main(sweep.main, *args, "--name", "s", "--storage", tmp_path)
    assert code == 2
    assert message in error_line(capsys, PROG)


def test_an_entry_with_when_applies_only_to_the_candidates_it_names(tmp_path):
    """policy_delay searched for crossq alone: a sac2 candidate runs without it, and differs
    from another sac2 candidate only by a value that does not apply: the same candidate."""
    text = "algo: {choice: [sac2, crossq]}\npolicy_delay: {choice: [1, 3], when: {algo: crossq}}\n"
    spec = search_module.build_search(
        space_file(tmp_path, text), "cartpole", [0], [], None, 2, None
    )
    assert spec.space["policy_delay"]["when"] == {"algo": ["crossq"]}
    crossq = spec.applicable({"algo": "crossq", "policy_delay": "3"})
    assert crossq == {"algo": "crossq", "policy_delay": "3"}
    assert spec.config(crossq, 0).policy_delay == 3
    sac2 = spec.applicable({"algo": "sac2", "policy_delay": "3"})
    assert sac2 == {"algo": "sac2"} and spec.config(sac2, 0).policy_delay == 1
    assert spec.candidate_key(sac2) == spec.candidate_key(
        spec.applicable({"algo": "sac2", "policy_delay": "1"})
    )
    # A condition on a setting the search does not vary: its base value decides.
    only = search_module.build_search(
        space_file(tmp_path, "tau: {choice: [0.01, 0.02], when: {algo: [sac1, sac2]}}"),
        "cartpole", [0], [], None, 2, None,
    )  # fmt: skip
    assert only.applicable({"tau": "0.02"}) == {"tau": "0.02"}  # the default algo: sac1
    crossq_base = search_module.build_search(
        space_file(tmp_path, "tau: {choice: [0.01, 0.02], when: {algo: [sac1, sac2]}}"),
        "cartpole", [0], ["algo=crossq"], None, 2, None,
    )  # fmt: skip
    assert crossq_base.applicable({"tau": "0.02"}) == {}


def test_search_csv_orders_its_columns_as_the_space_file(tmp_path):
    """A conditional entry's column stays where the space file puts it, empty for the
    candidates it does not apply to, even when the first candidate lacks it."""
    text = "algo: {choice: [sac2, crossq]}\npolicy_delay: {choice: [1, 3], when: {algo: crossq}}\n"
    text += "actor_lr: {choice: [0.001, 0.002]}\n"
    spec = search_module.build_search(
        space_file(tmp_path, text), "cartpole", [0], [], None, 2, None
    )
    sac2 = Candidate("c1", {"algo": "sac2", "actor_lr": "0.001"}, 0.0, [True], [1.0], [40], True)
    crossq = Candidate("c2", {"algo": "crossq", "policy_delay": "3", "actor_lr": "0.002"}, 1.0,
                       [True], [0.5], [30], True)  # fmt: skip
    table = search_table(spec, [sac2, crossq])
    assert list(table.columns[:5]) == ["candidate", "key", "algo", "policy_delay", "actor_lr"]
    assert table["policy_delay"].isna().tolist() == [True, False]


def test_the_objective_counts_t_cap_for_every_seed_not_solved():
    spec = search_module.SearchSpec("CartpoleEnvironment", [0, 1, 2], {}, {}, 4, 6.0)
    solved_two = Candidate("c1", {}, 0.0, [True, True, False], [1.0, 2.0, 6.0], [50, 60, 200],
                           True)  # fmt: skip
    assert solved_two.objective(spec) == pytest.approx((1.0 + 2.0 + 6.0) / 3)
    stopped = Candidate("c2", {}, 0.0, [True], [0.5], [30, 10], False)
    assert stopped.objective(spec) == pytest.approx((0.5 + 6.0 + 6.0) / 3)


def test_the_space_becomes_tune_distributions_with_randint_s_high_end_included():
    space = search_module.read_space(
        space_file(Path(__import__("tempfile").mkdtemp()), "update_every: {randint: [1, 2]}\n")
    )
    domain = search_module.tune_space(space)["update_every"]
    assert (domain.lower, domain.upper) == (1, 3)  # Tune's upper end is excluded


def wait_for_a_checkpoint(driver: subprocess.Popen, search_dir: Path, more_than: int = 0) -> int:
    """Wait until the search's run folders hold more than `more_than` checkpoints; how many."""
    deadline = time.monotonic() + 300
    while True:
        count = sum(
            len(ckpt.list_checkpoint_episodes(run)) for run in (search_dir / "runs").glob("c*")
        )
        if count > more_than:
            return count
        assert driver.poll() is None, "the search ended before it was stopped"
        assert time.monotonic() < deadline, "no candidate made a checkpoint"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_stopped_then_killed_search_resumes_to_its_end_and_its_best_recipe_trains(
    ray_tmp,  # noqa: F811
    tmp_path,
    capsys,
):
    """Ctrl-C (SIGINT) once a candidate has a checkpoint: exit code 130 and one line saying how
    to continue; --resume, then SIGKILL of that driver (and Ray with it); --resume again runs
    the search to its two candidates: search.csv, search.png and best.yaml are written, and
    best.yaml is a recipe main.py trains with."""
    space = space_file(tmp_path)
    command = [sys.executable, str(REPO / "tools" / "sweep.py")]
    where = ["--name", "killed", "--storage", str(tmp_path)]
    search_dir = tmp_path / "killed"
    driver = subprocess.Popen(
        [*command, "--search", str(space), *TINY, *where], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        made = wait_for_a_checkpoint(driver, search_dir)
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=120)
    finally:
        _kill_session(driver)
    assert driver.returncode == 130, err
    assert (
        err.strip().splitlines()[-1].endswith("unfinished): continue with --name killed --resume")
    )
    driver = subprocess.Popen(
        [*command, *where, "--resume"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_a_checkpoint(driver, search_dir, made)
    finally:
        _kill_session(driver)
    capsys.readouterr()
    code = call_main(sweep.main, "--name", "killed", "--storage", tmp_path, "--resume")
    printed = capsys.readouterr().out
    assert code == 0, printed
    spec = search_module.read_search(search_dir)
    candidates = read_candidates(search_dir, spec)
    assert len(candidates) == 2
    with open(search_dir / "search.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["key"] for row in rows] == [c.key for c in candidates]
    assert {"actor_lr", "layer1_size", "objective_minutes", "stopped_early"} <= rows[0].keys()
    for row, candidate in zip(rows, candidates, strict=True):  # the final check of each seed
        checks = row["final_check"].split()
        assert len(checks) == len(candidate.solved)
        assert all(c == "-" or c.endswith("/20") for c in checks), checks
    assert (search_dir / "search.png").stat().st_size > 10_000
    best = search_dir / "best.yaml"
    assert best.read_text() == best_recipe(search_dir, spec, min(
        (c for c in candidates if c.complete), key=lambda c: c.objective(spec)
    ))  # fmt: skip
    settings = load_recipe(str(best)).settings
    assert settings["layer1_size"] in (8, 16) and 1e-4 <= settings["actor_lr"] <= 3e-3
    run_dir = tmp_path / "from-best"
    code = call_main(main.main, "--recipe", best, "--seed", "5", "--n_games", "2",
                     "--no_record", "--no_progress", "--save_dir", run_dir)  # fmt: skip
    assert code == 0
    assert (run_dir / "train_log.csv").exists()


def test_a_solved_seed_counts_only_if_its_final_agent_passes_the_check(tmp_path):
    """The final check plays the frozen agent, keeps its verdict in the run folder, and turns a
    solved seed whose agent fails into an unsolved one; unsolved seeds and searches without a
    check are left as they are."""
    run_dir = tmp_path / "run"
    code = call_main(main.main, "--env_name", "cartpole", "--n_games", "2", "--max_steps", "20",
                     "--layer1_size", "8", "--layer2_size", "8", "--batch_size", "4",
                     "--no_record", "--no_progress", "--save_dir", run_dir)  # fmt: skip
    assert code == 0
    assert search_module.checked(run_dir, (True, 12.0), 4) is None  # solved, not yet checked
    result = search_module.final_check(run_dir, 4)
    assert result["episodes"] == 4 and 0 <= result["full"] <= 4
    assert result["start_noise"] == search_module.CHECK_NOISE
    assert result["passed"] == (result["full"] == 4)  # 95 % of 4 episodes: all four
    assert search_module.read_check(run_dir) == result
    assert search_module.checked(run_dir, (True, 12.0), 4) == (result["passed"], 12.0)
    (run_dir / search_module.CHECK_FILE).write_text('{"episodes": 4, "full": 3, "passed": false}')
    assert search_module.checked(run_dir, (True, 12.0), 4) == (False, 12.0)
    assert search_module.checked(run_dir, (False, 30.0), 4) == (False, 30.0)
    assert search_module.checked(run_dir, (True, 12.0), 0) == (True, 12.0)  # no check
    assert search_module.checked(run_dir, None, 4) is None


@pytest.mark.parametrize(
    "train_push, push, recovered, passed",
    [(0.7, 0.7, 9, True), (0.7, 0.7, 8, False), (1.5, 1.0, 9, True)],
)
def test_a_run_trained_with_pushes_must_also_recover_85_percent_of_them(
    tmp_path, monkeypatch, train_push, push, recovered, passed
):
    """Trained with --train_push, the final check also plays the push test at that strength,
    at most 1.0 (from start noise 0.05), and fails the seed when under 85 % of the pushes are
    recovered, even with every episode full from noisy starts; search.csv shows both parts."""
    import tools.evaluate

    run_dir = tmp_path / "run"
    code = call_main(main.main, "--env_name", "cartpole", "--n_games", "2", "--max_steps", "20",
                     "--layer1_size", "8", "--layer2_size", "8", "--batch_size", "4",
                     "--start_noise", "0.2", "--train_push", str(train_push),
                     "--no_record", "--no_progress", "--save_dir", run_dir)  # fmt: skip
    assert code == 0
    calls = []

    def evaluate(policy, episodes, start_noise, seed=0, push=None, **_):
        calls.append((episodes, start_noise, seed, push))
        if push is None:
            return {"full_episodes": episodes}
        return {"full_episodes": 0, "pushes": 10, "recovered": recovered}

    monkeypatch.setattr(tools.evaluate, "evaluate", evaluate)
    result = search_module.final_check(run_dir, 4)
    assert calls == [(4, 0.2, search_module.CHECK_SEED, None),
                     (4, search_module.CHECK_NOISE, search_module.CHECK_SEED, push)]  # fmt: skip
    assert (result["full"], result["push"], result["pushes"]) == (4, push, 10)
    assert result["recovered"] == recovered and result["passed"] is passed
    assert search_module.checked(run_dir, (True, 12.0), 4) == (passed, 12.0)
    assert _check_text(search_module.read_check(run_dir)) == f"4/4+{recovered}/10"


@pytest.mark.parametrize("path", sorted((REPO / "spaces").glob("*.yaml")), ids=lambda p: p.stem)
def test_the_shipped_spaces_can_be_searched(path):
    """Every choice and both ends of every range make a run main.py accepts, and so does the
    candidate the driver checks before it starts Ray (the robust recipe's act_averaged needs
    the searched average_actor)."""
    recipe = path.stem if path.stem.startswith("bolla-rolla") else None
    env_name = None if recipe else path.stem
    spec = search_module.build_search(path, env_name, [100, 101], [], recipe, 6, None)
    assert spec.space and spec.time_cap == search_module.TIME_CAPS[spec.env_name]
    assert spec.first_config().env_name == spec.env_name  # what the driver checks before Ray
