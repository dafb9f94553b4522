"""tools/test_environment.py: the manual-play tool, driven through its scripted headless mode."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pygame
import pytest

from environment import create_environment
from tests.tool_helpers import check_video_report
from tools import _player as gui

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "test_environment.py"
CART_BLUE = np.array([52, 152, 219])


def load_tool():
    spec = importlib.util.spec_from_file_location("test_environment_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = load_tool()


def screenshot(tmp_path: Path, *args: str) -> np.ndarray:
    path = tmp_path / "shot.png"
    assert tool.main([*args, "--headless", "--screenshot", str(path)]) == 0
    image = pygame.image.load(str(path))
    return np.transpose(pygame.surfarray.array3d(image), (1, 0, 2))  # (H, W, 3) RGB


def blue_centre_x(image: np.ndarray) -> float:
    rows = image[500:560]  # the cart's band (the torso/legs are drawn higher for humanoids)
    _, xs = np.nonzero(np.all(rows == CART_BLUE, axis=2))
    assert xs.size > 100
    return float(xs.mean())


def test_help_lists_the_keys():
    result = subprocess.run(
        [sys.executable, str(TOOL), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for text in ("1/a", "2/s", "8/k", "RIGHT/LEFT", "R resets", "P saves", "ESC", "--script"):
        assert text in result.stdout


def test_reset_screenshot_equals_the_environment_render(tmp_path):
    image = screenshot(tmp_path, "cartpole", "--frames", "0", "--no-text")
    env = create_environment("cartpole", render_mode="rgb_array")
    env.reset(seed=0)
    assert np.array_equal(image, env.render())


def test_keys_push_the_cart_both_ways(tmp_path, capsys):
    # 5 frames: a full push topples the pole (and restarts the episode) after about 7.
    right = screenshot(tmp_path, "cartpole", "--script", "right:5", "--no-text")
    left = screenshot(tmp_path, "cartpole", "--script", "a:5", "--no-text")
    idle = screenshot(tmp_path, "cartpole", "--script", "none:5", "--no-text")
    out = capsys.readouterr().out
    assert out.count("5 steps, 0 episodes ended") == 3
    assert blue_centre_x(right) > blue_centre_x(idle) + 1 > blue_centre_x(left) + 2


def test_text_overlay_is_drawn(tmp_path):
    plain = screenshot(tmp_path, "standing", "--script", "1+3:5", "--no-text")
    text = screenshot(tmp_path, "standing", "--script", "1+3:5")
    assert np.all(plain[:150] == 255)  # the top of the scene is empty background
    dark = np.all(text[:150] < 100, axis=2)
    assert dark.sum() > 500  # state, action, step, reward and return lines
    assert np.array_equal(plain[400:], text[400:])  # the scene itself is unchanged


def test_every_action_key_moves_its_limb():
    env = create_environment("balance-ball")
    for i in range(env.action_size):
        plus = gui.action_from_keys({gui.PLUS_KEYS[i]}, env.action_size)
        minus = gui.action_from_keys({gui.MINUS_KEYS[i]}, env.action_size)
        expected = np.zeros(env.action_size)
        expected[i] = 1
        assert np.array_equal(plus, expected) and np.array_equal(minus, -expected)
    both = gui.action_from_keys({"1", "a"}, 8)
    assert both[0] == 0.0
    assert gui.action_from_keys({"right", "1"}, 1)[0] == 1.0  # clipped to the action space


def test_episodes_restart_and_r_resets(tmp_path, capsys):
    tool.main(["cartpole", "--headless", "--script", "right:40,r:1,none:3"])
    out = capsys.readouterr().out
    ended = [line for line in out.splitlines() if line.startswith("episode ")]
    assert len(ended) >= 2 and all("pole fell" in line for line in ended)
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("done: CartpoleEnvironment") and "current return 3.0" in summary


def test_p_in_a_script_saves_a_screenshot(tmp_path):
    folder = tmp_path / "shots"
    tool.main(["standing", "--headless", "--script", "none:2,p:1", "--screenshot-dir", str(folder)])
    (saved,) = folder.glob("HumanoidStandingEnvironment_*.png")
    assert pygame.image.load(str(saved)).get_size() == (600, 600)


def test_the_tool_initialises_no_audio(tmp_path):
    screenshot(tmp_path, "balance-ball", "--script", "4:3")
    assert pygame.mixer.get_init() is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pendulum", "--headless", "--frames", "1"], "unknown environment 'pendulum'"),
        (["cartpole", "--headless", "--script", "right"], "bad script segment"),
        (["cartpole", "--headless", "--script", "x:3"], "unknown key"),
        (["cartpole", "--headless"], "--headless needs --script"),
        (["cartpole", "--headless", "--frames", "-1"], "--frames must be at least 0"),
        (["cartpole", "--headless", "--frames", "1", "--start-noise", "nan"], "--start-noise"),
        (["cartpole", "--headless", "--frames", "1", "--screenshot", "/proc/x.png"], "cannot save"),
    ],
)
def test_bad_arguments_exit_with_one_line(args, message):
    result = subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_keyboard_mode_with_simulated_keys(tmp_path, monkeypatch, capsys):
    """The interactive loop on the dummy display: RIGHT held, then P, R and ESC pressed."""
    events = [
        [],
        [],
        [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_p)],
        [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_r)],
        [],
        [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE)],
    ]

    class Pressed:
        def __getitem__(self, code: int) -> bool:
            return code == pygame.K_RIGHT

    monkeypatch.setattr(tool.pygame.event, "get", lambda: events.pop(0))
    monkeypatch.setattr(tool.pygame.key, "get_pressed", lambda: Pressed())
    folder = tmp_path / "shots"
    assert tool.main(["cartpole", "--screenshot-dir", str(folder)]) == 0
    assert events == []
    (saved,) = folder.glob("CartpoleEnvironment_*.png")
    out = capsys.readouterr().out
    assert "keys:" in out  # the key help is printed on start
    # One RIGHT step per frame until ESC (5 frames); R reset before the 4th: 2 steps since.
    assert "5 steps, 0 episodes ended" in out and "current return 2.0" in out
    assert pygame.mixer.get_init() is None and not pygame.display.get_init()


# ------------------------------------------------------------------ agent, pushes, recording
AGENT_GREEN = np.array(gui.AGENT_BAR_COLOR)
KEY_ORANGE = np.array(gui.KEY_BAR_COLOR)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from tests.policy_helpers import tiny_run

    return tiny_run(tmp_path_factory)


def bar_pixels(image: np.ndarray, row: int, colour: np.ndarray) -> tuple[int, int]:
    """Pixels of `colour` in action bar `row`: (left of the middle, right of it)."""
    x0 = 600 - gui.BAR_PANEL_WIDTH - gui.TEXT_MARGIN + gui.BAR_LABEL_WIDTH
    middle = x0 + gui.BAR_WIDTH // 2
    y = gui.TEXT_MARGIN + gui.LINE_HEIGHT + row * gui.BAR_ROW
    band = np.all(image[y : y + gui.BAR_HEIGHT, x0 : x0 + gui.BAR_WIDTH] == colour, axis=2)
    return int(band[:, : middle - x0].sum()), int(band[:, middle - x0 + 1 :].sum())


def test_the_agent_plays_headless_and_its_actions_are_drawn(run, tmp_path, capsys):
    from training.policy import load_policy

    image = screenshot(tmp_path, "--agent", str(run), "--script", "none:1", "--seed", "0")
    out = capsys.readouterr().out
    assert "done: CartpoleEnvironment, 1 steps" in out
    env = create_environment("cartpole")
    observation, _ = env.reset(seed=0)
    action = float(load_policy(run).act(observation)[0])
    left, right = bar_pixels(image, 0, AGENT_GREEN)
    filled = abs(round(action * gui.BAR_WIDTH // 2))
    assert (left if action < 0 else right) >= (filled - 1) * (gui.BAR_HEIGHT - 2)  # in the frame
    assert (right if action < 0 else left) == 0
    assert bar_pixels(image, 0, KEY_ORANGE) == (0, 0)


def test_key_bars_show_held_keys(tmp_path):
    image = screenshot(tmp_path, "standing", "--script", "1+s:3")
    assert bar_pixels(image, 0, KEY_ORANGE)[1] > 40 * (gui.BAR_HEIGHT - 2)  # +1: right half
    assert bar_pixels(image, 1, KEY_ORANGE)[0] > 40 * (gui.BAR_HEIGHT - 2)  # -1: left half
    assert bar_pixels(image, 0, KEY_ORANGE)[0] == bar_pixels(image, 2, KEY_ORANGE)[1] == 0
    assert bar_pixels(image, 0, AGENT_GREEN) == (0, 0)


def test_held_keys_override_the_agent_per_dimension(run):
    from training.policy import load_policy

    policy = load_policy(run)
    env = policy.make_environment()
    pygame.font.init()
    player = gui.Player(env, pygame.Surface((600, 600)), 0, True, Path("."), policy=policy)
    assert player.choose_action({"a"})[0] == -1.0 and player.overridden == {0}
    assert player.choose_action(set())[0] == policy.act(player.obs)[0]
    assert player.overridden == set()
    player.advance({"right"})
    assert player.action[0] == 1.0


def play_script(name: str, text: str, push: float = 1.0) -> gui.Player:
    env = create_environment(name)
    player = gui.Player(env, pygame.Surface((600, 600)), 0, False, Path("."), push_strength=push)
    script = tool.parse_script(text)
    tool.run_script(player, script, sum(n for _, n in script), windowed=False)
    return player


@pytest.mark.parametrize("name", ["cartpole", "standing", "balance-ball"])
def test_push_tokens_change_the_pushed_body_velocity(name, capsys):
    velocities = {}
    for token in ("none", "push_left", "push_right"):
        player = play_script(name, f"none:3,{token}:1", push=0.5)
        velocities[token] = player.env.push_body.velocity.x
        assert player.pushes == (token != "none") and player.env.steps == 4
    # one step after a 50 px/s push, the body still moves about that much faster or slower
    assert velocities["push_left"] < velocities["none"] - 20
    assert velocities["push_right"] > velocities["none"] + 20
    assert "push right 0.5 x 100 px/s at step 3" in capsys.readouterr().out


def test_a_push_on_the_reset_frame_pushes_the_new_start(capsys):
    # right:7 topples the pole at step 7; frame 8 is the owed reset, pushed at once
    player = play_script("cartpole", "right:7,push_right:1", push=1.0)
    assert player.episode == 2 and player.env.steps == 0
    assert player.env.push_body.velocity.x == pytest.approx(100.0)


def test_record_writes_what_is_shown(run, tmp_path, capsys):
    video = tmp_path / "clips" / "agent.mp4"
    args = ["--agent", str(run), "--headless", "--script", "none:3,push_right:1,none:5"]
    assert tool.main([*args, "--record", str(video), "--zoom", "2"]) == 0
    from environment.video import count_frames, read_frames

    assert count_frames(video) == 10 == count_frames(tmp_path / "clips" / "agent_h264.mp4")
    (said,) = [line for line in capsys.readouterr().out.splitlines() if "video saved" in line]
    report = check_video_report(said)
    assert said.startswith("video saved: 10 frames, 600x600, 50 fps -> ")
    assert report["paths"] == [video, tmp_path / "clips" / "agent_h264.mp4"]
    assert sorted(p.name for p in video.parent.iterdir()) == ["agent.mp4", "agent_h264.mp4"]
    first = read_frames(video)[0]
    assert (first[:150] < 100).all(axis=2).sum() > 500  # the text overlay is filmed too
    assert tool.main([*args, "--record", str(video)]) == 2  # no overwrite without --force
    assert "already exists" in capsys.readouterr().err
    assert tool.main([*args, "--record", str(video), "--force", "--frames", "2"]) == 0
    assert count_frames(video) == 3


def test_a_script_is_played_a_frame_at_a_time(tmp_path):
    """A script's counts are never expanded: a billion frames of nothing, one of them played,
    runs in a 1 GB address space (the schedule of every frame would need tens of GB)."""
    command = (
        f"ulimit -v 1000000; exec {sys.executable} {TOOL} cartpole --headless --frames 1 "
        "--script 'none:1000000000,right:5'"
    )
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "done: CartpoleEnvironment, 1 steps" in result.stdout
    frames = tool.script_frames(tool.parse_script("none:1000000000,right:2"))
    assert next(frames) == (frozenset(), True) and next(frames) == (frozenset(), False)


def post(*events):
    return [list(frame) for frame in events]


def test_mouse_drag_and_shift_arrows_push_in_the_window(monkeypatch, capsys):
    """Press on the torso, drag right, release; then SHIFT+LEFT; then ESC (dummy display)."""
    torso = (300, 2 * 453 - 550)  # the torso's centre on screen at zoom 2 (floor line fixed)
    events = post(
        [pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=torso)],
        [pygame.event.Event(pygame.MOUSEMOTION, pos=(340, torso[1]), rel=(40, 0), buttons=(1,))],
        [pygame.event.Event(pygame.MOUSEBUTTONUP, button=1, pos=(380, torso[1]))],
        [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_LEFT, mod=pygame.KMOD_LSHIFT)],
        [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE)],
    )
    players = []
    original = gui.Player.draw

    def draw(self):
        players.append(self)
        original(self)

    monkeypatch.setattr(gui.Player, "draw", draw)
    monkeypatch.setattr(tool.pygame.event, "get", lambda: events.pop(0))
    assert tool.main(["standing", "--zoom", "2", "--no-text"]) == 0
    out = capsys.readouterr().out
    # 80 screen px at zoom 2 = 40 world px: 80 px/s for the torso, then a push of 100 px/s left
    assert "push drag 40 px right" in out and "push left 1 x 100 px/s at step 3" in out
    assert players[0].pushes == 2 and "4 steps" in out


def test_a_drag_draws_a_line_to_the_cursor():
    env = create_environment("balance-ball", zoom=2.0)
    player = gui.Player(env, pygame.Surface((600, 600)), 0, False, Path("."))
    player.draw()
    ball = env.world_to_screen(env.ball.position)
    player.start_drag(ball)
    player.cursor = (ball.x + 150, ball.y - 100)
    player.draw()
    image = np.transpose(pygame.surfarray.array3d(player.surface), (1, 0, 2))
    red = np.all(image == gui.DRAG_COLOR, axis=2)
    assert red[int(ball.y) - 50, int(ball.x) + 70 : int(ball.x) + 80].any()  # on the line
    player.end_drag(player.cursor)
    assert player.drag is None and env.ball.velocity.length > 100


def test_no_display_points_to_headless(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("SDL_VIDEODRIVER", None)
    result = subprocess.run(
        [sys.executable, str(TOOL), "cartpole"], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no display" in lines[0] and "--headless" in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cartpole", "--headless", "--script", "push_up:1"], "unknown key"),
        (["cartpole", "--headless", "--frames", "1", "--push", "-1"], "--push"),
        (["cartpole", "--headless", "--frames", "1", "--push", "nan"], "--push"),
        (["cartpole", "--headless", "--frames", "1", "--zoom", "0"], "--zoom"),
        (["cartpole", "--headless", "--frames", "1", "--stochastic"], "--stochastic needs"),
        (["cartpole", "--headless", "--frames", "1", "--record", "x.avi"], ".mp4"),
        (["--headless", "--frames", "1"], "NAME"),
        (["--agent", "AGENT", "standing", "--headless", "--frames", "1"], "trained on Cartpole"),
        (["--agent", "MISSING", "--headless", "--frames", "1"], "is not a folder"),
        (["--agent", "EMPTY", "--headless", "--frames", "1"], "has no config.json"),
        (["--agent", "NO_WEIGHTS", "--headless", "--frames", "1"], "nor a good checkpoint"),
        (["--agent", "MISFIT", "--headless", "--frames", "1"], "does not fit"),
    ],
)
def test_bad_agent_and_push_arguments_exit_with_one_line(run, tmp_path, args, message):
    from tests.policy_helpers import results_folder, run_config

    (tmp_path / "empty").mkdir()
    (tmp_path / "no_weights").mkdir()
    (tmp_path / "no_weights" / "config.json").write_bytes((run / "config.json").read_bytes())
    results_folder(tmp_path / "misfit", {**run_config(run), "env_name": "standing"}, 4, 1)
    folders = {
        "AGENT": run,
        "MISSING": tmp_path / "missing",
        "EMPTY": tmp_path / "empty",
        "NO_WEIGHTS": tmp_path / "no_weights",
        "MISFIT": tmp_path / "misfit",
    }
    args = [str(folders.get(a, a)) for a in args]
    result = subprocess.run(
        [sys.executable, str(TOOL), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr
