"""environment/video.py: what a video file holds is what was written, odd sizes included."""

from __future__ import annotations

import numpy as np
import pytest

from environment.video import VideoWriter, count_frames, h264_path, read_frames, video_info


@pytest.mark.parametrize(("width", "height"), [(64, 48), (101, 77), (33, 40)])
def test_both_files_hold_every_frame_at_an_even_size_that_keeps_every_pixel(
    tmp_path, width, height
):
    """mp4v would crop an odd side and libx264 refuses one: the writer pads it by repeating
    the last row or column, in both files alike, and says so (`frame_size`, `video_size`)."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[-6:, :] = frame[:, -6:] = 255  # white at the far edges, black elsewhere
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=25, h264=True) as writer:
        for _ in range(4):
            writer.write(frame)
    even = (width + width % 2, height + height % 2)
    assert (writer.frame_size, writer.video_size) == ((width, height), even)
    for file in (path, h264_path(path)):
        info = video_info(file)
        assert (info.frames, info.size, info.fps) == (count_frames(file), even, 25.0)
        assert info.frames == 4
        decoded = read_frames(file)[0]
        assert decoded[-2:].min() > 200 and decoded[:, -2:].min() > 200
        assert decoded[: height // 2, : width // 2].max() < 60


def test_video_info_of_what_is_no_video(tmp_path):
    with pytest.raises(FileNotFoundError):
        video_info(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(OSError):
        video_info(tmp_path / "junk.mp4")
