"""training/callbacks.py: the per-episode report and the listeners the loop ships."""

from __future__ import annotations

import io
import sys

from agent import LOSS_NAMES
from training.callbacks import EpisodeReport, ProgressBar, TensorBoardLog
from training.log import LOG_FIELDS

REPORT = EpisodeReport(
    episode=7, score=12.0, avg_score=9.25, steps=12, total_steps=80, updates=65,
    skipped_updates=0, wall_time=3.5, steps_per_second=40.0, solved=False,
    losses={"value_loss": 0.5, "actor_loss": -1.0},
)  # fmt: skip


def test_one_list_of_loss_names_for_the_agent_and_the_log():
    import agent.agent

    assert agent.agent.LOSS_NAMES is LOSS_NAMES
    assert LOG_FIELDS[-len(LOSS_NAMES) :] == LOSS_NAMES


def test_the_progress_bar_prints_plain_lines_when_not_on_a_terminal(capsys):
    bar = ProgressBar(total=100, initial=6)
    bar(REPORT)
    bar.close()
    assert capsys.readouterr().out == "episode 7 score 12.0 avg_score 9.2\n"
    ProgressBar(total=100, initial=6, enabled=False)(REPORT)
    assert capsys.readouterr().out == "episode 7 score 12.0 avg_score 9.2\n"


def test_the_progress_bar_on_a_terminal(monkeypatch, capsys):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = ProgressBar(total=100, initial=6)
    bar(REPORT)
    bar.close()
    text = terminal.getvalue()
    assert "7/100" in text and "avg=9.2" in text
    # The episode's line is written above the bar.
    assert capsys.readouterr().out == "episode 7 score 12.0 avg_score 9.2\n"


def test_tensorboard_scalars(tmp_path):
    log = TensorBoardLog(tmp_path)
    log(REPORT)
    log.close()
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 100
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(tmp_path / "tensorboard"))
    accumulator.Reload()
    tags = set(accumulator.Tags()["tensors"])
    assert {"episode/score", "episode/avg_score_100", "losses/value_loss"} <= tags


def test_stop_request_leaves_signals_alone_off_the_main_thread():
    """A loop in a worker thread (a Ray Tune trial) must not touch the process's handlers."""
    import signal
    import threading

    from training.signals import StopRequest

    before = signal.getsignal(signal.SIGINT)
    errors = []

    def worker() -> None:
        try:
            stop = StopRequest()
            stop.install()
            stop.restore()
            stop.release()
        except Exception as exc:  # signal.signal raises ValueError off the main thread
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert errors == [] and signal.getsignal(signal.SIGINT) is before
