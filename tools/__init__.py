"""The command-line tools (each a script: python tools/X.py --help), a package so that they
share tools/_common.py and sweep.py can use evaluate.py. The project's install (pip install -e .,
which make runs) makes it importable from any working folder."""
