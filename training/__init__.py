"""Training-run plumbing shared by main.py and the tools: checkpoints, plots, recordings."""
