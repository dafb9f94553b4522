"""Helpers shared by the tools: their parser and one-line errors, and the video tools' files
and labels (record_savings, combine_recordings, images_to_video).

Not a script. The tools import it as `tools._common`: the project's install (pip install -e .,
which make runs) makes the packages, `tools` among them, importable, so the tools run as
`python tools/X.py` from any working directory. The checked types of their options (numbers in
a range, non-empty paths) are training/cli.py's, shared with main.py.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from training.cli import Number, usage_line

REPO_DIR = Path(__file__).resolve().parent.parent
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

# "ep12", "_ep12", "Episode_12", "episode-12"; not the "ep" inside "step12".
_EPISODE_RE = re.compile(r"(?<![a-z])ep(?:isode)?[_\- ]?(\d+)", re.IGNORECASE)
_FINAL_RE = re.compile(r"(?<![a-z])final(?![a-z])", re.IGNORECASE)
_DIGITS_RE = re.compile(r"(\d+)")


class ToolError(Exception):
    """An error the user can fix: reported as one line on stderr, exit code 2."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the module docstring's layout; shows a default unless it is None/False or given."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False) or "default" in text:
            return text
        return super()._get_help_string(action)


class ToolParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit code 2, a bad value
    in the form of main.py's: "PROG: error: --zoom must lie in [1, 8] (got 9.0) (see --help)".

    Its --help shows the tool's module docstring (what it does, how to run it).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(**kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {usage_line(message)} (see --help)", file=sys.stderr)
        sys.exit(2)


def run(prog: str, main: Any, argv: Sequence[str] | None) -> int:
    """Call `main(argv)`; turn a ToolError, Ctrl-C or SIGTERM into one line on stderr.

    Exit codes: 2 for a ToolError or an OSError, 130 when interrupted (finished videos are
    kept, the one being written is removed with the staging folder).
    """

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, interrupt) if in_main_thread else None
    try:
        return main(argv)
    except ToolError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an unwritable output, a full disk, a file that vanished
        where = f": {exc.filename}" if exc.filename else ""
        print(f"{prog}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted (nothing half-written was kept)", file=sys.stderr)
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def warn(prog: str, message: str) -> None:
    print(f"{prog}: warning: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Names


def natural_key(name: str) -> tuple:
    """Sort key that orders the numbers in a name by value: frame_2 < frame_10."""
    parts = _DIGITS_RE.split(name)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in parts if p)


def episode_from_name(name: str) -> int | None:
    """The episode number in a file name like recording_ep500.mp4, or None."""
    match = _EPISODE_RE.search(Path(name).stem)
    return int(match.group(1)) if match else None


def recording_label(path: Path) -> str:
    """The label of a recording: "Episode N", "final", or else the file's name."""
    episode = episode_from_name(path.name)
    if episode is not None:
        return f"Episode {episode}"
    if _FINAL_RE.search(path.stem):
        return "final"
    return path.stem


def recording_sort_key(path: Path) -> tuple:
    """Episodes in order, then "final", then files without an episode number by name."""
    episode = episode_from_name(path.name)
    if episode is not None:
        return (0, episode, natural_key(path.name))
    if _FINAL_RE.search(path.stem):
        return (1, 0, natural_key(path.name))
    return (2, 0, natural_key(path.name))


# --------------------------------------------------------------------------------------------
# Files


def check_output_file(path: Path, force: bool, also: Iterable[Path] = ()) -> None:
    """Refuse to overwrite an existing output (or its companions) without --force."""
    for target in (path, *also):
        if target.is_dir():
            raise ToolError(f"{target} is a folder, not a file name")
        if target.exists() and not force:
            raise ToolError(f"{target} already exists (use --force to overwrite it)")


@contextmanager
def staging_dir(final_dir: Path) -> Iterator[Path]:
    """A hidden temporary folder beside the final files, removed on exit.

    Outputs are written here first and moved into place only when complete, so an error or
    Ctrl-C never leaves a half-written video that a later run would take for a finished one.
    """
    final_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp_", dir=final_dir))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(staged: Iterable[str | Path], final_dir: Path) -> list[Path]:
    """Move staged files into `final_dir` (same file system: atomic renames)."""
    moved = []
    for path in map(Path, staged):
        target = final_dir / path.name
        os.replace(path, target)
        moved.append(target)
    return moved


def progress(iterable: Iterable, total: int | None, unit: str, desc: str | None = None):
    """A tqdm progress bar on a terminal; the plain iterable otherwise (logs, pipes, tests)."""
    if not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, unit=unit, desc=desc, dynamic_ncols=True, leave=False)


def say(message: str) -> None:
    """Print a line without breaking a progress bar that may be on screen."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        tqdm.write(message)
    else:
        print(message, flush=True)


# --------------------------------------------------------------------------------------------
# Labels


def label_patch(text: str, max_width: int, height: int) -> np.ndarray:
    """An RGB image of `text` in near-black on a near-white box with a dark border.

    Readable on the environments' white background and on anything darker. The text is
    `height` px tall (cap height plus margins) and shrunk until the box fits in `max_width`.
    """
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    pad = max(2, height // 5)
    scale = max(0.3, (height - 2 * pad) / 22.0)  # Hershey simplex: ~22 px cap+descent at 1.0
    while True:
        thickness = max(1, round(scale * 1.6))
        (text_w, text_h), baseline = cv2.getTextSize(text, font, scale, thickness)
        box_w, box_h = text_w + 2 * pad, text_h + baseline + 2 * pad
        if box_w <= max_width or scale <= 0.3:
            break
        scale *= 0.9
    while box_w > max_width and len(text) > 1:  # still too wide at the smallest size: cut it
        text = text[:-2] + "~" if len(text) > 2 else text[:1]
        (text_w, text_h), baseline = cv2.getTextSize(text, font, scale, thickness)
        box_w = text_w + 2 * pad
    box_w = min(box_w, max_width)
    patch = np.full((box_h, box_w, 3), 242, dtype=np.uint8)
    border = max(1, thickness // 2 + 1)
    cv2.rectangle(patch, (0, 0), (box_w - 1, box_h - 1), (40, 40, 40), border)
    origin = (pad, pad + text_h)
    cv2.putText(patch, text, origin, font, scale, (15, 15, 15), thickness, cv2.LINE_AA)
    return patch


def paste(image: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """Copy `patch` into `image` with its top-left corner at (x, y), clipped to the image."""
    height = min(patch.shape[0], image.shape[0] - y)
    width = min(patch.shape[1], image.shape[1] - x)
    if height > 0 and width > 0:
        image[y : y + height, x : x + width] = patch[:height, :width]


# --------------------------------------------------------------------------------------------
# Limits of what the video writers accept (OpenCV's mp4v and libx264)

MAX_FRAME_SIDE = 4096  # px
FPS = Number(float, 0.1, 1000.0, unit="frames per second")
GRID_SIZE = Number(int, 64, MAX_FRAME_SIDE, unit="px")  # combine_recordings.py --max-size


def check_fps(fps: float, what: str) -> None:
    """ToolError unless `fps` (read from a file: `what` says which) is a frame rate both video
    writers accept."""
    if not FPS.test(fps):
        raise ToolError(f"{what} {FPS.text} (got {fps:g})")
