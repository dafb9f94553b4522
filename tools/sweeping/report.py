"""A report: trials.csv, summary.csv and curves.png of one sweep (in its folder) or of several
sweeps and finished run folders (in --out), evaluation.csv with --evaluate."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tools._common import ToolError
from tools.sweeping.evaluation import evaluate_trials
from tools.sweeping.plots import plot_curves
from tools.sweeping.spec import SPEC_FILE, is_sweep, read_spec
from tools.sweeping.study import Outcome, Study, combined_study, sweep_study
from tools.sweeping.summary import format_table, summary_table, trials_table, write_csv
from training.runs import CONFIG_FILE


def report(out_dir: Path, study: Study) -> list[Outcome]:
    """Write trials.csv, summary.csv and curves.png into `out_dir`; print the table."""
    write_csv(out_dir / "trials.csv", trials_table(study))
    summary = summary_table(study)
    write_csv(out_dir / "summary.csv", summary)
    plot_curves(out_dir / "curves.png", study)
    print(format_table(study, summary))
    print(f"-> {out_dir}/trials.csv, summary.csv, curves.png", flush=True)
    return study.outcomes


def report_sweeps(
    sweep_dirs: Sequence[Path], out_dir: Path | None, evaluate_episodes: int | None = None
) -> None:
    """--report: one sweep's files again, in its folder (or `out_dir`), or several sweeps (and
    finished run folders) compared in `out_dir`; with `evaluate_episodes`, evaluation.csv too."""
    for folder in sweep_dirs:
        if not is_sweep(folder) and not (folder / CONFIG_FILE).exists():
            raise ToolError(
                f"{folder} is neither a sweep ({SPEC_FILE}) nor a run folder (config.json)"
            )
    one_sweep = len(sweep_dirs) == 1 and is_sweep(sweep_dirs[0])
    if not one_sweep and out_dir is None:
        raise ToolError(
            "--report with several sweeps, or with a run folder, needs --out DIR for the report"
        )
    if one_sweep:
        study = sweep_study(sweep_dirs[0], read_spec(sweep_dirs[0]))
    else:
        study = combined_study(sweep_dirs)
    if out_dir is None or (one_sweep and out_dir == sweep_dirs[0]):
        out_dir = sweep_dirs[0]
    else:
        if (out_dir / SPEC_FILE).exists():  # never write over a sweep's own report
            raise ToolError(f"--out {out_dir} holds a sweep: choose another folder")
        if (out_dir / CONFIG_FILE).exists():  # ... nor into a run
            raise ToolError(f"--out {out_dir} holds a run: choose another folder")
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ToolError(f"cannot create --out {out_dir} ({exc.strerror})") from None
    report(out_dir, study)
    if evaluate_episodes:
        evaluate_trials(out_dir, study, evaluate_episodes)
