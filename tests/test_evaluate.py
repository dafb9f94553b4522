"""tools/evaluate.py: episodes of a policy, with start noise and pushes, summarised."""

import importlib.util
import json
from pathlib import Path

import gymnasium
import numpy as np
import pytest

from environment.wrappers import Pushes
from tests.policy_helpers import balancing_policy, copy_run, results_folder, run_config, tiny_run
from tests.tool_helpers import TOOLS, call_main, error_line, run_tool

REPO = Path(__file__).resolve().parents[1]


def load_tool():
    spec = importlib.util.spec_from_file_location("evaluate_tool", TOOLS / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = load_tool()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_run(tmp_path_factory)


@pytest.fixture(scope="module")
def controller(run):
    return balancing_policy(run_config(run))


class ScriptedEnv(gymnasium.Env):
    """Counts steps, ends at `end` (terminated) or at the cap (truncated); records pushes."""

    def __init__(self, end: int | None, cap: int = 400) -> None:
        self.end, self.max_episode_steps, self.steps = end, cap, 0
        self.pushes: list[tuple[int, float]] = []

    def reset(self, seed=None, options=None):
        self.steps = 0
        return np.zeros(4, dtype=np.float32), {}

    def push(self, strength):
        self.pushes.append((self.steps, strength))

    def step(self, action):
        self.steps += 1
        terminated = self.steps == self.end
        truncated = not terminated and self.steps >= self.max_episode_steps
        info = {"steps": self.steps, **({"termination_reason": "fell"} if terminated else {})}
        return np.zeros(4, dtype=np.float32), float(not terminated), terminated, truncated, info


class Idle:
    def act(self, observation, deterministic=True):
        return np.zeros(1, dtype=np.float32)


@pytest.mark.parametrize(
    ("end", "cap", "pushed_at", "recovered"),
    [
        (None, 400, [50, 150, 250, 350], 4),  # full episode: every push recovered
        (180, 400, [50, 150], 1),  # 150 + 50 > 180
        (200, 400, [50, 150], 2),  # exactly 50 more steps
        (30, 400, [], 0),  # ended before the first push
        (None, 380, [50, 150, 250, 350], 4),  # the cap, 30 steps after a push: no termination
    ],
)
def test_pushes_and_recoveries_are_counted(end, cap, pushed_at, recovered):
    scripted = ScriptedEnv(end, cap)
    env = Pushes(scripted, 0.5, np.random.default_rng(4), draw="episode")
    directions = np.random.default_rng(4).choice([-1.0, 1.0], size=len(env.steps_pushed))
    result = tool.run_episode(Idle(), env, 0, True)
    assert [step for step, _ in scripted.pushes] == pushed_at
    assert [s for _, s in scripted.pushes] == [0.5 * d for d in directions[: len(pushed_at)]]
    assert result["pushes"] == len(pushed_at) and result["recovered"] == recovered
    assert result["steps"] == (end or cap) and result["full"] == (end is None)
    assert result["termination_reason"] == (None if end is None else "fell")


def test_without_push_nobody_is_pushed():
    env = ScriptedEnv(None)
    result = tool.run_episode(Idle(), env, 0, True)
    assert env.pushes == [] and result["pushes"] == 0


def test_a_good_policy_survives_small_pushes(controller):
    calm = tool.evaluate(controller, 3, 0.05, 0)
    assert calm["full_episodes"] == 3 and calm["mean_steps"] == calm["min_steps"] == 400
    assert calm["termination_reasons"] == {} and "pushes" not in calm
    pushed = tool.evaluate(controller, 3, 0.05, 0, push=0.5)
    assert pushed["full_episodes"] == 3 and pushed["pushes"] == pushed["recovered"] == 12
    hard = tool.evaluate(controller, 3, 0.05, 0, push=2.0)
    assert hard["full_episodes"] == 0 and hard["max_steps"] < 70
    assert hard["pushes"] == 3 and hard["recovered"] == 0
    assert hard["termination_reasons"] == {"pole fell": 3}


def test_episodes_differ_and_the_evaluation_repeats(controller, monkeypatch):
    starts = []
    make = controller.make_environment

    def spying_environment(**kwargs):
        env = make(**kwargs)
        reset = env.reset

        def recording_reset(**reset_kwargs):
            observation, info = reset(**reset_kwargs)
            starts.append(observation)
            return observation, info

        env.reset = recording_reset
        return env

    monkeypatch.setattr(controller, "make_environment", spying_environment)
    first = tool.evaluate(controller, 4, 0.05, 0, push=1.0)
    assert len({tuple(s) for s in starts}) == 4  # four different start states
    assert tool.evaluate(controller, 4, 0.05, 0, push=1.0) == first
    assert [tuple(s) for s in starts[:4]] == [tuple(s) for s in starts[4:8]]
    tool.evaluate(controller, 4, 0.05, 1, push=1.0)
    assert tuple(starts[8]) != tuple(starts[0])


def test_push_directions_are_both_and_seeded(controller, monkeypatch):
    pushes = []
    make = controller.make_environment

    def spying_environment(**kwargs):
        env = make(**kwargs)
        env.push = lambda strength: pushes.append(strength)
        return env

    monkeypatch.setattr(controller, "make_environment", spying_environment)
    tool.evaluate(controller, 5, 0.05, 0, push=0.5)
    assert len(pushes) == 20 and set(pushes) == {-0.5, 0.5}
    again = list(pushes)
    pushes.clear()
    tool.evaluate(controller, 5, 0.05, 0, push=0.5)
    assert pushes == again


def test_pushes_to_one_side_and_at_chosen_steps(controller, monkeypatch):
    pushes = []
    make = controller.make_environment

    def spying_environment(**kwargs):
        env = make(**kwargs)
        env.push = lambda strength: pushes.append((env.steps, strength))
        return env

    monkeypatch.setattr(controller, "make_environment", spying_environment)
    both = tool.evaluate(controller, 3, 0.05, 0, push=0.5)
    assert both["push_side"] == "both" and both["push_at"] == [50, 150, 250, 350]
    drawn = list(pushes)
    for side, sign in (("left", -1.0), ("right", 1.0)):
        pushes.clear()
        summary = tool.evaluate(controller, 3, 0.05, 0, push=0.5, push_side=side)
        assert pushes == [(step, sign * 0.5) for step, _ in drawn]
        assert summary["push_side"] == side
    pushes.clear()
    once = tool.evaluate(controller, 3, 0.05, 0, push=0.5, push_at=[120, 30, 120])
    assert [step for step, _ in pushes] == [30, 120] * 3 and once["push_at"] == [30, 120]
    assert once["pushes"] == 6 and once["recovered"] == 6 and once["full_episodes"] == 3
    with pytest.raises(tool.PushScheduleError, match="episode cap of 400"):
        tool.evaluate(controller, 1, 0.05, 0, push=0.5, push_at=[400])


def test_stochastic_evaluation_samples_its_actions_from_the_seed(capsys):
    """--stochastic: from one start state (no start noise) the deterministic policy plays the
    same episode every time and under every seed; sampled actions make the episodes differ
    from it, from one another and between seeds, and the same seed repeats them. (The sitting
    bolla rolla agent: its episodes' lengths vary most with its actions.)"""

    def summary(*args: str) -> dict:
        folder = REPO / "results" / "bolla-rolla-seed0"
        argv = [folder, "--episodes", "4", "--start_noise", "0", "--json", *args]
        assert call_main(tool.main, *argv) == 0
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    def lengths(result: dict) -> tuple:
        return result["mean_steps"], result["min_steps"], result["max_steps"]

    deterministic = summary("--seed", "3")
    assert deterministic["min_steps"] == deterministic["max_steps"]
    assert lengths(summary("--seed", "4")) == lengths(deterministic)
    stochastic = summary("--seed", "3", "--stochastic")
    assert (stochastic["deterministic"], deterministic["deterministic"]) == (False, True)
    assert stochastic["min_steps"] < stochastic["max_steps"]
    assert lengths(stochastic) != lengths(deterministic)
    assert summary("--seed", "3", "--stochastic") == stochastic
    assert lengths(summary("--seed", "4", "--stochastic")) != lengths(stochastic)


def test_the_command_prints_a_table_and_json(run, capsys):
    assert call_main(tool.main, run, "--episodes", "3", "--push", "0.3", "--json") == 0
    out = capsys.readouterr().out.strip().splitlines()
    table = "\n".join(out[:-1])
    for row in ("episodes", "mean steps", "min steps", "max steps", "full episodes"):
        assert row in table
    assert "terminations" in table and "pushes" in table and "recovered" in table
    summary = json.loads(out[-1])
    for key in ("episodes", "mean_steps", "min_steps", "max_steps", "full_episodes"):
        assert key in summary
    assert summary["episodes"] == 3 and summary["seed"] == 0 and summary["start_noise"] == 0.05
    assert summary["push"] == 0.3 and summary["checkpoint_episode"] == 2
    assert "after steps 50, 150, 250, 350" in table
    assert sum(summary["termination_reasons"].values()) + summary["full_episodes"] == 3
    assert summary["min_steps"] <= summary["mean_steps"] <= summary["max_steps"] <= 400


def test_a_results_folder_gives_the_same_numbers(run, tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "config.json").write_bytes((run / "config.json").read_bytes())
    (folder / "actor.weights.h5").write_bytes((run / "models_ep2/actor.weights.h5").read_bytes())
    summaries = []
    for source in (run, folder):
        assert call_main(tool.main, source, "--episodes", "2", "--json", "--seed", "5") == 0
        summaries.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    ignored = ("weights", "checkpoint_episode")
    assert {k: v for k, v in summaries[0].items() if k not in ignored} == {
        k: v for k, v in summaries[1].items() if k not in ignored
    }
    assert summaries[1]["checkpoint_episode"] is None


def test_bad_folders_exit_with_one_line(run, tmp_path, capsys):
    assert call_main(tool.main, tmp_path / "missing") == 2
    assert "is not a folder" in error_line(capsys, "evaluate.py")
    results_folder(tmp_path / "misfit", {**run_config(run), "env_name": "standing"}, 4, 1)
    assert call_main(tool.main, tmp_path / "misfit") == 2
    assert "does not fit" in error_line(capsys, "evaluate.py")
    damaged = copy_run(run, tmp_path / "damaged")
    for weights in damaged.glob("models_ep*/actor.weights.h5"):
        weights.write_bytes(b"garbage")
    assert call_main(tool.main, damaged) == 2
    assert "nor a good checkpoint" in error_line(capsys, "evaluate.py", alone=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--push", "-1"], "--push"),
        (["--push", "nan"], "--push"),
        (["--push", "inf"], "--push"),
        (["--episodes", "0"], "--episodes"),
        (["--start_noise", "-0.1"], "--start_noise"),
        (["--push_side", "up"], "--push_side"),
        (["--push", "1", "--push_at", "-5"], "--push_at"),
        (["--push_at", "100"], "need --push"),
        (["--push_side", "left"], "need --push"),
        ([], "is not a folder"),
    ],
)
def test_bad_arguments_exit_2_in_one_line(tmp_path, args, message):
    folder = tmp_path if args else tmp_path / "nothing"  # the flags fail before the folder
    result = run_tool("evaluate.py", str(folder), *args, cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_a_push_past_the_cap_exits_2_in_one_line(run, capsys):
    assert call_main(tool.main, run, "--push", "1", "--push_at", "50", "400") == 2
    assert "episode cap of 400" in error_line(capsys, "evaluate.py")


def test_a_symmetric_policy_is_evaluated_and_named_as_such(tmp_path, run):
    """A results folder trained with symmetric_policy: evaluate.py acts with the symmetric
    version and says so in its table."""
    config = {**run_config(run), "symmetric_policy": True, "max_steps": 30}
    results_folder(tmp_path / "results", config, 4, 1)
    result = run_tool("evaluate.py", str(tmp_path / "results"), "--episodes", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(deterministic, left-right symmetric, start_noise 0.05, seed 0)" in result.stdout


# Every agent under results/ but the runs of a fast recipe's verification archived beside its
# report (results/sweeps/<task>-fast/recipe/ and reference/: the recipe's seeds and the
# reference settings' on the same seeds): measurements, whose evaluation.csv holds their
# figures, not promises.
VERIFICATION_ARCHIVES = {"recipe", "reference"}
SHIPPED = sorted(
    p.parent
    for p in (REPO / "results").rglob("actor.weights.h5")
    if not VERIFICATION_ARCHIVES & set(p.relative_to(REPO / "results").parts)
)


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: str(p.relative_to(REPO / "results")))
def test_every_shipped_agent_balances_to_the_episode_cap(folder):
    """Every shipped agent plays 5 episodes from the default start noise to the cap of 400
    steps, but the one that sits (README: 13 of 20 full episodes, mean length 301.3): at least
    2 full, 200 steps on average. An untrained actor of their size falls within 70 steps."""
    from training.policy import load_policy

    summary = tool.evaluate(load_policy(folder), episodes=5, start_noise=0.05, seed=0)
    if folder.name == "bolla-rolla-seed0":
        assert summary["full_episodes"] >= 2 and summary["mean_steps"] >= 200, summary
    else:
        assert summary["full_episodes"] == 5 and summary["episode_cap"] == 400, summary


@pytest.mark.parametrize("name", ["standing-robust-seed0", "bolla-rolla-upright-robust-seed0"])
def test_the_robust_agents_meet_their_targets(name):
    """What the README's robustness table promises of the shipped robust agents: at least 18 of
    20 full episodes from start noise 0.2, and at least 90 % of the pushes of 1.0 recovered."""
    from training.policy import load_policy

    policy = load_policy(REPO / "results" / name)
    assert tool.evaluate(policy, episodes=20, start_noise=0.2, seed=0)["full_episodes"] >= 18
    pushed = tool.evaluate(policy, episodes=20, start_noise=0.05, seed=0, push=1.0)
    assert pushed["recovered"] >= 0.9 * pushed["pushes"]
