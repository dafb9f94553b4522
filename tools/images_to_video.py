"""Turn a folder of image frames into an mp4 video.

    python tools/images_to_video.py frames/ -o output_video.mp4
    python tools/images_to_video.py frames/ -o slow.mp4 --fps 25 --no-h264

The frames (.png, .jpg, .jpeg, .bmp, .tif, .tiff, .webp) are taken in the order of the numbers
in their names, so frame_2.png comes before frame_10.png with or without zero padding. The video
has the first frame's size (an odd side padded to even, which the codecs need); a frame of
another size is resized to it, with a warning. Writes the mp4v video at -o and, unless
--no-h264, a browser-playable copy `<stem>_h264.mp4` beside it; an existing output is never
overwritten without --force. The last line printed is what the videos hold, read back from
them. This is the last step of the reference's pipeline, after
tools/combine_recordings.py --frames-dir frames/.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2

from environment.environment import FPS as FRAME_RATE
from environment.video import VideoWriter, describe_videos, h264_path
from tools._common import (
    FPS,
    IMAGE_SUFFIXES,
    ToolError,
    ToolParser,
    check_output_file,
    natural_key,
    progress,
    publish,
    run,
    staging_dir,
    warn,
)
from training.cli import PATH

PROG = "images_to_video.py"


def build_parser() -> argparse.ArgumentParser:
    parser = ToolParser(
        prog=PROG,
        description=__doc__,
    )
    parser.add_argument("frames_dir", type=PATH, help="folder of frames (numbered file names)")
    parser.add_argument(
        "-o", "--output", type=PATH, default=Path("output_video.mp4"), help="output video"
    )
    parser.add_argument(
        "--fps", type=FPS, default=float(FRAME_RATE), help="frames per second (0.1 .. 1000)"
    )
    parser.add_argument(
        "--no-h264", action="store_true", help="skip the browser-playable <stem>_h264.mp4 copy"
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing output")
    return parser


def list_frames(frames_dir: Path) -> list[Path]:
    """The image files in `frames_dir`, ordered by the numbers in their names."""
    if not frames_dir.exists():
        raise ToolError(f"{frames_dir} does not exist")
    if not frames_dir.is_dir():
        raise ToolError(f"{frames_dir} is not a folder")
    frames = [p for p in frames_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not frames:
        suffixes = ", ".join(IMAGE_SUFFIXES)
        raise ToolError(f"{frames_dir} holds no image frames ({suffixes})")
    return sorted(frames, key=lambda p: natural_key(p.name))


def read_frame(path: Path):
    """The image at `path` as BGR uint8 (H x W x 3); a ToolError if it does not decode."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ToolError(f"cannot read {path} as an image")
    return image


def main(argv: Sequence[str] | None = None) -> int:
    return run(PROG, _main, argv)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    output = args.output.expanduser().resolve()
    if output.suffix.lower() != ".mp4":
        raise ToolError(f"-o {output.name}: the output must be an .mp4 file")
    check_output_file(output, args.force, [] if args.no_h264 else [h264_path(output)])
    frames = list_frames(args.frames_dir.expanduser())

    first = read_frame(frames[0])
    height, width = first.shape[:2]
    resized = 0
    warned_sizes: set[tuple[int, int]] = set()
    with staging_dir(output.parent) as tmp:
        with VideoWriter(tmp / output.name, fps=args.fps, h264=not args.no_h264) as writer:
            for path in progress(frames, total=len(frames), unit="frame", desc="encoding"):
                image = first if path == frames[0] else read_frame(path)
                if image.shape[:2] != (height, width):
                    size = (image.shape[1], image.shape[0])
                    if size not in warned_sizes:
                        warned_sizes.add(size)
                        warn(
                            PROG,
                            f"{path.name} is {size[0]}x{size[1]}, not {width}x{height} like the "
                            "first frame: resized",
                        )
                    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
                    resized += 1
                writer.write(image[:, :, ::-1])  # VideoWriter takes RGB
            staged = writer.close()
        written = publish(staged, output.parent)
    if resized:
        print(f"{resized} of the {len(frames)} frames resized to the first's {width}x{height}")
    print(describe_videos(written, (width, height)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
