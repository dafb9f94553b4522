"""tools/images_to_video.py round-trips frames that the test generates."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from environment.video import read_frames, video_info
from tests.tool_helpers import call_main, check_video_report, run_tool
from tests.tool_helpers import error_line as tool_error_line
from tools import images_to_video

REPO = Path(__file__).resolve().parents[1]
N_FRAMES = 12
WIDTH, HEIGHT = 64, 48


def color(index: int) -> tuple[int, int, int]:
    """A distinct, codec-proof RGB colour per frame index."""
    return (20 * index % 256, 255 - 20 * index, 128)


def call(*argv: str | Path) -> int:
    return call_main(images_to_video.main, *argv)


def error_line(capsys) -> str:
    return tool_error_line(capsys, "images_to_video.py")


@pytest.fixture
def frames(tmp_path) -> Path:
    """frame_1.png .. frame_12.png, not zero-padded: a name sort would put frame_10 second."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(N_FRAMES):
        image = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        image[:] = color(index)
        cv2.imwrite(str(folder / f"frame_{index + 1}.png"), image[:, :, ::-1])
    (folder / "notes.txt").write_text("not a frame")
    return folder


def test_round_trip_in_numeric_order(frames, tmp_path, capsys):
    output = tmp_path / "output_video.mp4"
    assert call(frames, "-o", output) == 0
    report = check_video_report(capsys.readouterr().out.splitlines()[-1])
    assert report["paths"] == [output, tmp_path / "output_video_h264.mp4"]
    assert (report["frames"], report["size"], report["given"]) == (str(N_FRAMES), "64x48", None)
    for path in (output, tmp_path / "output_video_h264.mp4"):
        decoded = read_frames(path)
        assert len(decoded) == N_FRAMES
        for index, frame in enumerate(decoded):
            assert frame.shape == (HEIGHT, WIDTH, 3)
            mean = frame.reshape(-1, 3).mean(axis=0)
            assert np.abs(mean - color(index)).max() < 12, (path.name, index, mean)
    capture = cv2.VideoCapture(str(output))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(50)
    capture.release()


def test_fps_and_a_frame_of_another_size(frames, tmp_path, capsys):
    odd = np.full((30, 20, 3), 255, dtype=np.uint8)
    cv2.imwrite(str(frames / "frame_13.jpg"), odd)
    output = tmp_path / "slow.mp4"
    assert call(frames, "-o", output, "--fps", "25", "--no-h264") == 0
    warning = "frame_13.jpg is 20x30, not 64x48 like the first frame: resized"
    assert warning in capsys.readouterr().err
    decoded = read_frames(output)
    assert len(decoded) == N_FRAMES + 1 and decoded[-1].shape == (HEIGHT, WIDTH, 3)
    assert decoded[-1].min() > 200  # the white frame, last
    capture = cv2.VideoCapture(str(output))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(25)
    capture.release()
    assert not (tmp_path / "slow_h264.mp4").exists()


def test_odd_sides_are_padded_and_said_as_read_back_from_the_videos(tmp_path, capsys):
    """101x77 frames: OpenCV's mp4v writer would crop them to 100x76 and libx264 needs even
    sides, so both videos are 102x78 with every pixel kept (the last row and column repeated),
    and the line printed says so, with the figures read back from the files."""
    folder = tmp_path / "odd"
    folder.mkdir()
    for index in range(5):
        image = np.zeros((77, 101, 3), dtype=np.uint8)
        image[:] = color(index)
        image[-8:, :] = image[:, -8:] = 255  # white last rows and columns
        cv2.imwrite(str(folder / f"frame_{index}.png"), image)
    output = tmp_path / "odd.mp4"
    assert call(folder, "-o", output) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("5 frames of 101x77 written as 102x78 (odd sides padded to even for ")
    report = check_video_report(line)
    assert report["paths"] == [output, tmp_path / "odd_h264.mp4"]
    for path in report["paths"]:
        assert video_info(path).size == (102, 78)
        last = read_frames(path)[-1]
        assert last[-2:].min() > 200 and last[:, -2:].min() > 200  # the edge, not black


def test_runs_from_another_working_directory(frames, tmp_path):
    result = run_tool("images_to_video.py", "frames", "--no-h264", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(read_frames(tmp_path / "output_video.mp4")) == N_FRAMES  # the default name


# ------------------------------------------------------------------------------------------
# Bad input: one line on stderr, exit code 2, nothing overwritten or left half-written.


def test_missing_empty_and_non_folder(tmp_path, capsys):
    output = tmp_path / "out.mp4"
    assert call(tmp_path / "nope", "-o", output) == 2
    assert "does not exist" in error_line(capsys)
    (tmp_path / "empty").mkdir()
    assert call(tmp_path / "empty", "-o", output) == 2
    assert "holds no image frames" in error_line(capsys)
    (tmp_path / "file.png").write_text("")
    assert call(tmp_path / "file.png", "-o", output) == 2
    assert "is not a folder" in error_line(capsys)
    assert call() == 2
    assert "required: frames_dir" in error_line(capsys)
    assert not output.exists()


def test_unreadable_frame_leaves_nothing(frames, tmp_path, capsys):
    (frames / "frame_5.png").write_bytes(b"not an image")
    assert call(frames, "-o", tmp_path / "out.mp4") == 2
    assert "cannot read" in error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_never_overwrites_without_force(frames, tmp_path, capsys):
    output = tmp_path / "out.mp4"
    output.write_bytes(b"precious")
    assert call(frames, "-o", output) == 2
    assert "already exists (use --force" in error_line(capsys)
    assert output.read_bytes() == b"precious"
    assert call(frames, "-o", output, "--force") == 0
    assert len(read_frames(output)) == N_FRAMES


def test_bad_flags(frames, tmp_path, capsys):
    for fps in ("0", "-1", "inf", "0.001", "1e9"):  # rates OpenCV's mp4v writer cannot take
        assert call(frames, "-o", tmp_path / "out.mp4", "--fps", fps) == 2
        assert "--fps must lie in [0.1, 1000] frames per second" in error_line(capsys)
    assert call(frames, "-o", tmp_path / "out.gif") == 2
    assert "must be an .mp4 file" in error_line(capsys)
    assert call(frames, "--fps", "fast") == 2
    assert "--fps must be a number (got 'fast')" in error_line(capsys)
