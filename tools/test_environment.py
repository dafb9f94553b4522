"""Play one of the environments by hand, watch a trained agent play it, and push either around.

    python tools/test_environment.py cartpole
    python tools/test_environment.py bolla-rolla --seed 3 --zoom 2
    python tools/test_environment.py --agent save/HumanoidStandingEnvironment --zoom 2
    python tools/test_environment.py --agent results/standing-seed0 --stochastic

A window shows the scene and, on top, the step, reward, episode return, the last push, the
state, and one bar per action dimension (green: the agent's action, orange: a key's). Each action
dimension has a key pair: the digit key pushes +1, the home-row key below it -1 (1/a, 2/s, 3/d,
4/f, 5/g, 6/h, 7/j, 8/k); on every task the arrows RIGHT/LEFT also push the first dimension
+1/-1. R resets, P saves a screenshot into --screenshot-dir, ESC (or closing the window) quits.
The episode restarts by itself after it ends: the frame after the last step shows the new start
state.

With --agent DIR (a run folder made by main.py, or a results folder with config.json and
actor.weights.h5) the final policy acts (tanh of its mean action; --stochastic samples it); the
environment and its options come from the folder's config.json, so NAME may be left out. A held
action key overrides the agent's action for its dimension while it is held.

Pushes, with or without an agent:
- SHIFT+RIGHT / SHIFT+LEFT push the pole (cartpole) or the torso right / left: a horizontal
  velocity change of --push x 100 px/s.
- Mouse: press on a body, drag, release. While dragging a line joins the pressed point to the
  cursor; on release that body gets an impulse at the pressed point, along the drag, of
  (body mass) x 2/s x (drag length in world px): a 50 px drag adds 100 px/s. A reset during
  the drag keeps the same part grabbed.

Scripted mode replaces the keyboard by a list of held keys and frame counts, e.g.

    python tools/test_environment.py cartpole --headless --script "right:20,none:5,a:10" \\
        --screenshot out.png
    python tools/test_environment.py --agent save/CartpoleEnvironment --headless \\
        --script "none:30,push_right:1,none:60" --push 0.5 --record pushed.mp4

Each segment "KEYS:N" holds KEYS for N frames (one environment step per frame). KEYS is "none"
or key names joined by "+" ("1+left"); "r" in KEYS resets, "p" saves a screenshot, and
"push_left" / "push_right" push (as SHIFT+LEFT / SHIFT+RIGHT do), once, on the segment's first
frame. `--headless` draws offscreen at full speed, without a window; `--frames` overrides the
total (default: the script's length), and `--screenshot` saves the last frame. A summary line
is printed at the end. `--frames 0 --no-text --screenshot x.png` saves the reset state alone
(that is how the README's images/ were made).

`--record FILE.mp4` films what is shown (scene, drag line and text), one frame per frame shown,
the first being the start state, in any mode; a browser-playable H.264 copy FILE_h264.mp4 is
written beside it. `--zoom` magnifies the scene around the cart or the torso (2: a 300 x 300 px
part of the world, floor and feet kept in view).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np
import pygame

from environment import ENVIRONMENT_ALIASES, create_environment, resolve_environment_name
from environment.environment import FPS, MAX_ZOOM, SCREEN_SIZE, BaseEnvironment, surface_to_rgb
from environment.video import VideoWriter, describe_videos, h264_path
from tools._common import ToolError, ToolParser, check_output_file, run, warn
from training.cli import PATH, PUSH, SEED, START_NOISE, Number
from training.policy import Policy, PolicyError, load_policy

PROG = "test_environment.py"
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


def key_help() -> str:
    pairs = ", ".join(f"{p}/{m}" for p, m in zip(PLUS_KEYS, MINUS_KEYS, strict=True))
    return (
        f"keys: action dimension i gets +1 / -1 from the i-th pair {pairs} "
        "(only the first action_size pairs are used; cartpole: 1/a); RIGHT/LEFT = +1/-1 on the "
        "first dimension; SHIFT+RIGHT/LEFT push; mouse drag: push a body; R reset; "
        "P screenshot; ESC quit"
    )


def parse_script(text: str) -> list[tuple[frozenset[str], int]]:
    """ "KEYS:N,KEYS:N" -> [(held key names, frame count)]; ValueError on a bad segment.

    The whole script is checked at once, and its counts are kept as numbers: `script_frames`
    plays them a frame at a time, so "none:1000000000" costs no more memory than "none:1"."""
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


def script_frames(
    script: list[tuple[frozenset[str], int]],
) -> Iterator[tuple[frozenset[str], bool]]:
    """Each frame's held keys and whether it is the first of its segment, one frame at a time;
    after the script, nothing is held."""
    for keys, count in script:
        for i in range(count):
            yield keys, i == 0
    yield from itertools.repeat((frozenset(), False))


def run_script(
    player: Player, script: list[tuple[frozenset[str], int]], frames: int, windowed: bool
) -> None:
    for keys, first in itertools.islice(script_frames(script), frames):
        pushes = [d for key, d in PUSH_KEYS.items() if first and key in keys]
        if first and "r" in keys:
            player.reset()
        elif pushes and player.pending_reset:  # this frame is the owed reset: push the new start
            player.advance(keys)
            for direction in pushes:
                player.push(direction)
        else:
            for direction in pushes:
                player.push(direction)
            player.advance(keys)
        player.draw()
        if first and "p" in keys:
            player.save_screenshot()
        if windowed:
            pygame.event.pump()
            pygame.display.flip()
            player.clock.tick(FPS)


def handle_event(player: Player, event: pygame.event.Event) -> bool:
    """React to one window event; False when the user quits."""
    if event.type == pygame.QUIT:
        return False
    if event.type == pygame.KEYDOWN:
        shift = getattr(event, "mod", 0) & pygame.KMOD_SHIFT
        if event.key == pygame.K_ESCAPE:
            return False
        if event.key == pygame.K_r:
            player.reset()
        elif event.key == pygame.K_p:
            player.save_screenshot()
        elif shift and event.key in (pygame.K_RIGHT, pygame.K_LEFT):
            player.push(+1.0 if event.key == pygame.K_RIGHT else -1.0)
    elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
        player.start_drag(event.pos)
    elif event.type == pygame.MOUSEMOTION:
        player.cursor = event.pos
    elif event.type == pygame.MOUSEBUTTONUP and event.button == 1:
        player.end_drag(event.pos)
    return True


def run_keyboard(player: Player) -> None:
    key_codes = {
        name: getattr(pygame, f"K_{name.upper() if len(name) > 1 else name}")
        for name in PLUS_KEYS + MINUS_KEYS + tuple(ARROW_KEYS)
    }
    while True:
        for event in pygame.event.get():
            if not handle_event(player, event):
                return
        pressed = pygame.key.get_pressed()
        held = {name for name, code in key_codes.items() if pressed[code]}
        if pygame.key.get_mods() & pygame.KMOD_SHIFT:
            held -= set(ARROW_KEYS)  # SHIFT+arrow pushes, it does not act
        player.advance(held)
        player.draw()
        pygame.display.flip()
        player.clock.tick(FPS)


def build_parser() -> argparse.ArgumentParser:
    names = "; ".join(
        f"{canonical} ({', '.join(aliases)})" for canonical, aliases in ENVIRONMENT_ALIASES.items()
    )
    parser = ToolParser(prog=PROG, description=__doc__)
    parser.add_argument(
        "name", nargs="?", help=f"environment, case-insensitive (optional with --agent): {names}"
    )
    parser.add_argument(
        "--agent", type=PATH, default=None, metavar="DIR", help="run or results folder to play"
    )
    parser.add_argument("--stochastic", action="store_true", help="sample the agent's actions")
    parser.add_argument(
        "--push",
        type=PUSH,
        default=1.0,
        metavar="STRENGTH",
        help="push strength of SHIFT+arrows and push_left/right, 0 to 10, x 100 px/s",
    )
    parser.add_argument(
        "--zoom",
        type=Number(float, 0, MAX_ZOOM, low_open=True),
        default=1.0,
        metavar="Z",
        help="camera zoom, above 0 and at most 8 (below 1: more than the scene)",
    )
    parser.add_argument(
        "--seed", type=SEED, default=None, help="seed of the first reset, 0 .. 2**32-1"
    )
    parser.add_argument(
        "--start-noise",
        type=START_NOISE,
        default=0.0,
        help="environment start noise, 0 to 10, x 100 px/s and rad/s (default 0)",
    )
    parser.add_argument(
        "--script", default=None, help='held keys per frame, e.g. "right:20,none:5,1+3:10,r:1"'
    )
    parser.add_argument(
        "--frames",
        type=Number(int, 0),
        default=None,
        help="frames to run in scripted mode (default: script)",
    )
    parser.add_argument(
        "--headless", action="store_true", help="draw offscreen, no window, no real-time wait"
    )
    parser.add_argument("--screenshot", type=PATH, default=None, help="save the last frame here")
    parser.add_argument(
        "--screenshot-dir", type=PATH, default=Path("screenshots"), help="where P saves"
    )
    parser.add_argument(
        "--record", type=PATH, default=None, metavar="FILE", help="film what is shown (.mp4)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite the --record video")
    parser.add_argument("--no-text", action="store_true", help="draw the scene without the text")
    return parser


def check_display() -> None:
    """A one-line error, pointing to --headless, when no window can be opened."""
    driver = os.environ.get("SDL_VIDEODRIVER", "")
    if driver in ("dummy", "offscreen") or not sys.platform.startswith("linux"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ToolError(
            "no display to open a window on (DISPLAY is not set); use --headless with --script "
            "or --frames, or run under X (e.g. xvfb-run)"
        )


def resolve_environment(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> tuple[str, Policy | None]:
    """The environment's canonical name and the agent's policy (None without --agent)."""
    if args.name is None and args.agent is None:
        parser.error("give an environment NAME, or --agent DIR")
    canonical = None
    if args.name is not None:
        try:
            canonical = resolve_environment_name(args.name)
        except ValueError as error:
            parser.error(str(error))
    if args.agent is None:
        return canonical, None
    try:
        policy = load_policy(args.agent, warn=lambda message: warn(PROG, message), seed=args.seed)
    except PolicyError as error:
        raise ToolError(str(error)) from None
    if canonical is not None and canonical != policy.env_name:
        raise ToolError(
            f"{args.name!r} is {canonical}, but the agent in {args.agent} was trained on "
            f"{policy.env_name} (leave NAME out with --agent)"
        )
    return policy.env_name, policy


def check_arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Any:
    """The parsed --script (or None); one-line usage errors for inconsistent flags."""
    try:
        script = parse_script(args.script) if args.script is not None else None
    except ValueError as error:
        parser.error(str(error))
    if args.headless and script is None and args.frames is None:
        parser.error("--headless needs --script and/or --frames (there is no keyboard)")
    if args.stochastic and args.agent is None:
        parser.error("--stochastic needs --agent")
    if args.record is not None:
        if args.record.suffix.lower() != ".mp4":
            parser.error(f"--record needs an .mp4 file name, got {args.record}")
        check_output_file(args.record, args.force, also=[h264_path(args.record)])
    return script


def open_surface(canonical: str, headless: bool) -> pygame.Surface:
    if headless:
        return pygame.Surface(SCREEN_SIZE)
    check_display()
    try:
        pygame.display.init()
        surface = pygame.display.set_mode(SCREEN_SIZE)
    except pygame.error as error:
        raise ToolError(f"cannot open a window ({error}); use --headless") from None
    pygame.display.set_caption(f"{canonical} - {key_help()}")
    return surface


def play(args: argparse.Namespace, canonical: str, policy: Policy | None, script: Any) -> Player:
    """Build the environment and the player, run the chosen mode; returns the player."""
    options = {"start_noise": args.start_noise, "zoom": args.zoom}
    if policy is None:
        env = create_environment(canonical, **options)
    else:
        env = policy.make_environment(**options)
    surface = open_surface(canonical, args.headless)
    if not args.no_text:
        pygame.font.init()
    recorder = None
    try:
        player = Player(
            env,
            surface,
            args.seed,
            not args.no_text,
            args.screenshot_dir,
            policy=policy,
            deterministic=not args.stochastic,
            push_strength=args.push,
        )
        if args.record is not None:
            player.recorder = recorder = Recorder(args.record)
        player.draw()
        if script is not None or args.frames is not None:
            script = script or []
            frames = sum(n for _, n in script) if args.frames is None else args.frames
            run_script(player, script, frames, windowed=not args.headless)
        else:
            print(key_help(), flush=True)
            run_keyboard(player)
        if recorder is not None:
            player.recorder = None
            print(f"video saved: {describe_videos(recorder.finish(), SCREEN_SIZE)}", flush=True)
            recorder = None
        return player
    finally:
        if recorder is not None:
            recorder.discard()
        env.close()


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    script = check_arguments(args, parser)
    canonical, policy = resolve_environment(args, parser)
    try:
        player = play(args, canonical, policy, script)
        if args.screenshot is not None:
            try:
                player.save_screenshot(args.screenshot)
            except (OSError, pygame.error) as error:
                raise ToolError(
                    f"cannot save the screenshot to {args.screenshot} ({error})"
                ) from None
        returns = ", ".join(f"{r:.1f}" for r in player.returns)
        print(
            f"done: {canonical}, {player.total_steps} steps, {len(player.returns)} episodes "
            f"ended, returns [{returns}], current return {player.episode_return:.1f}, "
            f"{player.pushes} push{'' if player.pushes == 1 else 'es'}",
            flush=True,
        )
    finally:
        pygame.font.quit()
        pygame.display.quit()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
