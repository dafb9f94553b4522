"""The interactive player of tools/test_environment.py: the keys, the on-screen text and bars,
the mouse drag, the recording of what is shown. Not a script."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np
import pygame

from environment.environment import FPS, SCREEN_SIZE, BaseEnvironment, surface_to_rgb
from environment.video import VideoWriter
from training.policy import Policy

PLUS_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8")
MINUS_KEYS = ("a", "s", "d", "f", "g", "h", "j", "k")
ARROW_KEYS = {"right": +1.0, "left": -1.0}  # the first action dimension
PUSH_KEYS = {"push_right": +1.0, "push_left": -1.0}  # script tokens: SHIFT+RIGHT / SHIFT+LEFT
COMMAND_KEYS = ("r", "p", *PUSH_KEYS)
DRAG_GAIN = 2.0  # 1/s: a drag of d world px adds about 2 d px/s to the grabbed body
PICK_DISTANCE = 8.0  # screen px: how far from a shape a press still grabs it

TEXT_COLOR = (0, 0, 0)
FONT_SIZE = 16  # px
LINE_HEIGHT = 17  # px
TEXT_MARGIN = 4  # px
BAR_LABEL_WIDTH = 84  # px
BAR_WIDTH = 100  # px, -1 at the left end, +1 at the right end
BAR_HEIGHT = 9  # px
BAR_ROW = 13  # px
BAR_PANEL_WIDTH = BAR_LABEL_WIDTH + BAR_WIDTH + 44  # px, with the value's text
AGENT_BAR_COLOR = (46, 139, 87)
KEY_BAR_COLOR = (230, 126, 34)
BAR_FRAME_COLOR = (150, 150, 150)
DRAG_COLOR = (220, 30, 30)


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


def key_overrides(held: frozenset[str] | set[str], action_size: int) -> dict[int, float]:
    """The action dimensions that held keys set, and their values (clipped to [-1, 1])."""
    values: dict[int, float] = {}
    for i in range(action_size):
        if PLUS_KEYS[i] in held or MINUS_KEYS[i] in held:
            values[i] = float((PLUS_KEYS[i] in held) - (MINUS_KEYS[i] in held))
    for key, sign in ARROW_KEYS.items():
        if key in held:
            values[0] = values.get(0, 0.0) + sign
    return {i: min(1.0, max(-1.0, v)) for i, v in values.items()}


def action_from_keys(held: frozenset[str] | set[str], action_size: int) -> np.ndarray:
    action = np.zeros(action_size, dtype=np.float32)
    for i, value in key_overrides(held, action_size).items():
        action[i] = value
    return action


class Recorder:
    """Films the frames shown into FILE.mp4 (+ FILE_h264.mp4), under hidden names until done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(f".{path.stem}.partial{path.suffix}")
        self.writer = VideoWriter(self.partial, fps=FPS, h264=True)

    def write(self, surface: pygame.Surface) -> None:
        self.writer.write(surface_to_rgb(surface))

    def finish(self) -> list[Path]:
        written = []
        for file in map(Path, self.writer.close()):
            final = self.path.with_name(file.name.replace(self.partial.stem, self.path.stem, 1))
            os.replace(file, final)
            written.append(final)
        return written

    def discard(self) -> None:
        self.writer.close()
        for file in self.writer.paths:
            file.unlink(missing_ok=True)


class Player:
    """Runs the environment frame by frame and draws the scene plus the text overlay."""

    def __init__(
        self,
        env: BaseEnvironment,
        surface: pygame.Surface,
        seed: int | None,
        show_text: bool,
        screenshot_dir: Path,
        policy: Policy | None = None,
        deterministic: bool = True,
        push_strength: float = 1.0,
    ) -> None:
        self.env = env
        self.surface = surface
        self.show_text = show_text
        self.screenshot_dir = screenshot_dir
        self.policy = policy
        self.deterministic = deterministic
        self.push_strength = push_strength
        self.font = pygame.font.Font(None, FONT_SIZE) if show_text else None
        self.small_font = pygame.font.Font(None, FONT_SIZE - 2) if show_text else None
        self.recorder: Recorder | None = None
        self.obs, _ = env.reset(seed=seed)
        self.action = np.zeros(env.action_size, dtype=np.float32)
        self.overridden: set[int] = set()
        self.reward = 0.0
        self.episode_return = 0.0
        self.episode = 1
        self.returns: list[float] = []
        self.total_steps = 0
        self.pending_reset = False
        self.last_event = "reset"
        self.last_push = "none"
        self.pushes = 0
        # (index of the grabbed body in space.bodies, pressed point in its frame): an index,
        # so that a drag outlives a reset (every reset rebuilds the same bodies in order)
        self.drag: tuple[int, Any] | None = None
        self.cursor = (0.0, 0.0)
        self.screenshots: list[Path] = []
        self.clock = pygame.time.Clock()

    def reset(self) -> None:
        self.obs, _ = self.env.reset()
        self.action[:] = 0.0
        self.overridden = set()
        self.reward = 0.0
        self.episode_return = 0.0
        self.episode += 1
        self.pending_reset = False
        self.last_event = "reset"

    def choose_action(self, held: frozenset[str] | set[str]) -> np.ndarray:
        overrides = key_overrides(held, self.env.action_size)
        if self.policy is None:
            action = np.zeros(self.env.action_size, dtype=np.float32)
        else:
            action = self.policy.act(self.obs, deterministic=self.deterministic)
            action = np.asarray(action, dtype=np.float32).copy()
        for i, value in overrides.items():
            action[i] = value
        self.overridden = set(overrides) if self.policy is not None else set(range(action.size))
        return action

    def advance(self, held: frozenset[str] | set[str]) -> None:
        """One frame: the reset owed after an ended episode, or one step with the held keys."""
        if self.pending_reset:
            self.reset()
            return
        self.action = self.choose_action(held)
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

    # ---------------------------------------------------------------- pushes
    def push(self, direction: float) -> None:
        """Push the pole/torso right (+1) or left (-1) by the push strength."""
        self.env.push(direction * self.push_strength)
        side = "right" if direction > 0 else "left"
        self.last_push = f"{side} {self.push_strength:g} x 100 px/s at step {self.env.steps}"
        self.pushes += 1
        print(f"push {self.last_push}", flush=True)

    def start_drag(self, screen_pos: tuple[float, float]) -> None:
        self.cursor = screen_pos
        world = self.env.screen_to_world(screen_pos)
        picked = self.env.pick_body(world, max_distance=PICK_DISTANCE / self.env.zoom)
        if picked is not None:
            body, local = picked
            self.drag = (list(self.env.space.bodies).index(body), local)

    def end_drag(self, screen_pos: tuple[float, float]) -> None:
        self.cursor = screen_pos
        if self.drag is None:
            return
        body, local = self.dragged_body()
        self.drag = None
        anchor = body.local_to_world(local)
        pull = self.env.screen_to_world(screen_pos) - anchor
        if pull.length == 0:
            return
        self.env.apply_impulse_at(body, anchor, pull * (body.mass * DRAG_GAIN))
        self.last_push = (
            f"drag {pull.length:.0f} px {'right' if pull.x >= 0 else 'left'}"
            f"{' up' if pull.y < 0 else ' down'} at step {self.env.steps}"
        )
        self.pushes += 1
        print(f"push {self.last_push}", flush=True)

    def dragged_body(self) -> tuple[Any, Any]:
        """The grabbed body of the current space and the pressed point in its frame."""
        index, local = self.drag
        return list(self.env.space.bodies)[index], local

    # --------------------------------------------------------------- drawing
    def draw(self) -> None:
        self.env.draw(self.surface)
        if self.drag is not None:
            body, local = self.dragged_body()
            anchor = self.env.world_to_screen(body.local_to_world(local))
            pygame.draw.line(self.surface, DRAG_COLOR, anchor, self.cursor, 2)
            pygame.draw.circle(self.surface, DRAG_COLOR, anchor, 4)
        if self.font is not None:
            self.draw_text()
            self.draw_bars()
        if self.recorder is not None:
            self.recorder.write(self.surface)

    def text_lines(self) -> list[str]:
        env = self.env
        driver = (
            "manual (keys)"
            if self.policy is None
            else f"agent {self.policy.folder} "
            f"({'deterministic' if self.deterministic else 'stochastic'}; keys override)"
        )
        lines = [
            f"{type(env).__name__}   episode {self.episode}   step {env.steps}   "
            f"reward {self.reward:.1f}   return {self.episode_return:.1f}   {self.last_event}",
            f"driver: {driver}",
            f"last push: {self.last_push}",
            "keys: 1/a 2/s ...: action   RIGHT/LEFT: first dimension",
            "SHIFT+RIGHT/LEFT: push   mouse drag: push a body",
            "R reset   P screenshot   ESC quit",
            "state:",
        ]
        values = [f"{v:+.2f}" for v in self.obs.tolist()]
        return lines + ["  " + " ".join(values[i : i + 8]) for i in range(0, len(values), 8)]

    def draw_text(self) -> None:
        width = SCREEN_SIZE[0] - BAR_PANEL_WIDTH - 3 * TEXT_MARGIN
        y = TEXT_MARGIN
        for line in self.text_lines():
            for part in wrap(self.font, line, width):
                self.surface.blit(self.font.render(part, True, TEXT_COLOR), (TEXT_MARGIN, y))
                y += LINE_HEIGHT

    def draw_bars(self) -> None:
        """One bar per action dimension, top right: filled from the middle to the value."""
        x0 = SCREEN_SIZE[0] - BAR_PANEL_WIDTH - TEXT_MARGIN
        title = self.font.render("action", True, TEXT_COLOR)
        self.surface.blit(title, (x0, TEXT_MARGIN))
        for i, (name, value) in enumerate(zip(self.env.action_names, self.action, strict=True)):
            y = TEXT_MARGIN + LINE_HEIGHT + i * BAR_ROW
            label = self.small_font.render(name[:13], True, TEXT_COLOR)
            self.surface.blit(label, (x0, y))
            left, middle = x0 + BAR_LABEL_WIDTH, x0 + BAR_LABEL_WIDTH + BAR_WIDTH // 2
            length = round(float(value) * (BAR_WIDTH // 2))
            color = KEY_BAR_COLOR if i in self.overridden else AGENT_BAR_COLOR
            if length:
                bar = pygame.Rect(min(middle, middle + length), y, abs(length), BAR_HEIGHT)
                pygame.draw.rect(self.surface, color, bar)
            pygame.draw.rect(self.surface, BAR_FRAME_COLOR, (left, y, BAR_WIDTH, BAR_HEIGHT), 1)
            pygame.draw.line(self.surface, TEXT_COLOR, (middle, y - 1), (middle, y + BAR_HEIGHT), 1)
            text = self.small_font.render(f"{float(value):+.2f}", True, TEXT_COLOR)
            self.surface.blit(text, (left + BAR_WIDTH + 4, y))

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
