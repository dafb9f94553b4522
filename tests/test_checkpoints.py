"""Atomic checkpoints: writing, verification, damage detection and buffer pruning."""

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from training import checkpoints as ckpt


def _write_fake(run_dir: Path, episode: int, payload: bytes = b"weights") -> int:
    def save_models(path: Path) -> None:
        path.mkdir()
        (path / "actor.weights.h5").write_bytes(payload * 50)
        (path / "agent_state.npz").write_bytes(b"state" * 10)

    def save_buffer(path: Path) -> None:
        path.mkdir()
        (path / "buffer.npz").write_bytes(b"b" * 5000)

    def save_scores(path: Path) -> None:
        np.save(path, np.arange(episode, dtype=np.float64))

    return ckpt.save_checkpoint(
        run_dir,
        episode,
        save_models,
        save_buffer,
        save_scores,
        training_state={"episode": episode},
        info={"env_name": "Fake"},
    )


def test_save_writes_every_file_and_a_manifest_that_verifies(tmp_path):
    size = _write_fake(tmp_path, 3)
    assert (tmp_path / "models_ep3" / "actor.weights.h5").is_file()
    assert (tmp_path / "models_ep3" / ckpt.TRAINING_STATE_FILE).is_file()
    assert (tmp_path / "replay_buffer_ep3" / "buffer.npz").is_file()
    assert (tmp_path / "score_history_3.npy").is_file()
    manifest = json.loads((tmp_path / "checkpoint_ep3.json").read_text())
    assert manifest["episode"] == 3 and manifest["env_name"] == "Fake"
    assert size == sum(entry["size"] for entry in manifest["files"].values())
    assert not list(tmp_path.glob(".tmp*")), "the staging folder must be gone"
    checkpoint = ckpt.verify_checkpoint(tmp_path, 3)
    assert checkpoint.training_state() == {"episode": 3}
    assert ckpt.list_checkpoint_episodes(tmp_path) == [3]


def _damage_cases(run_dir: Path, episode: int) -> list[tuple[str, Path]]:
    manifest = json.loads(ckpt.manifest_file(run_dir, episode).read_text())
    files = [run_dir / name for name in manifest["files"]]
    files.append(ckpt.manifest_file(run_dir, episode))
    return [(how, f) for f in files for how in ("truncate", "delete", "flip")]


def _damage(path: Path, how: str) -> None:
    if how == "delete":
        path.unlink()
    elif how == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x5A
        path.write_bytes(bytes(data))


def test_every_kind_of_damage_to_every_file_falls_back_to_the_previous_checkpoint(tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    _write_fake(reference, 1)
    _write_fake(reference, 2, payload=b"newer")
    cases = _damage_cases(reference, 2)
    assert len(cases) >= 15

    for i, (how, file) in enumerate(cases):
        run = tmp_path / f"case{i}"
        shutil.copytree(reference, run)
        _damage(run / file.relative_to(reference), how)
        warnings: list[str] = []
        checkpoint = ckpt.latest_good_checkpoint(run, warn=warnings.append)
        assert checkpoint is not None and checkpoint.episode == 1, (how, file.name)
        assert len(warnings) == 1 and "episode 2 is damaged" in warnings[0], warnings
        assert "\n" not in warnings[0]
        # Nothing is deleted by looking.
        assert ckpt.models_dir(run, 2).exists()


def test_no_good_checkpoint_gives_none(tmp_path):
    _write_fake(tmp_path, 1)
    _damage(tmp_path / "score_history_1.npy", "flip")
    assert ckpt.latest_good_checkpoint(tmp_path, warn=lambda m: None) is None
    assert ckpt.latest_good_checkpoint(tmp_path / "missing", warn=lambda m: None) is None


def test_a_crash_before_the_manifest_leaves_no_checkpoint(tmp_path):
    def boom(path: Path) -> None:
        raise RuntimeError("killed")

    _write_fake(tmp_path, 1)
    with pytest.raises(RuntimeError):
        ckpt.save_checkpoint(tmp_path, 2, boom, boom, boom, training_state={}, info={})
    assert ckpt.list_checkpoint_episodes(tmp_path) == [1]
    assert ckpt.latest_good_checkpoint(tmp_path).episode == 1
    # Saving the same episode again replaces stale pieces.
    _write_fake(tmp_path, 2)
    assert ckpt.latest_good_checkpoint(tmp_path).episode == 2


def test_resaving_an_episode_replaces_it(tmp_path):
    _write_fake(tmp_path, 4, payload=b"old")
    _write_fake(tmp_path, 4, payload=b"new")
    data = (tmp_path / "models_ep4" / "actor.weights.h5").read_bytes()
    assert data.startswith(b"new")
    assert ckpt.verify_checkpoint(tmp_path, 4).episode == 4


def test_prune_keeps_the_newest_buffers_and_every_model(tmp_path):
    for episode in range(1, 6):
        _write_fake(tmp_path, episode)
        ckpt.prune_buffers(tmp_path, keep=2, newest=episode)
    assert sorted(p.name for p in tmp_path.glob("replay_buffer_ep*")) == [
        "replay_buffer_ep4",
        "replay_buffer_ep5",
    ]
    assert len(list(tmp_path.glob("models_ep*"))) == 5
    for episode in range(1, 6):
        checkpoint = ckpt.verify_checkpoint(tmp_path, episode)
        assert (checkpoint.buffer_dir is None) == (episode <= 3)
    assert ckpt.latest_good_checkpoint(tmp_path).episode == 5


def test_manifest_write_is_atomic(tmp_path):
    path = tmp_path / "x.json"
    ckpt.write_json_atomic(path, {"a": 1})
    ckpt.write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert os.listdir(tmp_path) == ["x.json"]


def test_remove_checkpoints_only_touches_checkpoint_files(tmp_path):
    _write_fake(tmp_path, 1)
    (tmp_path / "notes.txt").write_text("mine")
    assert ckpt.has_checkpoint_files(tmp_path)
    ckpt.remove_checkpoints(tmp_path)
    assert not ckpt.has_checkpoint_files(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_prune_ignores_checkpoints_newer_than_the_one_just_written(tmp_path):
    for episode in (1, 2, 3):
        _write_fake(tmp_path, episode)
    # A run recovered from episode 1 writes episode 2 again while a stale 3 is still there.
    _write_fake(tmp_path, 2)
    ckpt.prune_buffers(tmp_path, keep=1, newest=2)
    assert ckpt.verify_checkpoint(tmp_path, 2).buffer_dir is not None
    assert ckpt.verify_checkpoint(tmp_path, 1).buffer_dir is None


def test_a_failed_stage_leaves_no_temporary_folder(tmp_path):
    def disk_full(path: Path) -> None:
        path.mkdir()
        (path / "half.h5").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    _write_fake(tmp_path, 1)
    with pytest.raises(OSError):
        ckpt.save_checkpoint(tmp_path, 2, disk_full, disk_full, disk_full, training_state={})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["checkpoint_ep1.json", "models_ep1", "replay_buffer_ep1", "score_history_1.npy"]
    )


def test_a_manifest_that_cannot_be_written_leaves_no_pieces(tmp_path, monkeypatch):
    """The disk fills up after the pieces are in place: they go (a checkpoint without its
    manifest is no checkpoint), the previous checkpoint stays the newest good one."""
    _write_fake(tmp_path, 1)
    before = sorted(p.name for p in tmp_path.iterdir())

    def disk_full(path: Path, data: dict) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "write_json_atomic", disk_full)
    with pytest.raises(OSError):
        _write_fake(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert ckpt.latest_good_checkpoint(tmp_path).episode == 1


def test_a_json_write_that_fails_leaves_no_temporary_file(tmp_path):
    ckpt.write_json_atomic(tmp_path / "x.json", {"a": 1})
    with pytest.raises(TypeError):
        ckpt.write_json_atomic(tmp_path / "x.json", {"a": object()})
    assert os.listdir(tmp_path) == ["x.json"]
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1}


def test_no_checkpoint_is_started_on_a_disk_without_room_for_it(tmp_path, monkeypatch):
    free = {"bytes": 10 * ckpt.ROOM_MARGIN}
    usage = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(path)._replace(free=free["bytes"]))
    ckpt.ensure_room(tmp_path, 5 * ckpt.ROOM_MARGIN)
    free["bytes"] = 5 * ckpt.ROOM_MARGIN
    with pytest.raises(OSError) as error:
        ckpt.ensure_room(tmp_path, 5 * ckpt.ROOM_MARGIN)
    assert error.value.errno == errno.ENOSPC
