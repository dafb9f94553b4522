"""Helpers shared by the tests of the tools' command lines."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def call_main(main: Callable[[list[str]], int], *argv: str | Path) -> int:
    """A tool's main() in this process; argparse's usage errors give their exit code."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:
        return exc.code


def error_line(capsys, prog: str, alone: bool = True) -> str:
    """The tool's one-line error (the only stderr line, or the last one if not `alone`)."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert lines and (len(lines) == 1 or not alone), err
    assert lines[-1].startswith(f"{prog}: error: "), err
    return lines[-1]


def run_tool(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run tools/<script> as a user would, from the working directory `cwd`, headless."""
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy")
    return subprocess.run(
        [sys.executable, str(TOOLS / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
