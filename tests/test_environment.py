"""BaseEnvironment behaviour shared by the three tasks, the package's names and registration,
recording, rendering, and the video module."""

import math
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import gymnasium
import numpy as np
import pygame
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env

import environment
from environment import (
    ENVIRONMENT_CLASSES,
    BollaRollaEnvironment,
    CartpoleEnvironment,
    HumanoidStandingEnvironment,
    create_environment,
    pygame_to_cvimage,
    resolve_environment_name,
)
from environment.environment import NON_FINITE_REASON, SCREEN_SIZE, BaseEnvironment
from environment.video import VideoWriter, count_frames, h264_path, read_frames

REPO = Path(__file__).resolve().parents[1]
SIZES = {  # canonical name: (state size, action size, action scale), from the class docstrings
    "CartpoleEnvironment": (4, 1, 1000.0),
    "HumanoidStandingEnvironment": (30, 4, 2000.0),
    "BollaRollaEnvironment": (60, 8, 2000.0),
}
GYM_IDS = {
    "PymunkCartpole-v0": CartpoleEnvironment,
    "PymunkHumanoidStanding-v0": HumanoidStandingEnvironment,
    "PymunkBollaRolla-v0": BollaRollaEnvironment,
}
ALL = pytest.mark.parametrize("name", list(SIZES))


def run(env: BaseEnvironment, actions: np.ndarray, seed: int) -> list[np.ndarray]:
    """Observations of an episode-spanning run (resetting after every episode end)."""
    obs, _ = env.reset(seed=seed)
    observations = [obs]
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        observations.append(obs)
        if terminated or truncated:
            obs, _ = env.reset()
            observations.append(obs)
    return observations


# ----------------------------------------------------------------------------- spaces, basics
@ALL
def test_spaces_and_sizes(name):
    state_size, action_size, scale = SIZES[name]
    env = create_environment(name)
    assert (env.state_size, env.action_size, env.action_scale) == (state_size, action_size, scale)
    assert env.observation_space.shape == (state_size,)
    assert env.observation_space.dtype == np.float32
    assert env.action_space.shape == (action_size,)
    assert env.action_space.dtype == np.float32
    assert np.all(env.action_space.low == -1.0) and np.all(env.action_space.high == 1.0)
    assert len(env.action_names) == action_size
    assert env.max_episode_steps == 400
    assert env.metadata["render_fps"] == 50
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (state_size,)
    assert env.observation_space.contains(obs)
    assert info == {"steps": 0}


@ALL
def test_reward_info_and_termination_reward(name):
    env = create_environment(name)
    env.reset(seed=0)
    rewards = []
    while True:
        obs, reward, terminated, truncated, info = env.step(np.zeros(env.action_size))
        rewards.append(reward)
        assert info["steps"] == len(rewards)
        assert env.observation_space.contains(obs)
        if terminated or truncated:
            break
    # With no action every task ends early (the reference's humanoid "sits down").
    assert terminated and not truncated and isinstance(info["termination_reason"], str)
    assert rewards[:-1] == [1.0] * (len(rewards) - 1) and rewards[-1] == 0.0


@pytest.mark.parametrize(
    ("name", "options", "rules"),
    [
        ("CartpoleEnvironment", {}, 2),
        ("HumanoidStandingEnvironment", {}, 1),
        ("BollaRollaEnvironment", {}, 4),
        ("BollaRollaEnvironment", {"upright": True}, 5),
    ],
)
def test_limit_shares_pass_one_exactly_when_the_episode_terminates(name, options, rules):
    """One share per termination rule: about 0 at the start, below 1 while the episode goes on
    and above 1 (for some rule) at every termination, over episodes of random actions."""
    env = create_environment(name, **options)
    rng = np.random.default_rng(0)
    for seed in range(10):
        obs, _ = env.reset(seed=seed)
        shares = env.limit_shares(obs)
        assert len(shares) == rules and max(shares) < 0.01
        terminated = truncated = False
        while not (terminated or truncated):
            obs, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, env.action_size))
            shares = env.limit_shares(obs)
            assert min(shares) >= 0 and (max(shares) > 1) == terminated
        assert terminated  # random actions end every task early


def test_truncation_at_the_episode_cap():
    env = CartpoleEnvironment(max_episode_steps=5)
    env.reset(seed=0)
    for step in range(1, 6):
        _, reward, terminated, truncated, info = env.step(np.zeros(1))
        assert not terminated and reward == 1.0
        assert truncated == (step == 5)
    assert "termination_reason" not in info
    with pytest.raises(ResetNeeded, match="episode has ended"):
        env.step(np.zeros(1))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"render_mode": "window"},
        {"enable_rendering": True, "render_mode": "rgb_array"},
        {"max_episode_steps": 0},
        {"max_episode_steps": 10.5},
        {"start_noise": -0.1},
        {"start_noise": math.nan},
    ],
)
def test_bad_constructor_arguments(kwargs):
    with pytest.raises(ValueError):
        CartpoleEnvironment(**kwargs)


def test_enable_rendering_means_human():
    env = CartpoleEnvironment(enable_rendering=True)
    assert env.render_mode == "human"
    env.close()


# ------------------------------------------------------------------------------ bad inputs
@ALL
def test_step_before_reset_is_a_clear_error(name):
    env = create_environment(name)
    with pytest.raises(ResetNeeded, match="reset"):
        env.step(np.zeros(env.action_size))


@ALL
@pytest.mark.parametrize("wrong", ["short", "long", "2d", "scalar", "text", "object"])
def test_wrong_action_shape_or_type_raises(name, wrong):
    env = create_environment(name)
    env.reset(seed=0)
    n = env.action_size
    action = {
        "short": np.zeros(n - 1),
        "long": np.zeros(n + 1),
        "2d": np.zeros((1, n)),
        "scalar": 0.5,
        "text": ["a"] * n,
        "object": [None] * n,
    }[wrong]
    with pytest.raises(ValueError, match=rf"expected an action of shape \({n},\)"):
        env.step(action)


@ALL
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_action_raises(name, bad):
    env = create_environment(name)
    env.reset(seed=0)
    action = np.zeros(env.action_size, dtype=np.float32)
    action[-1] = bad
    with pytest.raises(ValueError, match=rf"finite action of shape \({env.action_size},\)"):
        env.step(action)
    env.step(np.zeros(env.action_size))  # the episode is still usable


@ALL
def test_out_of_range_actions_are_clipped(name):
    rng = np.random.default_rng(1)
    n = SIZES[name][1]
    raw = rng.uniform(-5, 5, size=(20, n))
    raw[0, 0] = 1e308  # finite but huge: clipped, not rejected
    raw[1, -1] = -1e308
    clipped_envs = [create_environment(name) for _ in range(2)]
    a = run(clipped_envs[0], raw, seed=0)
    b = run(clipped_envs[1], np.clip(raw, -1, 1), seed=0)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_actions_may_be_lists_ints_and_float64():
    """A list, a tuple of ints or a float64 array acts as the same float32 array does."""
    given, as_float32 = HumanoidStandingEnvironment(), HumanoidStandingEnvironment()
    given.reset(seed=0)
    as_float32.reset(seed=0)
    for action in ([1, 0, -1, 0], (0, 1, 1, 0), np.full(4, 0.5, dtype=np.float64)):
        obs, reward, terminated, truncated, _ = given.step(action)
        expected = as_float32.step(np.asarray(action, dtype=np.float32))
        assert np.array_equal(obs, expected[0])
        assert (reward, terminated, truncated) == expected[1:4]


@pytest.mark.parametrize("value", [math.nan, math.inf, 1e42])
def test_non_finite_physics_state_terminates(value):
    env = CartpoleEnvironment()
    last, _ = env.reset(seed=0)
    env.cart.velocity = (value, 0.0)  # 1e42 px/s: finite, but vx / 100 overflows float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from a float32 cast
        obs, reward, terminated, truncated, info = env.step(np.zeros(1))
    assert terminated and not truncated and reward == 0.0
    assert info["termination_reason"] == NON_FINITE_REASON
    assert np.all(np.isfinite(obs)) and np.array_equal(obs, last)
    with pytest.raises(ResetNeeded):
        env.step(np.zeros(1))


def test_non_finite_humanoid_state_terminates():
    env = BollaRollaEnvironment()
    env.reset(seed=0)
    env.humanoid.bodies["lower_arm_r"].angular_velocity = math.inf
    obs, reward, terminated, _, info = env.step(np.zeros(8))
    assert terminated and info["termination_reason"] == NON_FINITE_REASON
    assert np.all(np.isfinite(obs))


# ---------------------------------------------------------------------------- determinism
@ALL
def test_same_seed_same_actions_same_observations(name):
    actions = np.random.default_rng(7).uniform(-1, 1, size=(150, SIZES[name][1]))
    actions = actions.astype(np.float32)
    a = run(create_environment(name), actions, seed=3)
    b = run(create_environment(name), actions, seed=3)
    assert len(a) == len(b) > 150
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@ALL
def test_start_is_deterministic_without_noise(name):
    env = create_environment(name)
    first, _ = env.reset(seed=1)
    second, _ = env.reset(seed=2)
    assert np.array_equal(first, second)


@ALL
def test_start_noise_uses_the_seeded_generator(name):
    env = create_environment(name, start_noise=0.1)
    clean, _ = create_environment(name).reset(seed=0)
    a, _ = env.reset(seed=5)
    b, _ = create_environment(name, start_noise=0.1).reset(seed=5)
    c, _ = env.reset(seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c) and not np.array_equal(a, clean)
    # Saving and restoring the generator's state (as a resumed training run does) replays it.
    saved = env.unwrapped.np_random.bit_generator.state
    d, _ = env.reset()
    env.unwrapped.np_random.bit_generator.state = saved
    e, _ = env.reset()
    assert np.array_equal(d, e)


@pytest.mark.parametrize("name", ["HumanoidStandingEnvironment", "BollaRollaEnvironment"])
def test_batched_state_read_matches_attribute_reads(name):
    """The humanoid observation comes from one pymunk.batch call: it equals plain reads."""
    env = create_environment(name)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(30):
        obs, _, terminated, _, _ = env.step(rng.uniform(-1, 1, env.action_size))
        expected = []
        if name == "BollaRollaEnvironment":
            ball, plank = env.ball, env.plank
            expected += [ball.position.x / 100, ball.velocity.x / 100]
            expected += [plank.position.x / 100, plank.angle]
            expected += [plank.velocity.x / 100, plank.angular_velocity]
        for part in env.OBSERVED:
            body = env.humanoid.bodies[part]
            x, y = body.position
            vx, vy = body.velocity
            expected += [x / 100, y / 100, body.angle, vx / 100, vy / 100, body.angular_velocity]
        assert np.array_equal(obs, np.array(expected, dtype=np.float32))
        if terminated:
            env.reset()


# ------------------------------------------------------------------------- names, registry
ALIASES = {
    "CartpoleEnvironment": ["CartpoleEnvironment", "CartPoleEnvironment", "cartpole"],
    "HumanoidStandingEnvironment": [
        "HumanoidStandingEnvironment",
        "HumaniodStandingEnvironment",
        "standing",
    ],
    "BollaRollaEnvironment": [
        "BollaRollaEnvironment",
        "HumanoidBalanceBallEnvironment",
        "bolla-rolla",
        "balance-ball",
    ],
}


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [(alias, canonical) for canonical, aliases in ALIASES.items() for alias in aliases],
)
def test_every_alias_in_any_case(alias, canonical):
    for spelling in (alias, alias.lower(), alias.upper()):
        assert resolve_environment_name(spelling) == canonical
        env = create_environment(spelling)
        assert type(env) is ENVIRONMENT_CLASSES[canonical]
        assert type(env).__name__ == canonical


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown environment 'pendulum'") as error:
        create_environment("pendulum")
    for canonical, aliases in ALIASES.items():
        for name in [canonical, *aliases]:
            assert name in str(error.value)


def test_create_environment_passes_arguments():
    env = create_environment("cartpole", render_mode="rgb_array", max_episode_steps=7)
    assert env.render_mode == "rgb_array" and env.max_episode_steps == 7


@pytest.mark.parametrize("gym_id", list(GYM_IDS))
def test_gymnasium_registration(gym_id):
    env = gymnasium.make(gym_id)
    assert type(env.unwrapped) is GYM_IDS[gym_id]
    assert env.spec.max_episode_steps == 400
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape
    env.step(env.action_space.sample())
    env.close()
    frame = gymnasium.make(gym_id, render_mode="rgb_array")
    frame.reset(seed=0)
    assert frame.render().shape == (600, 600, 3)
    frame.close()


# Warnings check_env may raise that are acceptable here. None are expected: the observation
# space is bounded by float32's range precisely so that the "infinite bound" warning goes away.
CHECK_ENV_ALLOWED_WARNINGS: tuple[str, ...] = ()


@pytest.mark.parametrize("gym_id", list(GYM_IDS))
def test_check_env_passes_without_warnings(gym_id):
    env = gymnasium.make(gym_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)  # includes the render checks of both modes (via env.spec)
    env.close()
    unexpected = [
        str(w.message)
        for w in caught
        if not any(allowed in str(w.message) for allowed in CHECK_ENV_ALLOWED_WARNINGS)
    ]
    assert unexpected == []


def test_importing_twice_does_not_reregister():
    """A second import keeps the registrations as they are: gymnasium warns about, and
    replaces, an id registered again."""
    import importlib

    ours = {k: spec for k, spec in gymnasium.registry.items() if k.startswith("Pymunk")}
    assert len(ours) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(environment)
    assert all(gymnasium.registry[k] is spec for k, spec in ours.items())


# ------------------------------------------------------------------------------- rendering
@ALL
def test_rgb_array_render(name):
    env = create_environment(name, render_mode="rgb_array")
    with pytest.raises(ResetNeeded):
        env.render()
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (600, 600, 3) and frame.dtype == np.uint8
    assert tuple(frame[5, 5]) == (255, 255, 255)  # white background
    assert tuple(frame[545, 5]) == (149, 165, 166)  # grey static floor, left end
    blue = np.all(frame == (52, 152, 219), axis=2)  # pymunk's default dynamic colour
    assert blue.sum() > 500
    frame[:] = 0  # the caller owns the array
    assert env.render()[5, 5, 0] == 255
    env.close()
    env.close()  # idempotent


def test_render_without_mode_warns_and_returns_none():
    env = CartpoleEnvironment()
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render mode"):
        assert env.render() is None


def test_human_mode_runs_headless():
    env = CartpoleEnvironment(render_mode="human")
    env.reset(seed=0)
    env.step(np.ones(1))
    assert pygame.display.get_init() and pygame.display.get_surface().get_size() == SCREEN_SIZE
    assert env.render() is None
    env.close()
    env.close()
    assert not pygame.display.get_init()


def test_headless_rendering_initialises_no_audio(tmp_path):
    """In a fresh interpreter: render, record and open the (dummy) window; no mixer, no init."""
    code = f"""
import numpy as np, pygame
from environment import create_environment
env = create_environment("balance-ball", render_mode="rgb_array")
env.reset(seed=0)
env.render()
env.start_recording({str(tmp_path / "a.mp4")!r})
env.step(np.zeros(8))
env.end_recording()
human = create_environment("cartpole", render_mode="human")
human.reset(seed=0)
human.step(np.zeros(1))
print(pygame.mixer.get_init(), pygame.get_init(), pygame.display.get_init())
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["None", "False", "True"]


def test_pygame_to_cvimage_is_bgr_and_row_major():
    surface = pygame.Surface((30, 20))
    surface.fill((255, 255, 255))
    surface.set_at((25, 3), (255, 0, 0))  # (x, y)
    image = pygame_to_cvimage(surface)
    assert image.shape == (20, 30, 3) and image.dtype == np.uint8
    assert tuple(image[3, 25]) == (0, 0, 255)  # red in BGR
    assert tuple(image[0, 0]) == (255, 255, 255)


# ------------------------------------------------------------------------------- recording
@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_recording_frame_count_and_h264_copy(tmp_path, render_mode):
    env = CartpoleEnvironment(render_mode=render_mode)
    path = tmp_path / "videos" / "run.mp4"
    env.start_recording(path, h264=True)  # before reset: the reset frame is the first
    assert env.recording
    env.reset(seed=0)
    steps = 0
    for _ in range(3):  # episodes: one frame per reset, one per step
        while True:
            _, _, terminated, truncated, _ = env.step(np.ones(1))
            steps += 1
            if terminated or truncated:
                break
        env.reset()
    env.step(np.zeros(1))
    steps += 1
    written = env.end_recording()
    assert written == [str(path), str(tmp_path / "videos" / "run_h264.mp4")]
    expected = 4 + steps  # four resets
    assert count_frames(path) == expected
    assert count_frames(h264_path(path)) == expected
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_FRAME_WIDTH) == 600
    assert capture.get(cv2.CAP_PROP_FRAME_HEIGHT) == 600
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(50)
    capture.release()
    assert env.end_recording() == []


def test_recording_started_mid_episode_writes_the_current_frame(tmp_path):
    env = HumanoidStandingEnvironment()
    env.reset(seed=0)
    env.step(np.zeros(4))
    env.start_recording(tmp_path / "mid.mp4", fps=25)
    for _ in range(4):
        env.step(np.zeros(4))
    with pytest.raises(RuntimeError, match="already recording"):
        env.start_recording(tmp_path / "other.mp4")
    env.close()  # close ends the recording
    assert count_frames(tmp_path / "mid.mp4") == 5
    frames = read_frames(tmp_path / "mid.mp4")
    assert frames[0].shape == (600, 600, 3)
    assert np.abs(frames[0][5, 5].astype(int) - 255).max() < 10  # white background, lossy codec


# ----------------------------------------------------------------------------- video module
def _frames(n: int, width: int = 64, height: int = 48) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        frame = np.full((height, width, 3), 255, dtype=np.uint8)
        frame[:, : 4 + 4 * i, 0] = 0  # a growing cyan band
        frames.append(frame)
    return frames


def test_video_writer_round_trip(tmp_path):
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=10, h264=True) as writer:
        for frame in _frames(7):
            writer.write(frame)
    assert writer.close() == [str(path), str(tmp_path / "clip_h264.mp4")]
    assert count_frames(path) == 7 and count_frames(tmp_path / "clip_h264.mp4") == 7
    back = read_frames(tmp_path / "clip_h264.mp4")
    assert back[0].shape == (48, 64, 3)
    assert back[-1][24, 10, 0] < 60 and back[-1][24, 60, 0] > 200  # red channel, RGB order


def test_video_writer_odd_size_h264(tmp_path):
    with VideoWriter(tmp_path / "odd.mp4", h264=True) as writer:
        for frame in _frames(3, width=33, height=21):
            writer.write(frame)
    assert count_frames(tmp_path / "odd_h264.mp4") == 3


def test_video_writer_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="fps"):
        VideoWriter(tmp_path / "x.mp4", fps=0)
    writer = VideoWriter(tmp_path / "x.mp4")
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        writer.write(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        writer.write(np.zeros((10, 10, 3), dtype=np.float32))
    writer.write(np.zeros((10, 10, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="differs"):
        writer.write(np.zeros((12, 10, 3), dtype=np.uint8))
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.write(np.zeros((10, 10, 3), dtype=np.uint8))
    empty = VideoWriter(tmp_path / "empty.mp4")
    assert empty.close() == [] and not (tmp_path / "empty.mp4").exists()
    with pytest.raises(FileNotFoundError):
        count_frames(tmp_path / "missing.mp4")


# ---------------------------------------------------------------------------------- pushes
PUSHED = {  # canonical name: (pushed body, camera subject), as attribute paths
    "CartpoleEnvironment": ("pole", "cart"),
    "HumanoidStandingEnvironment": ("torso", "torso"),
    "BollaRollaEnvironment": ("torso", "torso"),
}


def _body(env: BaseEnvironment, name: str):
    return env.humanoid.bodies[name] if name == "torso" else getattr(env, name)


@ALL
def test_push_changes_only_the_pushed_body_velocity(name):
    env = create_environment(name)
    env.reset(seed=0)
    pushed, subject = PUSHED[name]
    assert env.push_body is _body(env, pushed) and env.camera_subject is _body(env, subject)
    before = {body: body.velocity for body in env.space.bodies}
    env.push(1.0)
    for body, (vx, vy) in before.items():
        expected = (vx + 100.0, vy) if body is env.push_body else (vx, vy)
        assert tuple(body.velocity) == pytest.approx(expected, abs=1e-12)
    env.push(np.float32(-0.25))  # NumPy numbers are fine; negative pushes to the left
    assert env.push_body.velocity.x == pytest.approx(before[env.push_body].x + 75.0)


@ALL
def test_a_push_acts_on_the_next_step(name):
    env = create_environment(name)
    zero = np.zeros(env.action_size)
    observations = {}
    for strength in (-1.0, 0.0, 1.0):
        env.reset(seed=0)
        env.step(zero)
        env.push(strength)
        observations[strength] = env.step(zero)[0]
    # the cart (index 1) or the torso (vx / 100) moves right after a push to the right
    index = {"CartpoleEnvironment": 1, "HumanoidStandingEnvironment": 3}.get(name, 9)
    assert observations[-1.0][index] < observations[0.0][index] < observations[1.0][index]


def test_push_pole_turns_the_pole_both_ways():
    env = CartpoleEnvironment()
    spins = []
    for strength in (-0.5, 0.5):
        env.reset(seed=0)
        env.push(strength)
        spins.append(env.step(np.zeros(1))[0][3])  # pole angular velocity, rad/s
    unpushed = CartpoleEnvironment()
    unpushed.reset(seed=0)
    rest = unpushed.step(np.zeros(1))[0][3]
    assert np.sign(spins[0] - rest) == -np.sign(spins[1] - rest) != 0
    assert abs(spins[1] - rest) > 0.5  # 50 px/s at 50 px from the pivot: about 1 rad/s


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "1", None, True])
def test_push_rejects_non_finite_or_non_numbers(bad):
    env = CartpoleEnvironment()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="push strength"):
        env.push(bad)


@ALL
def test_observe_gives_the_current_scene_without_stepping(name):
    """observe(): the reset's observation at first, the moved scene's after moving it by hand;
    the episode's step count does not change."""
    env = create_environment(name)
    first, _ = env.reset(seed=0)
    assert env.observe().dtype == np.float32 and np.array_equal(env.observe(), first)
    for body in env.space.bodies:
        body.position = (body.position.x + 10.0, body.position.y)
    moved = env.observe()
    assert env.steps == 0 and not np.array_equal(moved, first)
    with pytest.raises(ResetNeeded):
        create_environment(name).observe()


def test_observe_sees_no_sideways_shift_with_relative_x():
    env = BollaRollaEnvironment(relative_x=True)
    first, _ = env.reset(seed=0)
    for body in env.space.bodies:
        body.position = (body.position.x + 30.0, body.position.y)
    assert env.observe() == pytest.approx(first, abs=1e-5)


def test_push_and_impulses_need_a_reset():
    env = HumanoidStandingEnvironment()
    with pytest.raises(ResetNeeded):
        env.push(1.0)
    with pytest.raises(ResetNeeded):
        env.pick_body((300.0, 453.0))


def test_apply_impulse_at_and_pick_body():
    env = BollaRollaEnvironment()
    env.reset(seed=0)
    torso = env.humanoid.bodies["torso"]
    body, local = env.pick_body((300.0, 390.0))  # the torso's centre
    assert body is torso and tuple(local) == pytest.approx((0.0, 0.0), abs=1e-9)
    assert env.pick_body((300.0, 515.0))[0] is env.ball
    assert env.pick_body((50.0, 100.0)) is None  # empty air
    assert env.pick_body((50.0, 548.0)) is None  # the static floor is not grabbed
    assert env.pick_body((300.0, 368.0), max_distance=5.0)[0] is torso  # 3 px above its top
    env.apply_impulse_at(torso, torso.position, (30.0 * 2.0, 0.0))
    assert torso.velocity.x == pytest.approx(2.0) and torso.angular_velocity == 0.0
    env.apply_impulse_at(env.ball, env.ball.position + (0.0, -25.0), (10.0, 0.0))  # its top
    assert env.ball.velocity.x == pytest.approx(1.0) and env.ball.angular_velocity != 0.0


def test_apply_impulse_at_rejects_bad_input():
    env = CartpoleEnvironment()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="finite"):
        env.apply_impulse_at(env.cart, (300.0, 530.0), (math.nan, 0.0))
    with pytest.raises(ValueError, match="pair"):
        env.apply_impulse_at(env.cart, (300.0,), (1.0, 0.0))
    with pytest.raises(ValueError, match="dynamic body"):
        env.apply_impulse_at(env.space.static_body, (300.0, 550.0), (1.0, 0.0))
    other = CartpoleEnvironment()
    other.reset(seed=0)
    with pytest.raises(ValueError, match="dynamic body"):
        env.apply_impulse_at(other.cart, (300.0, 530.0), (1.0, 0.0))
    old_cart = env.cart
    env.reset(seed=0)
    with pytest.raises(ValueError, match="current space"):
        env.apply_impulse_at(old_cart, (300.0, 530.0), (1.0, 0.0))


# ---------------------------------------------------------------------------------- camera
BLUE = (52, 152, 219)  # pymunk's default colour of dynamic bodies
CYAN_RGB = (32, 175, 205)
SUBJECT_COLOURS = (BLUE, CYAN_RGB, (139, 69, 19))  # bodies, ball, pole/plank


def _plain_debug_draw(env: BaseEnvironment) -> np.ndarray:
    """The scene drawn the way rendering worked before the camera: white + debug draw."""
    import pymunk.pygame_util

    surface = pygame.Surface(SCREEN_SIZE)
    options = pymunk.pygame_util.DrawOptions(surface)
    options.flags = (
        pymunk.SpaceDebugDrawOptions.DRAW_SHAPES | pymunk.SpaceDebugDrawOptions.DRAW_CONSTRAINTS
    )
    surface.fill((255, 255, 255))
    env.space.debug_draw(options)
    return np.transpose(pygame.surfarray.array3d(surface), (1, 0, 2))


def _mask(frame: np.ndarray, colours=SUBJECT_COLOURS) -> np.ndarray:
    return np.any([np.all(frame == colour, axis=2) for colour in colours], axis=0)


@ALL
def test_zoom_one_is_the_plain_full_view(name):
    env = create_environment(name, render_mode="rgb_array", start_noise=0.1)
    assert env.zoom == 1.0
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(15):
        assert np.array_equal(env.render(), _plain_debug_draw(env))
        if any(env.step(rng.uniform(-1, 1, env.action_size))[2:4]):
            env.reset()
    assert env.world_to_screen((12.0, 34.0)) == (12.0, 34.0)


@ALL
def test_zoom_two_magnifies_the_subject_and_cuts_nothing(name):
    near, far = (create_environment(name, render_mode="rgb_array", zoom=z) for z in (1.0, 2.0))
    for env in (near, far):
        env.reset(seed=0)
    small, big = near.render(), far.render()
    ratio = _mask(big).sum() / _mask(small).sum()
    assert 3.5 < ratio < 4.5  # twice as wide and twice as tall
    subject = _mask(big)
    assert not (subject[:8].any() or subject[-8:].any())  # 10 px margins, nothing cut
    assert not (subject[:, :8].any() or subject[:, -8:].any())
    floor = np.all(big == (149, 165, 166), axis=2)  # the grey floor is still in view
    assert floor[540:560].all(axis=1).any()
    if name == "BollaRollaEnvironment":  # the whole ball, four times the pixels
        ball = [np.all(frame == CYAN_RGB, axis=2).sum() for frame in (small, big)]
        assert 3.6 < ball[1] / ball[0] < 4.4


@ALL
def test_zoomed_camera_follows_the_subject_and_keeps_it_in_the_frame(name):
    env = create_environment(name, render_mode="rgb_array", zoom=2.0)
    env.reset(seed=0)
    subject = env.camera_subject
    for body in env.space.bodies:  # move everything 240 px left, near the edge
        body.position += (-240.0, 0.0)
        env.space.reindex_shapes_for_body(body)
    frame = env.render()
    mask = _mask(frame)
    assert mask.any() and not (mask[:, :8].any() or mask[:, -8:].any())
    centre = env.world_to_screen(subject.position)
    assert tuple(env.screen_to_world(centre)) == pytest.approx(tuple(subject.position))
    assert centre.x < 300  # still on the left half, where it is at zoom 1
    for body in env.space.bodies:  # back to the middle: the subject stays where it is
        body.position += (240.0, 0.0)
        env.space.reindex_shapes_for_body(body)
    env.render()
    assert env.world_to_screen(subject.position).x == pytest.approx(subject.position.x)
    assert env.world_to_screen((0.0, env.CAMERA_Y)).y == pytest.approx(env.CAMERA_Y)


def test_camera_offset_clamps_then_keeps_the_bottom():
    from environment.environment import CAMERA_MARGIN, camera_offset

    assert camera_offset(1.0, 300.0, 100.0, 200.0, 600.0, False) == 0.0
    assert camera_offset(2.0, 300.0, 250.0, 350.0, 600.0, False) == -300.0  # fits as it is
    # near the left edge: shifted right just enough for the 10 px margin
    assert camera_offset(2.0, 30.0, 0.0, 60.0, 600.0, False) == CAMERA_MARGIN
    # too tall to fit: the bottom (largest y) stays 10 px inside
    offset = camera_offset(4.0, 550.0, 300.0, 540.0, 600.0, True)
    assert offset + 4.0 * 540.0 == 600.0 - CAMERA_MARGIN
    offset = camera_offset(4.0, 300.0, 0.0, 600.0, 600.0, False)  # too wide: centred
    assert offset + 4.0 * 300.0 == 300.0


def test_zoom_applies_to_human_mode_and_recordings(tmp_path):
    shown = create_environment("standing", render_mode="rgb_array", zoom=2.0)
    shown.reset(seed=0)
    expected = shown.render()
    human = create_environment("standing", render_mode="human", zoom=2.0)
    human.reset(seed=0)
    window = np.transpose(pygame.surfarray.array3d(pygame.display.get_surface()), (1, 0, 2))
    assert np.array_equal(window, expected)
    human.close()
    recorded = create_environment("standing", zoom=2.0)
    recorded.start_recording(tmp_path / "zoom.mp4")
    recorded.reset(seed=0)
    recorded.end_recording()
    (frame,) = read_frames(tmp_path / "zoom.mp4")
    unzoomed = create_environment("standing", render_mode="rgb_array")
    unzoomed.reset(seed=0)
    blue = np.abs(frame.astype(int) - BLUE).max(axis=2) < 40  # lossy codec: nearly blue
    assert abs(blue.sum() / _mask(expected).sum() - 1) < 0.1
    assert blue.sum() > 3 * _mask(unzoomed.render()).sum()


@pytest.mark.parametrize("zoom", [0, -1.0, math.nan, math.inf, "2", True, None])
def test_bad_zoom_raises(zoom):
    with pytest.raises(ValueError, match="zoom"):
        CartpoleEnvironment(zoom=zoom)
