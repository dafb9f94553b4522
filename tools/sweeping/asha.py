"""Tune's ASHA scheduler, recording the candidates it stops: `stopped.txt` in the search's folder
(a candidate's name a line), so that a report tells a candidate ASHA stopped from one that an
interruption left unfinished. Imported only where Ray runs (it imports Ray Tune); a search's
tune/tuner.pkl refers to this class by its module and name: keep both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from tools.sweeping.search import STOPPED_FILE


class RecordingASHA(ASHAScheduler):
    def __init__(self, search_dir: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.search_dir = search_dir

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        action = super().on_trial_result(tune_controller, trial, result)
        if action == TrialScheduler.STOP and not result.get("complete"):
            with open(Path(self.search_dir) / STOPPED_FILE, "a", encoding="utf-8") as handle:
                handle.write(f"{trial}\n")
                handle.flush()
        return action
