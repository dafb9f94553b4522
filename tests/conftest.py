"""Test setup: headless SDL (no window, no audio device) and the fixtures shared by the tests
that train (helpers in tests/run_helpers.py). The packages import through the project's install
(pip install -e ., which make runs); `tests` and `main` from the repository root, where pytest
runs."""

import os
import shutil
import signal
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

# Before anything imports pygame: draw into a dummy video device, never open audio.
os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ["SDL_AUDIODRIVER"] = "dummy"
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# A shell starts background jobs with Ctrl-C ignored, and a program started with a signal
# ignored keeps it ignored: the runs these tests interrupt would never see their SIGINT. Take
# it back, so that every process the tests start gets Ctrl-C as in a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from tests.run_helpers import TINY, XLA_CACHE, Background, run_main  # noqa: E402

# The end-to-end learning check (tests/test_main.py): the cartpole trained with the default
# settings and seed 6 until the solved rule stops it. It takes minutes of one core, so it starts
# with the session, beside the other tests, and its test waits for it.
SOLVE_TEST = "test_cartpole_is_solved_with_the_default_settings"
REFERENCE_TEST = "test_a_fixed_seed_run_learns_what_the_reference_learned"
SOLVE_ARGS = ("--seed", "6", "--n_games", "400", "--no_record", "--no_progress")
_solve: dict[str, Background] = {}


def pytest_collection_finish(session):
    if session.config.option.collectonly:
        return
    if any(item.name == SOLVE_TEST for item in session.items):
        folder = Path(tempfile.mkdtemp(prefix="cartpole-solve-"))
        _solve["run"] = Background(
            folder, "--save_dir", folder / "run", *SOLVE_ARGS, low_priority=True
        )
    # The reference runs (tests/test_reference_logs.py) start with the session too.
    if any(item.name.startswith(REFERENCE_TEST) for item in session.items):
        from tests.test_reference_logs import start_all

        _solve["references"] = start_all()


def pytest_sessionfinish(session, exitstatus):
    if "references" in _solve:
        from tests.test_reference_logs import stop_all

        stop_all(*_solve["references"])
    if "run" in _solve:
        _solve["run"].stop()
        shutil.rmtree(_solve["run"].folder, ignore_errors=True)
    shutil.rmtree(XLA_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def cartpole_solve() -> Background:
    """The solve run started with the session (see SOLVE_TEST)."""
    if "run" not in _solve:  # the test was selected in a way collection did not see
        folder = Path(tempfile.mkdtemp(prefix="cartpole-solve-"))
        _solve["run"] = Background(folder, "--save_dir", folder / "run", *SOLVE_ARGS)
    return _solve["run"]


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> SimpleNamespace:
    """A finished tiny cartpole run of main.py (3 episodes, a checkpoint after each, the final
    recording of 20 frames), made once per session. Read it, never change it: copy it first
    (`run_copy`)."""
    run_dir = tmp_path_factory.mktemp("finished") / "CartpoleEnvironment"
    result = run_main("--env_name", "cartpole", "--save_dir", run_dir, "--n_games", "3", *TINY)
    assert result.returncode == 0, result.stderr
    return SimpleNamespace(dir=run_dir, stdout=result.stdout, stderr=result.stderr)


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    """A copy of the finished tiny run that a test may change."""
    return Path(shutil.copytree(finished_run.dir, tmp_path / "run"))


@pytest.fixture
def no_xla(monkeypatch):
    """Runs trained in this process build their agent without XLA: the same update, traced
    but not compiled (XLA takes seconds per agent; what these tests check does not depend on
    it, and the subprocess runs, the agent's tests and the cartpole solve keep it)."""
    import training.loop
    from training.runs import make_agent

    monkeypatch.setattr(
        training.loop, "make_agent", lambda config, env: make_agent(config, env, jit_compile=False)
    )


@pytest.fixture(scope="session")
def reference_runs():
    """The reference runs started with the session (a folder and a process per run)."""
    if "references" not in _solve:  # selected in a way collection did not see
        from tests.test_reference_logs import start_all

        _solve["references"] = start_all()
    return _solve["references"]
