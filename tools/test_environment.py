"""Play one of the environments by hand, or drive it with a key script (headless, for tests).

    python tools/test_environment.py cartpole
    python tools/test_environment.py balance-ball --seed 3

A window shows the scene and, on top, the step, reward, episode return, action and state.
Each action dimension has a key pair: the digit key pushes +1, the home-row key below it -1
(1/a, 2/s, 3/d, 4/f, 5/g, 6/h, 7/j, 8/k); on every task the arrows RIGHT/LEFT also push the first
dimension +1/-1. R resets, P saves a screenshot into --screenshot-dir, ESC (or closing the
window) quits. The episode restarts by itself after it ends: the frame after the last step shows
the new start state.

Scripted mode replaces the keyboard by a list of held keys and frame counts, e.g.

    python tools/test_environment.py cartpole --headless --script "right:20,none:5,a:10" \\
        --screenshot out.png

Each segment "KEYS:N" holds KEYS for N frames (one environment step per frame). KEYS is "none"
or key names joined by "+" ("1+left"); "r" in KEYS resets and "p" saves a screenshot, once,
on the segment's first frame. `--headless` draws offscreen at full speed, without a window;
`--frames` overrides the total (default: the script's length), and `--screenshot` saves the
last frame. A summary line is printed at the end. `--frames 0 --no-text --screenshot x.png`
saves the reset state alone (that is how the README's images/ were made).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pygame

from environment import ENVIRONMENT_ALIASES, create_environment, resolve_environment_name
from environment.environment import FPS, SCREEN_SIZE, BaseEnvironment
from tools._common import ToolParser

PLUS_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8")
MINUS_KEYS = ("a", "s", "d", "f", "g", "h", "j", "k")
ARROW_KEYS = {"right": +1.0, "left": -1.0}  # the first action dimension
COMMAND_KEYS = ("r", "p")
TEXT_COLOR = (0, 0, 0)
FONT_SIZE = 16  # px
LINE_HEIGHT = 17  # px
TEXT_MARGIN = 4  # px


def wrap(font: pygame.font.Font, text: str, width: int) -> list[str]:
    """Split `text` at spaces into lines no wider than `width` px (a long word stays whole)."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and font.size(candidate)[0] > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current]


def key_help() -> str:
    pairs = ", ".join(f"{p}/{m}" for p, m in zip(PLUS_KEYS, MINUS_KEYS, strict=True))
    return (
        f"keys: action dimension i gets +1 / -1 from the i-th pair {pairs} "
        "(only the first action_size pairs are used; cartpole: 1/a); RIGHT/LEFT = +1/-1 on the "
        "first dimension; R reset; P screenshot; ESC quit"
    )


def parse_script(text: str) -> list[tuple[frozenset[str], int]]:
    """ "KEYS:N,KEYS:N" -> [(held key names, frame count)]; ValueError on a bad segment."""
    known = set(PLUS_KEYS) | set(MINUS_KEYS) | set(ARROW_KEYS) | set(COMMAND_KEYS)
    segments = []
    for segment in text.split(","):
        segment = segment.strip()
        if not segment:
            continue
        keys_text, sep, count_text = segment.rpartition(":")
        if not sep or not count_text.strip().isdigit():
            raise ValueError(f"bad script segment {segment!r}: expected KEYS:FRAMES, e.g. right:10")
        keys = (
            frozenset()
            if keys_text.strip().lower() in ("none", "")
            else frozenset(key.strip().lower() for key in keys_text.split("+"))
        )
        unknown = sorted(keys - known)
        if unknown:
            raise ValueError(
                f"unknown key(s) {unknown} in script segment {segment!r}; known: "
                f"{', '.join(PLUS_KEYS + MINUS_KEYS + tuple(ARROW_KEYS) + COMMAND_KEYS)}"
            )
        segments.append((keys, int(count_text)))
    return segments


def action_from_keys(held: frozenset[str] | set[str], action_size: int) -> np.ndarray:
    action = np.zeros(action_size, dtype=np.float32)
    for i in range(action_size):
        action[i] = (PLUS_KEYS[i] in held) - (MINUS_KEYS[i] in held)
    for key, sign in ARROW_KEYS.items():
        if key in held:
            action[0] += sign
    return np.clip(action, -1.0, 1.0)


class Player:
    """Runs the environment frame by frame and draws the scene plus the text overlay."""

    def __init__(
        self,
        env: BaseEnvironment,
        surface: pygame.Surface,
        seed: int | None,
        show_text: bool,
        screenshot_dir: Path,
    ) -> None:
        self.env = env
        self.surface = surface
        self.show_text = show_text
        self.screenshot_dir = screenshot_dir
        self.font = pygame.font.Font(None, FONT_SIZE) if show_text else None
        self.obs, _ = env.reset(seed=seed)
        self.action = np.zeros(env.action_size, dtype=np.float32)
        self.reward = 0.0
        self.episode_return = 0.0
        self.episode = 1
        self.returns: list[float] = []
        self.total_steps = 0
        self.pending_reset = False
        self.last_event = "reset"
        self.screenshots: list[Path] = []
        self.clock = pygame.time.Clock()

    def reset(self) -> None:
        self.obs, _ = self.env.reset()
        self.action[:] = 0.0
        self.reward = 0.0
        self.episode_return = 0.0
        self.episode += 1
        self.pending_reset = False
        self.last_event = "reset"

    def advance(self, held: frozenset[str] | set[str]) -> None:
        """One frame: the reset owed after an ended episode, or one step with the held keys."""
        if self.pending_reset:
            self.reset()
            return
        self.action = action_from_keys(held, self.env.action_size)
        self.obs, self.reward, terminated, truncated, info = self.env.step(self.action)
        self.total_steps += 1
        self.episode_return += self.reward
        self.last_event = ""
        if terminated or truncated:
            why = info.get("termination_reason", "time limit")
            self.last_event = f"episode over: {why}"
            self.returns.append(self.episode_return)
            print(
                f"episode {self.episode}: return {self.episode_return:.1f} "
                f"in {info['steps']} steps ({why})",
                flush=True,
            )
            self.pending_reset = True

    def draw(self) -> None:
        self.env.draw(self.surface)
        if self.font is None:
            return
        env = self.env
        lines = [
            f"{type(env).__name__}   episode {self.episode}   step {env.steps}   "
            f"reward {self.reward:.1f}   return {self.episode_return:.1f}   {self.last_event}",
            "action: "
            + "  ".join(
                f"{name} {value:+.0f} [{PLUS_KEYS[i]}/{MINUS_KEYS[i]}]"
                for i, (name, value) in enumerate(zip(env.action_names, self.action, strict=True))
            ),
            "R reset   P screenshot   ESC quit   (arrows: first dimension)",
            "state:",
        ]
        values = [f"{v:+.2f}" for v in self.obs.tolist()]
        lines += ["  " + " ".join(values[i : i + 10]) for i in range(0, len(values), 10)]
        y = TEXT_MARGIN
        for line in lines:
            for part in wrap(self.font, line, SCREEN_SIZE[0] - 2 * TEXT_MARGIN):
                self.surface.blit(self.font.render(part, True, TEXT_COLOR), (TEXT_MARGIN, y))
                y += LINE_HEIGHT

    def save_screenshot(self, path: Path | None = None) -> Path:
        if path is None:
            self.screenshot_dir.mkdir(parents=True, exist_ok=True)
            stem = type(self.env).__name__
            n = 1
            while (self.screenshot_dir / f"{stem}_{n:03d}.png").exists():
                n += 1
            path = self.screenshot_dir / f"{stem}_{n:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(self.surface, str(path))
        self.screenshots.append(path)
        print(f"screenshot saved to {path}", flush=True)
        return path


def run_script(
    player: Player, script: list[tuple[frozenset[str], int]], frames: int, windowed: bool
) -> None:
    schedule: list[tuple[frozenset[str], bool]] = []  # (held keys, first frame of its segment)
    for keys, count in script:
        schedule += [(keys, i == 0) for i in range(count)]
    for frame in range(frames):
        keys, first = schedule[frame] if frame < len(schedule) else (frozenset(), False)
        if first and "r" in keys:
            player.reset()
        else:
            player.advance(keys)
        player.draw()
        if first and "p" in keys:
            player.save_screenshot()
        if windowed:
            pygame.event.pump()
            pygame.display.flip()
            player.clock.tick(FPS)


def run_keyboard(player: Player) -> None:
    key_codes = {
        name: getattr(pygame, f"K_{name.upper() if len(name) > 1 else name}")
        for name in PLUS_KEYS + MINUS_KEYS + tuple(ARROW_KEYS)
    }
    while True:
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                return
            if event.type == pygame.KEYDOWN:
                if event.key == pygame.K_ESCAPE:
                    return
                if event.key == pygame.K_r:
                    player.reset()
                if event.key == pygame.K_p:
                    player.save_screenshot()
        pressed = pygame.key.get_pressed()
        held = {name for name, code in key_codes.items() if pressed[code]}
        player.advance(held)
        player.draw()
        pygame.display.flip()
        player.clock.tick(FPS)


def build_parser() -> argparse.ArgumentParser:
    names = "; ".join(
        f"{canonical} ({', '.join(aliases)})" for canonical, aliases in ENVIRONMENT_ALIASES.items()
    )
    parser = ToolParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", help=f"environment, case-insensitive: {names}")
    parser.add_argument("--seed", type=int, default=None, help="seed of the first reset")
    parser.add_argument(
        "--start-noise", type=float, default=0.0, help="environment start noise (default 0)"
    )
    parser.add_argument(
        "--script", default=None, help='held keys per frame, e.g. "right:20,none:5,1+3:10,r:1"'
    )
    parser.add_argument(
        "--frames", type=int, default=None, help="frames to run in scripted mode (default: script)"
    )
    parser.add_argument(
        "--headless", action="store_true", help="draw offscreen, no window, no real-time wait"
    )
    parser.add_argument("--screenshot", type=Path, default=None, help="save the last frame here")
    parser.add_argument(
        "--screenshot-dir", type=Path, default=Path("screenshots"), help="where P saves"
    )
    parser.add_argument("--no-text", action="store_true", help="draw the scene without the text")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        canonical = resolve_environment_name(args.name)
        script = parse_script(args.script) if args.script is not None else None
    except ValueError as error:
        parser.error(str(error))
    if args.frames is not None and args.frames < 0:
        parser.error(f"--frames must be >= 0, got {args.frames}")
    if args.headless and script is None and args.frames is None:
        parser.error("--headless needs --script and/or --frames (there is no keyboard)")
    if not (math.isfinite(args.start_noise) and args.start_noise >= 0):
        parser.error(f"--start-noise must be a finite number >= 0, got {args.start_noise}")

    env = create_environment(canonical, start_noise=args.start_noise)
    if args.headless:
        surface = pygame.Surface(SCREEN_SIZE)
    else:
        pygame.display.init()
        surface = pygame.display.set_mode(SCREEN_SIZE)
        pygame.display.set_caption(f"{canonical} - {key_help()}")
    if not args.no_text:
        pygame.font.init()
    try:
        player = Player(env, surface, args.seed, not args.no_text, args.screenshot_dir)
        player.draw()
        if script is not None or args.frames is not None:
            script = script or []
            frames = sum(n for _, n in script) if args.frames is None else args.frames
            run_script(player, script, frames, windowed=not args.headless)
        else:
            print(key_help(), flush=True)
            run_keyboard(player)
        if args.screenshot is not None:
            try:
                player.save_screenshot(args.screenshot)
            except (OSError, pygame.error) as error:
                parser.error(f"cannot save the screenshot to {args.screenshot} ({error})")
        returns = ", ".join(f"{r:.1f}" for r in player.returns)
        print(
            f"done: {canonical}, {player.total_steps} steps, {len(player.returns)} episodes "
            f"ended, returns [{returns}], current return {player.episode_return:.1f}",
            flush=True,
        )
    finally:
        env.close()
        pygame.font.quit()
        pygame.display.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
