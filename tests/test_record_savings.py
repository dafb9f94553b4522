"""tools/record_savings.py on a tiny cartpole run, and the reference's pipeline end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from environment.video import count_frames
from tests.test_main import TINY
from tests.tool_helpers import call_main
from tests.tool_helpers import error_line as tool_error_line
from tools import record_savings

REPO = Path(__file__).resolve().parents[1]
TINY_RUN = ["--env_name", "cartpole", "--n_games", "3", "--no_record", *TINY]
STEPS = 12
VIDEOS = ["recording_ep1.mp4", "recording_ep2.mp4", "recording_ep3.mp4", "recording_final.mp4"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", TF_CPP_MIN_LOG_LEVEL="3")
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def run_script(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a script of the repo by its path from another working directory."""
    return subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


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
def tiny_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("tiny") / "CartpoleEnvironment"
    result = run_script("main.py", *TINY_RUN, "--save_dir", str(run_dir), cwd=REPO)
    assert result.returncode == 0, result.stderr
    return run_dir


@pytest.fixture(scope="module")
def recorded(tiny_run, tmp_path_factory) -> subprocess.CompletedProcess:
    """record_savings run once by its path from an unrelated working directory."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    args = ["--run", str(tiny_run), "--steps", str(STEPS), "--h264"]
    result = run_script("tools/record_savings.py", *args, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
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
    # The run finished at episode 3, so its final video is that checkpoint's.
    final = (out / "recording_final.mp4").read_bytes()
    assert final == (out / "recording_ep3.mp4").read_bytes()


def test_existing_videos_are_skipped(tiny_run, recorded, capsys):
    out = tiny_run / "recordings"
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert call("--run", str(tiny_run), "--steps", "5", "--h264") == 0
    assert "nothing to do: 4 video(s) already there" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_force_damaged_checkpoint_out_and_stochastic(tiny_run, recorded, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir, ignore=shutil.ignore_patterns("recordings"))
    weights = run_dir / "models_ep2" / "actor.weights.h5"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")  # same size, other bytes
    out = tmp_path / "videos"
    out.mkdir()
    shutil.copy(tiny_run / "recordings" / "recording_ep1.mp4", out)
    args = ["--run", str(run_dir), "--out", str(out), "--steps", "7", "--stochastic", "--force"]
    result = run_script("tools/record_savings.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    reports = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(reports) == 1, result.stderr  # TensorFlow's start-up notes are silenced
    assert reports[0].startswith("record_savings.py: warning: checkpoint of episode 2 is damaged")
    assert sorted(p.name for p in out.iterdir()) == [
        "recording_ep1.mp4",
        "recording_ep3.mp4",
        "recording_final.mp4",
    ]
    for path in out.iterdir():
        assert count_frames(path) == 7, path.name  # recording_ep1.mp4 was recorded again
    assert not (run_dir / "recordings").exists()


def test_reference_pipeline_end_to_end(tiny_run, recorded, tmp_path):
    """record_savings -> combine_recordings --frames-dir -> images_to_video, and the one step."""
    recordings = str(tiny_run / "recordings")
    result = run_script(
        "tools/combine_recordings.py", recordings, "-o", "combined.mp4", "--frames-dir", "frames",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # Four 600 x 600 videos (the _h264 copies are left out): a 2 x 2 grid, 1200 px <= 1280.
    assert count_frames(tmp_path / "combined.mp4") == STEPS
    assert frame_size(tmp_path / "combined.mp4") == (1200, 1200)
    assert count_frames(tmp_path / "combined_h264.mp4") == STEPS
    assert len(list((tmp_path / "frames").glob("frame_*.png"))) == STEPS
    result = run_script("tools/images_to_video.py", "frames", "-o", "video.mp4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
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
    assert "invalid int value" in error_line(capsys)
    (tmp_path / "file").write_text("")
    assert call("--run", str(tiny_run), "--out", str(tmp_path / "file")) == 2
    assert "is a file, not a folder" in error_line(capsys)


def test_default_run_is_the_most_recently_saved(tmp_path, monkeypatch, capsys):
    save = tmp_path / "save"
    monkeypatch.setattr(record_savings, "SAVE_ROOT", save)
    assert call() == 2
    assert "no run under" in error_line(capsys)
    for name, stamp in (("Old", 1_000), ("New", 2_000), ("Empty", 1_500)):
        (save / name).mkdir(parents=True)
        (save / name / "config.json").write_text("{}")
        os.utime(save / name / "config.json", (stamp, stamp))
        if name != "Empty":
            manifest = save / name / "checkpoint_ep1.json"
            manifest.write_text("{}")
            os.utime(manifest, (stamp, stamp))
    os.utime(save / "Old" / "config.json", (3_000, 3_000))  # the config's age does not count
    assert record_savings.most_recent_run(save) == save / "New"
