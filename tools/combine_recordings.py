"""Lay several recordings out in one grid video, each cell labelled with its episode.

    python tools/combine_recordings.py save/CartpoleEnvironment/recordings -o combined.mp4
    python tools/combine_recordings.py recordings/ -o combined.mp4 --frames-dir frames/
    python tools/combine_recordings.py a.mp4 b.mp4 --max-size 1920 --upscale -o big.mp4

The inputs are videos or folders of them (a folder's `*_h264.mp4` browser copies are left out
when the original is there). They are ordered by the episode number in their names
(recording_ep500.mp4 -> "Episode 500"); recording_final.mp4 comes next, labelled "final", and
files without an episode number come last, labelled with their name. The grid has
ceil(sqrt(n)) columns; every cell has the first video's size (others are resized, with a
warning) and the whole grid is scaled so that its larger side is at most --max-size px, never
above its natural size unless --upscale. Labels are near-black text on a light box with a dark
border, readable on the environments' white background. The output lasts as long as the longest
video: a shorter one holds its last frame.

Writes the mp4v video at -o and, unless --no-h264, a browser-playable copy `<stem>_h264.mp4`
beside it. --frames-dir also writes every frame as frame_000000.png, ... (the reference's
pipeline, whose frames tools/images_to_video.py turns into a video); --no-video writes only them.
Existing outputs are never overwritten without --force. The last lines printed are what was
written (frames, size, frame rate, paths), read back from the files.
"""

from __future__ import annotations

import argparse
import itertools
import math
import re
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from environment.environment import FPS as FRAME_RATE
from environment.video import VideoWriter, describe_videos, h264_path
from tools._common import (
    FPS,
    GRID_SIZE,
    ToolError,
    ToolParser,
    check_fps,
    check_output_file,
    label_patch,
    paste,
    progress,
    publish,
    recording_label,
    recording_sort_key,
    run,
    staging_dir,
    warn,
)
from training.cli import PATH

PROG = "combine_recordings.py"
BACKGROUND = 255  # empty cells: white, like the environments' background
FRAME_NAME = "frame_{:06d}.png"
_FRAME_RE = re.compile(r"^frame_\d+\.png$")


@dataclass
class Clip:
    """One input video, read frame by frame, holding its last frame once it has ended."""

    path: Path
    label: str
    capture: cv2.VideoCapture
    width: int
    height: int
    fps: float
    n_frames: int  # OpenCV's estimate, for the progress bar only
    first: np.ndarray | None  # BGR, until it has been handed out
    last_cell: np.ndarray | None = field(default=None, repr=False)
    done: bool = False

    def next_frame(self) -> np.ndarray | None:
        """The next BGR frame, or None once the video has ended."""
        if self.done:
            return None
        if self.first is not None:
            frame, self.first = self.first, None
            return frame
        ok, frame = self.capture.read()
        if not ok:
            self.done = True
            self.capture.release()
            return None
        return frame


def build_parser() -> argparse.ArgumentParser:
    parser = ToolParser(
        prog=PROG,
        description=__doc__,
    )
    parser.add_argument("inputs", nargs="+", type=PATH, help="videos, or folders of .mp4 videos")
    parser.add_argument(
        "-o", "--output", type=PATH, default=None, help="output video (default: combined.mp4)"
    )
    parser.add_argument("--frames-dir", type=PATH, default=None, help="also write PNG frames here")
    parser.add_argument(
        "--no-video", action="store_true", help="write only the --frames-dir frames"
    )
    parser.add_argument(
        "--no-h264", action="store_true", help="skip the browser-playable <stem>_h264.mp4 copy"
    )
    parser.add_argument(
        "--max-size",
        type=GRID_SIZE,
        default=1280,
        help="largest side of the grid in px (64 .. 4096)",
    )
    parser.add_argument(
        "--upscale", action="store_true", help="scale the grid up to --max-size if it is smaller"
    )
    parser.add_argument(
        "--fps", type=FPS, default=None, help="0.1 .. 1000 (default: the first video's)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    return parser


def collect_videos(inputs: Sequence[Path]) -> list[Path]:
    """The input videos in grid order (episode number, then final, then others by name)."""
    videos: list[Path] = []
    for path in inputs:
        path = path.expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".mp4" and p.is_file())
            names = {p.name for p in found}
            found = [
                p
                for p in found
                if not (p.stem.endswith("_h264") and f"{p.stem[: -len('_h264')]}.mp4" in names)
            ]
            if not found:
                raise ToolError(f"{path} holds no .mp4 video")
            videos.extend(found)
        elif path.is_file():
            videos.append(path)
        else:
            raise ToolError(f"{path} does not exist")
    unique = list(dict.fromkeys(p.resolve() for p in videos))
    return sorted(unique, key=recording_sort_key)


def open_clip(path: Path) -> Clip:
    capture = cv2.VideoCapture(str(path))
    ok, first = capture.read() if capture.isOpened() else (False, None)
    if not ok:
        capture.release()
        raise ToolError(f"cannot read {path} as a video (no frame decodes)")
    height, width = first.shape[:2]
    fps = capture.get(cv2.CAP_PROP_FPS)
    n_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    return Clip(
        path=path,
        label=recording_label(path),
        capture=capture,
        width=width,
        height=height,
        fps=fps if math.isfinite(fps) and fps > 0 else float(FRAME_RATE),
        n_frames=max(n_frames, 1),
        first=first,
    )


def grid_layout(
    n: int, cell_size: tuple[int, int], max_size: int, upscale: bool
) -> tuple[int, int, int, int]:
    """(columns, rows, cell width, cell height) of the scaled grid; cell sides are even."""
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    width, height = cell_size
    scale = max_size / max(columns * width, rows * height)
    if not upscale:
        scale = min(scale, 1.0)
    cell_w = max(2, int(width * scale) // 2 * 2)
    cell_h = max(2, int(height * scale) // 2 * 2)
    return columns, rows, cell_w, cell_h


def label_geometry(cell_w: int, cell_h: int) -> tuple[int, int]:
    """(margin, label height) in px for a cell: about 6% of its height, at least 14 px."""
    height = max(14, round(min(cell_w, cell_h) * 0.06))
    return max(2, height // 3), height


def main(argv: Sequence[str] | None = None) -> int:
    return run(PROG, _main, argv)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.no_video and args.frames_dir is None:
        raise ToolError("--no-video needs --frames-dir (otherwise nothing would be written)")
    if args.no_video and args.output is not None:
        raise ToolError("--no-video and -o exclude each other")

    output = None
    if not args.no_video:
        output = (args.output or Path("combined.mp4")).expanduser().resolve()
        if output.suffix.lower() != ".mp4":
            raise ToolError(f"-o {output.name}: the output must be an .mp4 file")
        also = [] if args.no_h264 else [h264_path(output)]
        check_output_file(output, args.force, also)

    frames_dir = args.frames_dir.expanduser().resolve() if args.frames_dir else None
    if frames_dir is not None:
        if frames_dir.exists() and not frames_dir.is_dir():
            raise ToolError(f"--frames-dir {frames_dir} is a file, not a folder")
        if frames_dir.is_dir() and any(frames_dir.iterdir()) and not args.force:
            raise ToolError(f"--frames-dir {frames_dir} is not empty (use --force to overwrite)")

    paths = collect_videos(args.inputs)
    if output is not None and (output in paths or h264_path(output) in paths):
        raise ToolError(f"-o {output} is one of the inputs")
    clips = [open_clip(p) for p in paths]
    try:
        return combine(clips, output, frames_dir, args)
    finally:
        for clip in clips:
            clip.capture.release()


def warn_other_sizes(clips: list[Clip]) -> None:
    first = clips[0]
    for clip in clips[1:]:
        if (clip.width, clip.height) != (first.width, first.height):
            warn(
                PROG,
                f"{clip.path.name} is {clip.width}x{clip.height}: resized to the first "
                f"video's {first.width}x{first.height}",
            )


def combine(clips: list[Clip], output: Path | None, frames_dir: Path | None, args) -> int:
    first = clips[0]
    warn_other_sizes(clips)
    columns, rows, cell_w, cell_h = grid_layout(
        len(clips), (first.width, first.height), args.max_size, args.upscale
    )
    fps = args.fps or first.fps
    check_fps(fps, f"the frame rate of {first.path.name} (or --fps)")
    margin, label_h = label_geometry(cell_w, cell_h)
    label_w = max(8, cell_w - 2 * margin)  # tiny cells: the label is clipped, not an error
    labels = [label_patch(c.label, label_w, label_h)[:, :, ::-1] for c in clips]  # BGR
    width, height = columns * cell_w, rows * cell_h
    print(
        f"{len(clips)} video(s) in a {columns}x{rows} grid of {cell_w}x{cell_h} cells: "
        f"{width}x{height} px at {fps:g} fps",
        flush=True,
    )

    def cell_image(clip: Clip, label: np.ndarray) -> np.ndarray:
        frame = clip.next_frame()
        if frame is None:
            return clip.last_cell
        if frame.shape[1] != cell_w or frame.shape[0] != cell_h:
            shrink = frame.shape[1] > cell_w
            frame = cv2.resize(
                frame,
                (cell_w, cell_h),
                interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
            )
        else:
            frame = frame.copy()
        paste(frame, label, margin, margin)
        clip.last_cell = frame
        return frame

    total = max(c.n_frames for c in clips)
    n_written = 0
    writer = None
    with ExitStack() as stack:
        if output is not None:
            video_tmp = stack.enter_context(staging_dir(output.parent))
            writer = VideoWriter(video_tmp / output.name, fps=fps, h264=not args.no_h264)
            stack.callback(writer.close)
        if frames_dir is not None:
            frames_tmp = stack.enter_context(staging_dir(frames_dir))
        for _ in progress(itertools.count(), total=total, unit="frame", desc="combining"):
            cells = [cell_image(clip, label) for clip, label in zip(clips, labels, strict=True)]
            if all(clip.done for clip in clips):
                break
            canvas = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
            for index, cell in enumerate(cells):
                row, column = divmod(index, columns)
                y, x = row * cell_h, column * cell_w
                canvas[y : y + cell_h, x : x + cell_w] = cell
            if writer is not None:
                writer.write(np.ascontiguousarray(canvas[:, :, ::-1]))
            if frames_dir is not None:
                path = frames_tmp / FRAME_NAME.format(n_written)
                if not cv2.imwrite(str(path), canvas, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
                    raise ToolError(f"could not write {path.name} into {frames_dir}")
            n_written += 1
        if writer is not None:
            videos = publish(writer.close(), output.parent)
        if frames_dir is not None:
            if args.force:  # the frames of an earlier, maybe longer, combination go first
                for old in frames_dir.iterdir():
                    if _FRAME_RE.match(old.name):
                        old.unlink()
            pngs = publish(sorted(frames_tmp.iterdir()), frames_dir)
    # What was written, read back from the files.
    if writer is not None:
        print(describe_videos(videos, (width, height)))
    if frames_dir is not None:
        shown = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED).shape
        print(f"{len(pngs)} frames, {shown[1]}x{shown[0]} -> {frames_dir / 'frame_*.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
