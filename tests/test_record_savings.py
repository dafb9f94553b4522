"""tools/record_savings.py on the session's finished tiny cartpole run, and the reference's
pipeline end to end (record_savings -> combine_recordings -> images_to_video)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from environment.video import count_frames
from tests.run_helpers import error_lines, subprocess_env
from tests.tool_helpers import call_main, check_video_report
from tests.tool_helpers import error_line as tool_error_line
from tools import combine_recordings, images_to_video, record_savings

REPO = Path(__file__).resolve().parents[1]
STEPS = 12
VIDEOS = ["recording_ep1.mp4", "recording_ep2.mp4", "recording_ep3.mp4", "recording_final.mp4"]


def call(*argv: str | Path) -> int:
    return call_main(record_savings.main, *argv)


def error_line(capsys) -> str:
    return tool_error_line(capsys, "record_savings.py", alone=False)


def frame_size(path: Path) -> tuple[int, int]:
    capture = cv2.VideoCapture(str(path))
    ok, frame = capture.read()
    capture.release()
    assert ok, path
    return frame.shape[1], frame.shape[0]


@pytest.fixture(scope="module")
def tiny_run(finished_run, tmp_path_factory) -> Path:
    """A copy of the session's finished tiny run (3 checkpoints) that these tests record into."""
    return Path(shutil.copytree(finished_run.dir, tmp_path_factory.mktemp("tiny") / "run"))


@pytest.fixture(scope="module")
def recorded(tiny_run, tmp_path_factory) -> subprocess.CompletedProcess:
    """record_savings run once as a user runs it: by its path, from an unrelated folder."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "record_savings.py"), "--run", str(tiny_run),
         "--steps", str(STEPS), "--h264"],
        cwd=elsewhere, env=subprocess_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert error_lines(result.stderr) == []  # TensorFlow's start-up notes are silenced
    return result


def test_one_video_per_checkpoint_with_the_requested_frame_count(tiny_run, recorded):
    out = tiny_run / "recordings"
    h264 = [name.replace(".mp4", "_h264.mp4") for name in VIDEOS]
    assert sorted(p.name for p in out.iterdir()) == sorted(VIDEOS + h264)
    for name in VIDEOS + h264:
        assert count_frames(out / name) == STEPS, name
        assert frame_size(out / name) == (600, 600)
    # The environment came from the run's config.json: nothing named it on the command line.
    assert "CartpoleEnvironment" in recorded.stdout
    # One line per video said, its figures read back from the files.
    said = [line for line in recorded.stdout.splitlines() if ": episode " in line]
    for line, name in zip(said, VIDEOS, strict=True):
        report = check_video_report(line)
        assert line.startswith(f"{name}: episode ") and report["size"] == "600x600"
        assert report["paths"] == [out / name, out / name.replace(".mp4", "_h264.mp4")]
    # The run finished at episode 3, so its final video is that checkpoint's.
    final = (out / "recording_final.mp4").read_bytes()
    assert final == (out / "recording_ep3.mp4").read_bytes()


def test_existing_videos_are_skipped(tiny_run, recorded, capsys):
    out = tiny_run / "recordings"
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert call("--run", str(tiny_run), "--steps", "5", "--h264") == 0
    assert "nothing to do: 4 video(s) already there" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_force_damaged_checkpoint_out_and_stochastic(tiny_run, recorded, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir, ignore=shutil.ignore_patterns("recordings"))
    weights = run_dir / "models_ep2" / "actor.weights.h5"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")  # same size, other bytes
    out = tmp_path / "videos"
    out.mkdir()
    shutil.copy(tiny_run / "recordings" / "recording_ep1.mp4", out)
    args = ["--run", run_dir, "--out", out, "--steps", "7", "--stochastic", "--force"]
    assert call(*args) == 0
    reports = error_lines(capsys.readouterr().err)
    assert len(reports) == 1, reports
    assert reports[0].startswith("record_savings.py: warning: checkpoint of episode 2 is damaged")
    assert sorted(p.name for p in out.iterdir()) == [
        "recording_ep1.mp4",
        "recording_ep3.mp4",
        "recording_final.mp4",
    ]
    for path in out.iterdir():
        assert count_frames(path) == 7, path.name  # recording_ep1.mp4 was recorded again
    assert not (run_dir / "recordings").exists()


def test_a_missing_config_is_read_from_the_newest_checkpoint(tiny_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir, ignore=shutil.ignore_patterns("recordings"))
    (run_dir / "config.json").unlink()
    assert call("--run", run_dir, "--out", tmp_path / "videos", "--steps", "3") == 0
    captured = capsys.readouterr()
    assert error_lines(captured.err) == [
        f"record_savings.py: warning: {run_dir / 'config.json'} is missing: the settings of the "
        "manifest of episode 3 are used"
    ]
    assert "CartpoleEnvironment run" in captured.out
    assert len(list((tmp_path / "videos").glob("*.mp4"))) == 4
    assert not (run_dir / "config.json").exists()  # a tool that reads a run does not write it


def test_reference_pipeline_end_to_end(tiny_run, recorded, tmp_path, monkeypatch):
    """record_savings -> combine_recordings --frames-dir -> images_to_video."""
    monkeypatch.chdir(tmp_path)
    recordings = tiny_run / "recordings"
    args = [recordings, "-o", "combined.mp4", "--frames-dir", "frames"]
    assert call_main(combine_recordings.main, *args) == 0
    # Four 600 x 600 videos (the _h264 copies are left out): a 2 x 2 grid, 1200 px <= 1280.
    assert count_frames(tmp_path / "combined.mp4") == STEPS
    assert frame_size(tmp_path / "combined.mp4") == (1200, 1200)
    assert count_frames(tmp_path / "combined_h264.mp4") == STEPS
    assert len(list((tmp_path / "frames").glob("frame_*.png"))) == STEPS
    assert call_main(images_to_video.main, "frames", "-o", "video.mp4") == 0
    assert count_frames(tmp_path / "video.mp4") == STEPS
    assert frame_size(tmp_path / "video.mp4") == (1200, 1200)


# ------------------------------------------------------------------------------------------
# Bad input: one line on stderr, exit code 2, before TensorFlow starts.


def test_missing_run_folder(tmp_path, capsys):
    assert call("--run", str(tmp_path / "nope")) == 2
    assert "is not a folder" in error_line(capsys)


def test_folder_without_config(tmp_path, capsys):
    assert call("--run", str(tmp_path)) == 2
    assert "config.json does not exist" in error_line(capsys)


def test_broken_config(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{not json")
    assert call("--run", str(tmp_path)) == 2
    assert "not valid JSON" in error_line(capsys)


def test_run_without_checkpoints(tiny_run, tmp_path, capsys):
    shutil.copy(tiny_run / "config.json", tmp_path)
    assert call("--run", str(tmp_path)) == 2
    assert "has no checkpoint yet" in error_line(capsys)


def test_a_hand_edited_config_is_checked_like_flags(tiny_run, tmp_path, capsys):
    config = json.loads((tiny_run / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "layer1_size": "wide"}))
    assert call("--run", str(tmp_path)) == 2
    assert f"{tmp_path / 'config.json'}: layer1_size must be a whole number" in error_line(capsys)


def test_every_checkpoint_damaged(tiny_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir, ignore=shutil.ignore_patterns("recordings"))
    for manifest in run_dir.glob("checkpoint_ep*.json"):
        data = json.loads(manifest.read_text())
        data["episode"] += 100
        manifest.write_text(json.dumps(data))
    assert call("--run", str(run_dir)) == 2
    err = capsys.readouterr().err
    assert err.count("is damaged") == 3 and "Traceback" not in err
    assert err.splitlines()[-1].startswith("record_savings.py: error: no checkpoint")


def test_bad_flags(tiny_run, tmp_path, capsys):
    assert call("--run", str(tiny_run), "--steps", "0") == 2
    assert "--steps must be at least 1" in error_line(capsys)
    assert call("--run", str(tiny_run), "--steps", "many") == 2
    assert "--steps must be a whole number (got 'many')" in error_line(capsys)
    (tmp_path / "file").write_text("")
    assert call("--run", str(tiny_run), "--out", str(tmp_path / "file")) == 2
    assert "is a file, not a folder" in error_line(capsys)
    for seed in ("-1", "4294967296"):
        assert call("--run", str(tiny_run), "--seed", seed) == 2
        assert f"--seed must lie in 0 .. 4294967295 (got {seed})" in error_line(capsys)
    assert call("--run", str(tiny_run), "--tf_threads", "-2") == 2
    assert "--tf_threads must lie in 0 .. 1024 (got -2)" in error_line(capsys)


def test_without_a_run_and_nothing_under_save(tmp_path, monkeypatch, capsys):
    """The default run is main.py --recover's (tests/test_runs.py: most_recent_run)."""
    monkeypatch.setattr(record_savings, "SAVE_ROOT", tmp_path / "save")
    assert call() == 2
    assert "no run under" in error_line(capsys)


@pytest.mark.parametrize("zoom", ["0.5", "nan", "9"])
def test_zoom_outside_its_range_is_one_line(capsys, tmp_path, zoom):
    assert call("--run", tmp_path, "--zoom", zoom) == 2
    assert "--zoom must lie in [1, 8]" in error_line(capsys)


def test_zoom_frames_the_subject(tiny_run, tmp_path):
    """--zoom 2 films the same 600 x 600 frames, closer: more of them are not background."""
    for zoom in ("1", "2"):
        out = tmp_path / zoom
        assert call("--run", tiny_run, "--steps", "2", "--zoom", zoom, "--out", out) == 0
        capture = cv2.VideoCapture(str(out / "recording_final.mp4"))
        ok, frame = capture.read()
        capture.release()
        assert ok and frame.shape[:2] == (600, 600)
        painted = int((frame.min(axis=2) < 200).sum())
        if zoom == "1":
            full_view = painted
    assert painted > 2 * full_view
