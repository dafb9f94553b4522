"""tools/combine_recordings.py on short synthetic clips that look like the environments' videos.

Each clip is white (the environments' background) with a black square that moves one step per
frame, so a frame's position in its clip can be read back. The end-to-end run on real recordings
of a tiny training run is in tests/test_record_savings.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from environment.video import VideoWriter, count_frames, read_frames
from tests.tool_helpers import call_main, check_video_report, run_tool
from tests.tool_helpers import error_line as tool_error_line
from tools import combine_recordings as combine
from tools._common import episode_from_name, recording_label

REPO = Path(__file__).resolve().parents[1]
SIZE = 600
# name -> number of frames; deliberately not in grid order on disk.
CLIPS = {
    "recording_ep10.mp4": 8,
    "recording_ep2.mp4": 14,
    "recording_ep1.mp4": 20,
    "recording_final.mp4": 5,
    "notes.mp4": 3,
}
ORDER = ["recording_ep1.mp4", "recording_ep2.mp4", "recording_ep10.mp4", "recording_final.mp4"]
ORDER += ["notes.mp4"]
LABELS = ["Episode 1", "Episode 2", "Episode 10", "final", "notes"]


def clip_frame(index: int, size: tuple[int, int] = (SIZE, SIZE)) -> np.ndarray:
    """White frame with a black square whose x position encodes `index`."""
    width, height = size
    frame = np.full((height, width, 3), 255, dtype=np.uint8)
    side = max(4, width // 15)
    x = width // 4 + index * side // 2
    frame[height // 2 : height // 2 + side, x : x + side] = 0
    return frame


def write_clip(path: Path, n_frames: int, size: tuple[int, int] = (SIZE, SIZE)) -> None:
    with VideoWriter(path, fps=50) as writer:
        for index in range(n_frames):
            writer.write(clip_frame(index, size))


def call(*argv: str | Path) -> int:
    return call_main(combine.main, *argv)


def error_line(capsys) -> str:
    return tool_error_line(capsys, "combine_recordings.py")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("recordings")
    for name, n_frames in CLIPS.items():
        write_clip(folder / name, n_frames)
    # A browser copy beside its original is not a recording of its own.
    shutil.copy(folder / "recording_ep1.mp4", folder / "recording_ep1_h264.mp4")
    return folder


@pytest.fixture(scope="module")
def combined(clips, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("combined") / "combined.mp4"
    assert call(clips, "-o", output) == 0
    return output


def test_order_and_labels(clips):
    videos = combine.collect_videos([clips])
    assert [p.name for p in videos] == ORDER
    assert [recording_label(p) for p in videos] == LABELS
    assert episode_from_name("checkpoint_step100.mp4") is None  # the "ep" of "step" is no episode
    assert episode_from_name("Episode_12.mp4") == 12


def test_grid_size_and_length(combined):
    # 5 clips: 3 columns, 2 rows; 1800 x 1200 scaled to fit 1280 -> 426 px cells.
    assert combine.grid_layout(5, (SIZE, SIZE), 1280, upscale=False) == (3, 2, 426, 426)
    frames = read_frames(combined)
    assert len(frames) == max(CLIPS.values())
    assert frames[0].shape == (2 * 426, 3 * 426, 3)
    assert count_frames(combined.with_name("combined_h264.mp4")) == len(frames)


def test_labels_are_visible_on_white(combined):
    first = read_frames(combined)[0].astype(int)
    margin, label_h = combine.label_geometry(426, 426)
    for index in range(6):
        row, column = divmod(index, 3)
        y, x = row * 426 + margin, column * 426 + margin
        region = first[y : y + label_h, x : x + 60]
        dark = int((region.max(axis=2) < 90).sum())
        if index < len(CLIPS):
            # The clip itself is white there; the label adds dark text and a dark border.
            assert dark > 40, (index, dark)
        else:
            assert dark == 0  # the empty sixth cell stays white


def square_x(image: np.ndarray) -> float:
    """Mean x of the dark pixels: where the moving square is."""
    _, xs = np.nonzero(image.max(axis=2) < 100)
    return float(xs.mean())


def test_shorter_clips_hold_their_last_frame(combined):
    last = read_frames(combined)[-1]
    _, label_h = combine.label_geometry(426, 426)
    below_label = slice(3 * label_h, 426)
    for index, name in enumerate(ORDER):
        row, column = divmod(index, 3)
        cell = last[row * 426 : (row + 1) * 426, column * 426 : (column + 1) * 426]
        expected = cv2.resize(clip_frame(CLIPS[name] - 1), (426, 426), interpolation=cv2.INTER_AREA)
        assert abs(square_x(cell[below_label]) - square_x(expected[below_label])) < 2, name


def test_no_upscale_unless_asked_and_other_sizes_resized(tmp_path, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    write_clip(folder / "a_ep1.mp4", 4, (100, 80))
    write_clip(folder / "a_ep2.mp4", 6, (50, 40))
    assert call(folder, "-o", tmp_path / "small.mp4") == 0
    assert "a_ep2.mp4 is 50x40: resized" in capsys.readouterr().err
    frames = read_frames(tmp_path / "small.mp4")
    assert len(frames) == 6 and frames[0].shape == (80, 200, 3)
    args = [folder, "-o", tmp_path / "big.mp4", "--upscale", "--max-size", "400", "--no-h264"]
    assert call(*args) == 0
    assert read_frames(tmp_path / "big.mp4")[0].shape == (160, 400, 3)
    assert not (tmp_path / "big_h264.mp4").exists()


def test_frames_dir_alone(clips, tmp_path):
    frames = tmp_path / "frames"
    assert call(clips, "--frames-dir", frames, "--no-video") == 0
    names = sorted(p.name for p in frames.iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(max(CLIPS.values()))]
    assert not list(tmp_path.glob("*.mp4"))
    # Again with --force: the old frames are replaced, nothing else is left behind.
    assert call(clips, "--frames-dir", frames, "--no-video", "--force") == 0
    assert sorted(p.name for p in frames.iterdir()) == names


def test_what_is_said_is_read_back_from_what_was_written(clips, tmp_path, capsys):
    """The last lines: the videos' frames, size, frame rate and paths, and the PNG frames'
    count, size and folder, as the files hold them."""
    output, frames = tmp_path / "grid.mp4", tmp_path / "frames"
    assert call(clips, "-o", output, "--frames-dir", frames, "--max-size", "300") == 0
    *_, videos, pngs = capsys.readouterr().out.splitlines()
    report = check_video_report(videos)
    assert report["paths"] == [output, tmp_path / "grid_h264.mp4"]
    assert (report["frames"], report["size"], report["given"]) == ("20", "300x200", None)
    written = sorted(frames.iterdir())
    height, width = cv2.imread(str(written[0])).shape[:2]
    assert pngs == f"{len(written)} frames, {width}x{height} -> {frames / 'frame_*.png'}"
    assert len(written) == 20 and (width, height) == (300, 200)


def test_runs_from_another_working_directory(tmp_path):
    write_clip(tmp_path / "recording_ep3.mp4", 3, (64, 64))
    result = run_tool("combine_recordings.py", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert count_frames(tmp_path / "combined.mp4") == 3  # the default output name


# ------------------------------------------------------------------------------------------
# Bad input: one line on stderr, exit code 2, nothing overwritten.


def test_missing_and_empty_inputs(tmp_path, capsys):
    assert call(tmp_path / "nope", "-o", tmp_path / "out.mp4") == 2
    assert "does not exist" in error_line(capsys)
    assert call(tmp_path, "-o", tmp_path / "out.mp4") == 2
    assert "holds no .mp4 video" in error_line(capsys)
    (tmp_path / "broken_ep1.mp4").write_bytes(b"not a video")
    assert call(tmp_path, "-o", tmp_path / "out.mp4") == 2
    assert "cannot read" in error_line(capsys)
    assert not (tmp_path / "out.mp4").exists()
    assert call() == 2
    assert "required: inputs" in error_line(capsys)


def test_never_overwrites_without_force(clips, combined, tmp_path, capsys):
    before = combined.stat().st_mtime_ns
    assert call(clips, "-o", combined) == 2
    assert "already exists (use --force" in error_line(capsys)
    assert combined.stat().st_mtime_ns == before
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "keep.txt").write_text("mine")
    assert call(clips, "--frames-dir", frames, "--no-video") == 2
    assert "is not empty" in error_line(capsys)
    assert call(clips, "-o", clips / "recording_ep1.mp4", "--force") == 2
    assert "is one of the inputs" in error_line(capsys)


def test_bad_flags(clips, tmp_path, capsys):
    assert call(clips, "-o", tmp_path / "out.avi") == 2
    assert "must be an .mp4 file" in error_line(capsys)
    assert call(clips, "--no-video") == 2
    assert "--no-video needs --frames-dir" in error_line(capsys)
    assert call(clips, "-o", tmp_path / "o.mp4", "--max-size", "5") == 2
    assert "--max-size must lie in 64 .. 4096 px (got 5)" in error_line(capsys)
    assert call(clips, "-o", tmp_path / "o.mp4", "--max-size", "100000", "--upscale") == 2
    assert "--max-size must lie in 64 .. 4096 px (got 100000)" in error_line(capsys)
    for fps in ("-3", "0", "nan", "1e9"):
        assert call(clips, "-o", tmp_path / "o.mp4", "--fps", fps) == 2
        assert "--fps must lie in [0.1, 1000] frames per second" in error_line(capsys)
    assert not list(tmp_path.iterdir())
