"""Recording a policy to video."""

from __future__ import annotations

import os
from pathlib import Path


def record_policy(
    env,
    policy,
    path: Path,
    n_frames: int,
    deterministic: bool = True,
    h264: bool = True,
    seed: int | None = None,
) -> list[str]:
    """Record `n_frames` frames of `policy` (anything with `act(observation, deterministic)`:
    `SACAgent.policy()`, a loaded `training.policy.Policy`) acting in `env`; return the files
    written.

    The first frame is the reset state and every step adds one. An episode that ends (terminated
    or truncated) is followed by a reset, so the video never shows a dead episode going on. The
    videos are written under hidden names and renamed when complete (with `h264`, the H.264
    copy `<stem>_h264.mp4` too).
    """
    path = Path(path)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    observation, _ = env.reset(seed=seed)
    env.start_recording(str(partial), h264=h264)  # writes the reset state as the first frame
    frames = 1
    try:
        while frames < n_frames:
            action = policy.act(observation, deterministic=deterministic)
            observation, _, terminated, truncated, _ = env.step(action)
            frames += 1
            if (terminated or truncated) and frames < n_frames:
                observation, _ = env.reset()
                frames += 1
    except BaseException:
        for file in env.end_recording():
            Path(file).unlink(missing_ok=True)
        raise
    # The files appear under their names only once complete.
    written = []
    for file in env.end_recording():
        final = path.with_name(Path(file).name.replace(partial.stem, path.stem, 1))
        os.replace(file, final)
        written.append(str(final))
    return written
