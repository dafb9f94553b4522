"""Writing and reading back mp4 videos, shared by the environments and the tools.

`VideoWriter` writes RGB frames to an mp4v file through OpenCV and, when asked, a browser-playable
H.264 copy (libx264, yuv420p) beside it as `<stem>_h264.mp4` through the ffmpeg binary bundled
with imageio-ffmpeg. `video_info` reads back what a video file holds (frame count, size, frame
rate), and `describe_videos` says it in the one line that every tool (and main.py) prints
after writing videos; `count_frames` decodes one and counts its frames exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

DEFAULT_FPS = 50
H264_SUFFIX = "_h264"


def h264_path(path: str | Path) -> Path:
    """Where the H.264 copy of the video at `path` is written: `<stem>_h264.mp4` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}{H264_SUFFIX}.mp4")


class VideoWriter:
    """Write RGB frames (H x W x 3, uint8) to an mp4 file.

    The frame size is taken from the first frame; every later frame must have the same size.
    Both codecs need even sides (OpenCV's mp4v writer would crop an odd side, libx264's yuv420p
    refuses it): a frame with an odd side is padded by repeating its last row or column, so the
    video is `video_size`, one px larger than `frame_size` there. Nothing is written to disk
    before the first frame. With `h264=True` the same frames also go to `<stem>_h264.mp4`,
    encoded with libx264 in yuv420p, which browsers play; OpenCV's mp4v output is not
    browser-playable.

    Use it as a context manager or call `close()`, which returns the paths written.
    """

    def __init__(self, path: str | Path, fps: float = DEFAULT_FPS, h264: bool = False) -> None:
        if not (isinstance(fps, int | float) and np.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        self.path = Path(path)
        self.fps = float(fps)
        self.h264 = bool(h264)
        self.frame_count = 0
        self.frame_size: tuple[int, int] | None = None  # (width, height) of the frames given
        self.video_size: tuple[int, int] | None = None  # ... and of the video: even sides
        self._cv_writer: cv2.VideoWriter | None = None
        self._ffmpeg: Any = None  # imageio-ffmpeg's frame generator
        self._closed = False

    @property
    def paths(self) -> list[Path]:
        """The files this writer produces (once it has received a frame)."""
        return [self.path, h264_path(self.path)] if self.h264 else [self.path]

    def _open(self, frame_width: int, frame_height: int) -> None:
        width, height = frame_width + frame_width % 2, frame_height + frame_height % 2
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fourcc = cv2.VideoWriter.fourcc(*"mp4v")
        self._cv_writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (width, height))
        if not self._cv_writer.isOpened():
            raise OSError(f"OpenCV could not open {self.path} for writing (mp4v)")
        if self.h264:
            import imageio_ffmpeg

            self._ffmpeg = imageio_ffmpeg.write_frames(
                str(h264_path(self.path)),
                (width, height),
                fps=self.fps,
                codec="libx264",
                pix_fmt_in="rgb24",
                pix_fmt_out="yuv420p",
                macro_block_size=1,
                ffmpeg_log_level="error",
                output_params=["-movflags", "+faststart"],
            )
            self._ffmpeg.send(None)  # start the ffmpeg process
        self.frame_size = (frame_width, frame_height)
        self.video_size = (width, height)

    def write(self, frame_rgb: np.ndarray) -> None:
        if self._closed:
            raise RuntimeError(f"VideoWriter for {self.path} is already closed")
        frame = np.asarray(frame_rgb)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(
                f"expected an RGB frame of shape (H, W, 3) and dtype uint8, "
                f"got shape {frame.shape} and dtype {frame.dtype}"
            )
        height, width = frame.shape[:2]
        if self.frame_size is None:
            self._open(width, height)
        elif (width, height) != self.frame_size:
            raise ValueError(
                f"frame size {width}x{height} differs from the video's {self.frame_size[0]}x"
                f"{self.frame_size[1]} (set by the first frame)"
            )
        if self.video_size != self.frame_size:  # odd sides: repeat the last row / column
            frame = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        self._cv_writer.write(np.ascontiguousarray(frame[:, :, ::-1]))  # OpenCV wants BGR
        if self._ffmpeg is not None:
            self._ffmpeg.send(np.ascontiguousarray(frame))
        self.frame_count += 1

    def close(self) -> list[str]:
        """Finish the files and return their paths ([] if no frame was written). Idempotent."""
        if self._closed:
            return [str(p) for p in self.paths] if self.frame_count else []
        self._closed = True
        if self._cv_writer is not None:
            self._cv_writer.release()
            self._cv_writer = None
        if self._ffmpeg is not None:
            self._ffmpeg.close()
            self._ffmpeg = None
        return [str(p) for p in self.paths] if self.frame_count else []

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, as read back from it."""

    frames: int  # as its container records them
    width: int  # px
    height: int  # px
    fps: float

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def video_info(path: str | Path) -> VideoInfo:
    """The frame count, size and frame rate of the video at `path`, read from the file."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no video at {path}")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise OSError(f"OpenCV could not open {path}")
        return VideoInfo(
            frames=int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            fps=float(capture.get(cv2.CAP_PROP_FPS)),
        )
    finally:
        capture.release()


def describe_videos(paths: Iterable[str | Path], frame_size: tuple[int, int]) -> str:
    """What the videos at `paths` hold, read back from the files, in one line: frame count,
    size, frame rate and paths ("12 frames, 64x48, 50 fps -> a.mp4, a_h264.mp4"). A size other
    than `frame_size` (the frames' own) is said, with why: "12 frames of 101x77 written as
    102x78 (odd sides padded to even for the video codecs), ..."."""
    groups: dict[tuple, list[str]] = {}
    for path in paths:
        info = video_info(path)
        groups.setdefault((info.frames, info.size, info.fps), []).append(str(path))
    parts = []
    for (frames, size, fps), files in groups.items():
        shown = "{}x{}".format(*size)
        if size == frame_size:
            shown = f"{frames} frames, {shown}"
        else:
            even = tuple(side + side % 2 for side in frame_size)
            why = "odd sides padded to even for the video codecs" if size == even else "resized"
            shown = "{} frames of {}x{} written as {} ({})".format(frames, *frame_size, shown, why)
        parts.append(f"{shown}, {fps:g} fps -> {', '.join(files)}")
    return "; ".join(parts)


def count_frames(path: str | Path) -> int:
    """Number of frames OpenCV decodes from the video at `path` (read one by one, exact)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no video at {path}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise OSError(f"OpenCV could not open {path}")
    count = 0
    try:
        while capture.grab():
            count += 1
    finally:
        capture.release()
    return count


def read_frames(path: str | Path) -> list[np.ndarray]:
    """All frames of the video at `path` as RGB uint8 arrays (H x W x 3)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no video at {path}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise OSError(f"OpenCV could not open {path}")
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return frames
