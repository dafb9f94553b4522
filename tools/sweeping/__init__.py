"""The machinery of tools/sweep.py, one module a step: spec (what a sweep is, sweep.json),
runner (Ray Tune runs the trials), study (what the run folders say), summary (trials.csv,
summary.csv, the table), plots (curves.png), evaluation (evaluation.csv), report (the report's
files from sweep folders), archive (a small copy of a sweep)."""
