"""Crash-safe checkpoints of a training run.

A checkpoint of episode N lives in the run folder as

    models_ep{N}/              the agent's networks, optimizer and random states, plus
                               training_state.json (counters, score streak, every random state)
    replay_buffer_ep{N}/       the filled part of the replay buffer
    score_history_{N}.npy      the score of every episode so far
    checkpoint_ep{N}.json      the manifest: written last, lists every file with size and sha256

Everything is first written into a hidden temporary folder, flushed to disk, then renamed into
place; the manifest is renamed last. A checkpoint without a manifest, or whose manifest does not
match its files, is never loaded, so a crash at any moment leaves either a complete checkpoint or
one that recovery skips. Replay buffers are large: only the newest few are kept (`prune_buffers`);
model weights are small and always kept, so tools/record_savings.py can replay every checkpoint.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_FORMAT = 1
TRAINING_STATE_FILE = "training_state.json"
_MANIFEST_RE = re.compile(r"^checkpoint_ep(\d+)\.json$")
_PATTERNS = ("checkpoint_ep*.json", "models_ep*", "replay_buffer_ep*", "score_history_*.npy")
_PIECE_RE = re.compile(r"^(?:models_ep|replay_buffer_ep|score_history_)(\d+)(?:\.npy)?$")


def models_dir(run_dir: Path, episode: int) -> Path:
    return run_dir / f"models_ep{episode}"


def buffer_dir(run_dir: Path, episode: int) -> Path:
    return run_dir / f"replay_buffer_ep{episode}"


def scores_file(run_dir: Path, episode: int) -> Path:
    return run_dir / f"score_history_{episode}.npy"


def manifest_file(run_dir: Path, episode: int) -> Path:
    return run_dir / f"checkpoint_ep{episode}.json"


@dataclass
class Checkpoint:
    """A checkpoint whose manifest verified."""

    run_dir: Path
    episode: int
    manifest: dict[str, Any]

    @property
    def models_dir(self) -> Path:
        return models_dir(self.run_dir, self.episode)

    @property
    def buffer_dir(self) -> Path | None:
        return (
            None if self.manifest.get("buffer_pruned") else buffer_dir(self.run_dir, self.episode)
        )

    @property
    def scores_file(self) -> Path:
        return scores_file(self.run_dir, self.episode)

    def training_state(self) -> dict[str, Any]:
        return json.loads((self.models_dir / TRAINING_STATE_FILE).read_text())


class CheckpointError(Exception):
    """A checkpoint that is missing, incomplete or damaged."""


# --------------------------------------------------------------------------------------------
# Low-level helpers


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _manifest_body_digest(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write a file to: when the block ends, the file is
    flushed to disk and replaces `path`, so readers see the old file or the new one, never half
    of one; when the block raises, it is removed and `path` is left as it was. The temporary
    name keeps the suffix (matplotlib's savefig takes the format from it) and holds the process
    id (two processes writing one file never share it)."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_json_atomic(
    path: Path, data: dict[str, Any], *, indent: int = 1, sort_keys: bool = True
) -> None:
    """Write JSON to `path` through `atomic_path`; `sort_keys=False` keeps the dicts' order."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=indent, sort_keys=sort_keys))


ROOM_MARGIN = 1 << 20  # bytes beyond a checkpoint's arrays: file overheads, manifest, plot, log


def ensure_room(run_dir: Path, nbytes: int) -> None:
    """Raise OSError(ENOSPC) unless the disk of `run_dir` has room for a checkpoint holding
    `nbytes` of arrays (with a margin). A checkpoint is not started on a disk that cannot take
    it: HDF5, which writes the weights, does not fail cleanly when the disk fills up under it."""
    free = shutil.disk_usage(run_dir).free
    if free < nbytes * 5 // 4 + ROOM_MARGIN:
        raise OSError(errno.ENOSPC, f"{free} bytes free, a checkpoint needs about {nbytes}")


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


# --------------------------------------------------------------------------------------------
# Writing


def save_checkpoint(
    run_dir: Path,
    episode: int,
    save_models: Callable[[Path], None],
    save_buffer: Callable[[Path], None],
    save_scores: Callable[[Path], None],
    training_state: dict[str, Any],
    info: dict[str, Any] | None = None,
) -> int:
    """Write the checkpoint of `episode` atomically; return its size in bytes.

    The three callables write the agent's models into a folder, its replay buffer into a folder
    and the score history into a .npy file. `info` is copied into the manifest.
    """
    run_dir = Path(run_dir)
    tmp = run_dir / f".tmp_checkpoint_ep{episode}_{os.getpid()}"
    _remove(tmp)
    tmp.mkdir(parents=True)
    targets = {
        "models": models_dir(run_dir, episode),
        "buffer": buffer_dir(run_dir, episode),
        "scores": scores_file(run_dir, episode),
    }
    staged = {key: tmp / path.name for key, path in targets.items()}
    try:
        files = _stage(tmp, staged, (save_models, save_buffer, save_scores), training_state)
    except BaseException:  # a full disk, say: the half-written folder must not stay behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    # An earlier manifest of the same episode (a run that crashed after writing it and was
    # recovered from an older checkpoint) must go first, so no manifest ever names new files.
    _remove(manifest_file(run_dir, episode))
    try:
        for key, target in targets.items():
            _remove(target)
            os.replace(staged[key], target)
        _fsync_dir(run_dir)
        shutil.rmtree(tmp)
        manifest: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "episode": episode,
            "buffer_pruned": False,
            "files": files,
            **(info or {}),
        }
        manifest["manifest_sha256"] = _manifest_body_digest(manifest)
        write_json_atomic(manifest_file(run_dir, episode), manifest)
    except OSError:  # e.g. the disk filled up while the manifest was written
        for path in (tmp, *targets.values()):  # pieces without a manifest: no checkpoint
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else _remove(path)
        raise
    return sum(entry["size"] for entry in files.values())


def _stage(
    tmp: Path,
    staged: dict[str, Path],
    writers: tuple[Callable[[Path], None], ...],
    training_state: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """Write the pieces of a checkpoint into `tmp` (models, buffer, scores, as `staged` names
    them) and flush them; return their sizes and hashes."""
    save_models, save_buffer, save_scores = writers
    save_models(staged["models"])
    training_state_json = json.dumps(training_state, sort_keys=True)
    (staged["models"] / TRAINING_STATE_FILE).write_text(training_state_json)
    save_buffer(staged["buffer"])
    save_scores(staged["scores"])
    files: dict[str, dict[str, Any]] = {}
    for path in _files_under(tmp):
        _fsync_file(path)
        files[path.relative_to(tmp).as_posix()] = {
            "size": path.stat().st_size,
            "sha256": _sha256(path),
        }
    for sub in [tmp, *[p for p in tmp.rglob("*") if p.is_dir()]]:
        _fsync_dir(sub)
    return files


def prune_buffers(run_dir: Path, keep: int, newest: int) -> list[int]:
    """Delete the replay buffers of all but the newest `keep` checkpoints up to episode `newest`
    (the one just written; later ones, left by an earlier crash, do not count); return the
    episodes pruned. The manifest is rewritten (atomically) before the buffer goes, so it never
    names missing files.
    """
    pruned = []
    episodes = [
        ep
        for ep in list_checkpoint_episodes(run_dir)
        if ep <= newest and buffer_dir(run_dir, ep).exists()
    ]
    for episode in episodes[: max(0, len(episodes) - keep)]:
        path = manifest_file(run_dir, episode)
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a damaged manifest is left alone: recovery reports it
        prefix = buffer_dir(run_dir, episode).name + "/"
        manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith(prefix)}
        manifest["buffer_pruned"] = True
        manifest["manifest_sha256"] = _manifest_body_digest(manifest)
        write_json_atomic(path, manifest)
        shutil.rmtree(buffer_dir(run_dir, episode))
        pruned.append(episode)
    return pruned


def remove_checkpoints(run_dir: Path) -> None:
    """Delete every checkpoint file of a run (used only with an explicit --overwrite)."""
    run_dir = Path(run_dir)
    for pattern in [*_PATTERNS, ".tmp_checkpoint_ep*"]:
        for path in run_dir.glob(pattern):
            _remove(path)


# --------------------------------------------------------------------------------------------
# Reading


def list_checkpoint_episodes(run_dir: Path) -> list[int]:
    """Episodes that have a manifest (verified or not), oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = (_MANIFEST_RE.match(p.name) for p in run_dir.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def has_checkpoint_files(run_dir: Path) -> bool:
    """Whether the folder holds anything a checkpoint would write (complete or not)."""
    run_dir = Path(run_dir)
    return run_dir.is_dir() and any(next(run_dir.glob(p), None) for p in _PATTERNS)


def verify_checkpoint(run_dir: Path, episode: int) -> Checkpoint:
    """Return the checkpoint if its manifest and every file it lists check out, else raise."""
    run_dir = Path(run_dir)
    path = manifest_file(run_dir, episode)
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{path.name} is unreadable ({exc.__class__.__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("manifest_sha256") != _manifest_body_digest(
        manifest
    ):
        raise CheckpointError(f"{path.name} does not match its own checksum")
    if manifest.get("episode") != episode or manifest.get("format") != MANIFEST_FORMAT:
        raise CheckpointError(f"{path.name} names another episode or format")
    for name, entry in manifest["files"].items():
        file = run_dir / name
        try:
            if not file.is_file():
                raise CheckpointError(f"{name} is missing")
            if file.stat().st_size != entry["size"]:
                raise CheckpointError(f"{name} has the wrong size")
            if _sha256(file) != entry["sha256"]:
                raise CheckpointError(f"{name} does not match its checksum")
        except OSError as exc:  # e.g. a buffer pruned by a training run meanwhile
            raise CheckpointError(f"{name} is unreadable ({exc.strerror})") from None
    for required in (TRAINING_STATE_FILE,):
        if f"{models_dir(run_dir, episode).name}/{required}" not in manifest["files"]:
            raise CheckpointError(f"{path.name} lists no {required}")
    return Checkpoint(run_dir, episode, manifest)


def iter_good_checkpoints(
    run_dir: Path, warn: Callable[[str], None] = print, newest_first: bool = True
) -> Iterator[Checkpoint]:
    """The checkpoints that verify, warning in one line about each damaged or incomplete one
    (including pieces a crash left without a manifest) as the scan reaches it."""
    run_dir = Path(run_dir)
    with_manifest = set(list_checkpoint_episodes(run_dir))
    pieces = (_PIECE_RE.match(p.name) for p in run_dir.iterdir()) if run_dir.is_dir() else ()
    candidates = with_manifest | {int(m.group(1)) for m in pieces if m}
    for episode in sorted(candidates, reverse=newest_first):
        if episode not in with_manifest:
            warn(f"checkpoint of episode {episode} is damaged (no manifest)")
            continue
        try:
            yield verify_checkpoint(run_dir, episode)
        except CheckpointError as exc:
            warn(f"checkpoint of episode {episode} is damaged ({exc})")


def latest_good_checkpoint(run_dir: Path, warn: Callable[[str], None] = print) -> Checkpoint | None:
    """The newest checkpoint that verifies; each newer damaged one is reported in one line."""
    return next(iter_good_checkpoints(run_dir, lambda m: warn(f"{m}; trying an older one")), None)
