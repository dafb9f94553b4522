"""Recording a policy to video."""

from __future__ import annotations

from pathlib import Path


def record_policy(
    env,
    agent,
    path: Path,
    n_frames: int,
    deterministic: bool = True,
    h264: bool = True,
    seed: int | None = None,
) -> list[str]:
    """Record `n_frames` frames of `agent` acting in `env`; return the files written.

    The first frame is the reset state and every step adds one. An episode that ends (terminated
    or truncated) is followed by a reset, so the video never shows a dead episode going on.
    """
    observation, _ = env.reset(seed=seed)
    env.start_recording(str(path), h264=h264)  # writes the reset state as the first frame
    frames = 1
    try:
        while frames < n_frames:
            action = agent.choose_action(observation, deterministic=deterministic)
            observation, _, terminated, truncated, _ = env.step(action)
            frames += 1
            if (terminated or truncated) and frames < n_frames:
                observation, _ = env.reset()
                frames += 1
    finally:
        written = env.end_recording()
    return written
