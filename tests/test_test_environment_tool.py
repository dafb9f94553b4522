"""tools/test_environment.py: the manual-play tool, driven through its scripted headless mode."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pygame
import pytest

from environment import create_environment

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
        plus = tool.action_from_keys({tool.PLUS_KEYS[i]}, env.action_size)
        minus = tool.action_from_keys({tool.MINUS_KEYS[i]}, env.action_size)
        expected = np.zeros(env.action_size)
        expected[i] = 1
        assert np.array_equal(plus, expected) and np.array_equal(minus, -expected)
    both = tool.action_from_keys({"1", "a"}, 8)
    assert both[0] == 0.0
    assert tool.action_from_keys({"right", "1"}, 1)[0] == 1.0  # clipped to the action space


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
        (["cartpole", "--headless", "--frames", "-1"], "--frames must be >= 0"),
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
