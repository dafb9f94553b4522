"""Mutation check: deliberate bugs that the fast tests must catch (`make mutants`).

    python -m tests.mutants            # every mutant
    python -m tests.mutants --list     # their names
    python -m tests.mutants max-over-critics no-reward-scale   # some of them

The repository's files (as in the work tree) are copied to a scratch folder, and the fast tests
(`-m "not slow"`) must first pass there unchanged. Then each mutant replaces lines of that
copy, the fast tests run against it (stopping at the first failure; the test files likeliest to
catch it run first), and the copy is put back. A mutant counts as caught only by a failing test: a
collection or import error, or an error in a fixture, is not a catch. A mutant whose lines are
no longer in the code (or are there more than once) fails the check too, so the list follows
the code as it moves. The tests import the scratch copy: the check makes sure of it before it
starts.

Prints one line per mutant and `N of N caught`; exits 1 if any mutant survived or failed to
apply. Takes about 20 minutes on a 2-core machine (docs/testing.md has the figures).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the repository
    edits: tuple[tuple[str, str], ...]  # (text that must occur exactly once, its replacement)
    first: tuple[str, ...]  # test files run first: the likeliest to catch it


AGENT, LOOP, WRAPPERS = "agent/agent.py", "training/loop.py", "environment/wrappers.py"
UPDATES, CROSSQ = "agent/updates.py", "agent/crossq.py"
MATHS = ("tests/test_agent_maths.py", "tests/test_agent.py")
PUSHES = ("tests/test_wrappers.py", "tests/test_loop.py")
MUTANTS = (
    Mutant("entropy-sign-in-value-target", UPDATES, (
        ("value_target = tf.stop_gradient(q_new - alpha * log_prob)",
         "value_target = tf.stop_gradient(q_new + alpha * log_prob)"),), MATHS),
    Mutant("temperature-loss-sign", UPDATES, (
        ("return -tf.reduce_mean(agent.log_alpha", "return tf.reduce_mean(agent.log_alpha"),),
        MATHS),
    Mutant("policy-samples-ignored", UPDATES, (
        ("if agent.policy_samples == 2:", "if False:"),), MATHS),
    Mutant("no-terminal-masking", UPDATES, (
        ("agent.gamma * (1.0 - terminated) * agent.target_value(new_state)",
         "agent.gamma * agent.target_value(new_state)"),), MATHS),
    Mutant("no-target-update", AGENT, (
        ("moved.assign(self.tau * weight + (1.0 - self.tau) * moved)",
         "moved.assign(moved)"),), MATHS),
    Mutant("no-reward-scale", UPDATES, (
        ("            agent.reward_scale * reward\n", "            reward\n"),), MATHS),
    Mutant("max-over-critics", UPDATES, (
        ("            q_new = tf.minimum(", "            q_new = tf.maximum("),), MATHS),
    Mutant("actor-loss-without-temperature", UPDATES, (
        ("sampled_q(noise[:, 1])\n        actor_loss = tf.reduce_mean(alpha * log_prob - q_new)",
         "sampled_q(noise[:, 1])\n        actor_loss = tf.reduce_mean(log_prob - q_new)"),),
        MATHS),
    Mutant("tanh-correction-sign", "agent/networks.py", (
        ("tf.reduce_sum(log_normal - log_det, axis=-1)",
         "tf.reduce_sum(log_normal + log_det, axis=-1)"),), MATHS),
    Mutant("averaged-actor-copies-the-actor", AGENT, (
        ('rate = 1.0 / self._config["average_actor"]', "rate = 1.0"),), MATHS),
    Mutant("sac2-no-entropy-in-target", UPDATES, (
        ("(next_q - alpha * next_log_prob)", "next_q"),), MATHS),
    Mutant("sac2-online-critics-in-target", UPDATES, (
        ("agent.target_critic_1(new_state, next_action),",
         "agent.critic_1(new_state, next_action),"),), MATHS),
    Mutant("sac2-no-terminal-masking", UPDATES, (
        ("agent.gamma * (1.0 - terminated) * (next_q", "agent.gamma * (next_q"),), MATHS),
    Mutant("sac2-actor-reuses-the-next-sample", UPDATES, (
        ("squashed_sample(mean, std, noise[:, 1])", "squashed_sample(mean, std, noise[:, 0])"),),
        MATHS),
    Mutant("crossq-no-entropy-in-target", CROSSQ, (
        ("(next_q - alpha * next_log_prob)", "next_q"),), MATHS),
    Mutant("crossq-actor-on-batch-statistics", CROSSQ, (
        ("agent.critic_1.evaluate(state, new_action, training=False)",
         "agent.critic_1.evaluate(state, new_action, training=True)"),), MATHS),
    Mutant("crossq-running-statistics-stay", CROSSQ, (
        ("self.mean + (1.0 - MOMENTUM) *", "self.mean + 0.0 *"),), MATHS),
    Mutant("crossq-renormalisation-ignored", CROSSQ, (
        ("x_hat = (x - batch_mean) / batch_sigma * r + d",
         "x_hat = (x - batch_mean) / batch_sigma"),), MATHS),
    Mutant("crossq-actor-never-waits", CROSSQ, (
        ("due = tf.equal(step % agent.policy_delay, 0)", "due = tf.constant(True)"),), MATHS),
    Mutant("crossq-adam-beta-1", CROSSQ, (
        ("ADAM_BETA_1 = 0.5", "ADAM_BETA_1 = 0.9"),), MATHS),
    Mutant("target-entropy-ignored", AGENT, (
        ("-float(n_actions) if target_entropy is None else float(target_entropy)",
         "-float(n_actions)"),), MATHS),
    Mutant("update-every-ignored", LOOP, (
        ("if progress.total_steps % plan.update_every == 0:\n"
         "            losses.add(agent.learn(plan.update_every))",
         "if True:\n"
         "            losses.add(agent.learn(1))"),), ("tests/test_loop.py",)),
    Mutant("truncation-stored-as-terminal", LOOP, (
        ("agent.remember(observation, action, reward, next_observation, terminated)",
         "agent.remember(observation, action, reward, next_observation, terminated or truncated)"),
    ), ("tests/test_loop.py",)),
    Mutant("margin-penalty-sign", WRAPPERS, (
        ("float(reward) * (1.0 - self.weight * float(np.mean(shares**2)))",
         "float(reward) * (1.0 + self.weight * float(np.mean(shares**2)))"),), PUSHES),
    Mutant("push-to-the-wrong-side", "environment/environment.py", (
        ("body.velocity = (vx + float(strength) * POSITION_SCALE, vy)",
         "body.velocity = (vx - float(strength) * POSITION_SCALE, vy)"),),
        ("tests/test_environment.py",)),
    Mutant("fixed-side-pushes-the-other-way", WRAPPERS, (
        ('side = -1.0 if self.side == "left" else 1.0',
         'side = 1.0 if self.side == "left" else -1.0'),), PUSHES),
    Mutant("training-pushes-one-side-only", WRAPPERS, (
        ("side = 1.0 if self.rng.random() < 0.5 else -1.0", "side = 1.0"),), PUSHES),
    Mutant("ramp-counts-episodes-not-successes", "training/curriculum.py", (
        ("ramp_factor(successes if self.by_success else episodes, self.ramp)",
         "ramp_factor(episodes, self.ramp)"),), ("tests/test_loop.py",)),
    Mutant("episodes-on-the-ramp-count-toward-solving", "training/curriculum.py", (
        ("return score >= self.solve_score and share >= 1.0",
         "return score >= self.solve_score"),), ("tests/test_loop.py",)),
    Mutant("mirrored-transition-keeps-the-action", AGENT, (
        ("reflect.observation(state), reflect.action(action), reward,",
         "reflect.observation(state), action, reward,"),), ("tests/test_loop.py",)),
    Mutant("symmetric-policy-ignored", AGENT, (
        ("self._symmetry = mirror if symmetric_policy else None",
         "self._symmetry = None"),), ("tests/test_loop.py",)),
    Mutant("act-averaged-ignored", AGENT, (
        ("counted and self._average_from is not None",
         "False and self._average_from is not None"),), ("tests/test_loop.py",)),
)  # fmt: skip


# Generated folders at the top of a repository (caches are skipped anywhere).
GENERATED = {".git", ".venv", "save", "sweeps", "build", ".pytest_cache", ".ruff_cache"}


def copy_repository(to: Path) -> None:
    """The files git knows (tracked or new, not ignored), as they are in the work tree; outside
    a git work tree (a copy of one), every file but the generated ones (GENERATED folders at
    the top, caches anywhere)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True,
    )  # fmt: skip
    if listed.returncode == 0:
        names = [n for n in listed.stdout.decode().split("\0") if n]
    else:
        parts = [p.relative_to(REPO).parts for p in REPO.rglob("*")]
        names = [
            "/".join(part)
            for part in parts
            if part[0] not in GENERATED
            and "__pycache__" not in part
            and not any(x.endswith(".egg-info") for x in part)
        ]
    for name in names:
        source = REPO / name
        if source.is_file():
            (to / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, to / name)


def test_env(copy: Path) -> dict[str, str]:
    """Headless, CPU only, and the copy first on the import path: every process the tests start
    (a tool run as a script too, whose own folder is tools/) imports the copy's packages, not
    the repository's that the editable install (pip install -e .) points to."""
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy")
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["PYTHONPATH"] = str(copy)
    return env


def default_signals() -> None:
    """In the test process: Ctrl-C and SIGTERM act as in a terminal, even when this check runs
    in the background (a shell starts background jobs with SIGINT ignored, and the tests that
    interrupt a run would see it ignored too)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def check_imports_the_copy(copy: Path) -> None:
    """The packages and the tests the runs import are the scratch copy's."""
    code = "import agent, environment, training, tools, tests; print(agent.__file__, environment.__file__, training.__file__, tools.__file__, tests.__file__)"  # noqa: E501
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=copy, env=test_env(copy), capture_output=True, text=True
    )
    files = out.stdout.split()
    if out.returncode != 0 or len(files) != 5:
        sys.exit(f"mutants: cannot import the scratch copy: {out.stderr.strip()[-500:]}")
    outside = [f for f in files if not Path(f).resolve().is_relative_to(copy.resolve())]
    if outside:
        sys.exit(f"mutants: the tests would import {outside[0]}, not the scratch copy")


@dataclass
class Outcome:
    failures: list[str]  # the failing tests (only the first, with -x)
    errors: int  # collection and fixture errors
    code: int
    seconds: float
    tail: str


def run_tests(
    copy: Path, paths: tuple[str, ...] = ("tests",), stop_at_first: bool = False
) -> Outcome:
    report = copy / ".mutants-report.xml"
    command = [
        sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider",
        f"--junitxml={report}", *(["-x"] if stop_at_first else []), *paths,
    ]  # fmt: skip
    started = time.perf_counter()
    run = subprocess.run(
        command, cwd=copy, env=test_env(copy), capture_output=True, text=True,
        preexec_fn=default_signals,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    failures, errors = [], 0
    if report.exists():
        for case in ET.parse(report).getroot().iter("testcase"):
            if case.find("failure") is not None:
                failures.append(f"{case.get('classname')}::{case.get('name')}")
            if case.find("error") is not None:
                errors += 1
        report.unlink()
    tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-15:])
    return Outcome(failures, errors, run.returncode, seconds, tail)


def hunt(copy: Path, mutant: Mutant) -> Outcome:
    """The fast tests against the mutated copy, up to the first failure: the files likeliest
    to catch it first, then (if they all pass) the whole fast suite."""
    first = run_tests(copy, mutant.first, stop_at_first=True)
    if first.failures or first.code not in (0, 5):  # 5: no test selected
        return first
    rest = run_tests(copy, ("tests",), stop_at_first=True)
    rest.seconds += first.seconds
    return rest


def fits(copy: Path, mutant: Mutant) -> bool:
    """Whether each of the mutant's edits finds its text exactly once (applied in order)."""
    text = (copy / mutant.path).read_text()
    for old, new in mutant.edits:
        if text.count(old) != 1:
            return False
        text = text.replace(old, new)
    return True


def apply(copy: Path, mutant: Mutant) -> str | None:
    """Apply the mutant's edits; returns the original text, or None if an edit does not fit."""
    path = copy / mutant.path
    original = path.read_text()
    text = original
    for old, new in mutant.edits:
        if text.count(old) != 1:
            return None
        text = text.replace(old, new)
    path.write_text(text)
    return original


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args()
    if args.list:
        for mutant in MUTANTS:
            print(f"{mutant.name:42s} {mutant.path}")
        return 0
    known = {m.name for m in MUTANTS}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown mutant {unknown[0]!r} (see --list)")
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mutants-") as scratch:
        copy = Path(scratch) / "repo"
        copy_repository(copy)
        check_imports_the_copy(copy)
        stale = [m for m in chosen if not fits(copy, m)]
        for mutant in stale:  # said before the long clean run, and counted as not caught
            print(f"NOT APPLIED {mutant.name}: its lines are no longer in {mutant.path}")
        clean = run_tests(copy)
        if clean.code != 0 or clean.failures or clean.errors:
            print(clean.tail)
            print(f"mutants: the unchanged copy fails its fast tests ({clean.seconds:.0f} s)")
            return 1
        print(f"unchanged copy: fast tests pass ({clean.seconds:.0f} s)", flush=True)
        caught = 0
        for mutant in (m for m in chosen if m not in stale):
            original = apply(copy, mutant)
            assert original is not None
            try:
                outcome = hunt(copy, mutant)
            finally:
                (copy / mutant.path).write_text(original)
            if outcome.failures:
                caught += 1
                print(f"caught   {mutant.name:42s} by {outcome.failures[0]} "
                      f"({outcome.seconds:.0f} s)", flush=True)  # fmt: skip
            else:
                why = "tests pass" if not outcome.code else f"no failing test (exit {outcome.code})"
                print(f"SURVIVED {mutant.name:42s} {why}\n{outcome.tail}", flush=True)
    minutes = (time.perf_counter() - started) / 60
    print(f"{caught} of {len(chosen)} caught ({minutes:.1f} min)")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
