"""Helpers shared by the tests of the tools' command lines."""

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2

TOOLS = Path(__file__).resolve().parents[1] / "tools"
# A tool's report of the videos it wrote (tools/_common.py describe_videos).
VIDEO_REPORT = re.compile(
    r"(?P<frames>\d+) frames(?: of (?P<given>\d+x\d+) written as|,) (?P<size>\d+x\d+)"
    r"(?: \((?P<why>[^)]*)\))?, (?P<fps>[\d.]+) fps -> (?P<paths>.+)$"
)


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


def check_video_report(line: str, cwd: Path | None = None) -> dict[str, str]:
    """The figures of a line reporting videos written (frames, size, fps, paths), each
    checked against the files themselves: every frame decoded and measured."""
    from environment.video import count_frames

    match = VIDEO_REPORT.search(line)
    assert match, line
    paths = [Path(cwd or ".") / p for p in match["paths"].split(", ")]
    for path in paths:
        assert count_frames(path) == int(match["frames"]), (line, path)
        capture = cv2.VideoCapture(str(path))
        ok, frame = capture.read()
        fps = capture.get(cv2.CAP_PROP_FPS)
        capture.release()
        assert ok and "{1}x{0}".format(*frame.shape) == match["size"], (line, path)
        assert abs(fps - float(match["fps"])) < 1e-3 * fps, (line, fps)
    return {**match.groupdict(), "paths": paths}
