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

import pygame

from environment import ENVIRONMENT_ALIASES, create_environment, resolve_environment_name
from environment.environment import FPS, MAX_ZOOM, SCREEN_SIZE
from environment.video import describe_videos, h264_path
from tools._common import ToolError, ToolParser, check_output_file, run, warn
from tools._player import (  # noqa: F401 (the keys and the bars are the tool's own words)
    ARROW_KEYS,
    BAR_HEIGHT,
    BAR_WIDTH,
    COMMAND_KEYS,
    DRAG_COLOR,
    MINUS_KEYS,
    PLUS_KEYS,
    PUSH_KEYS,
    Player,
    Recorder,
    action_from_keys,
)
from training.cli import PATH, PUSH, SEED, START_NOISE, Number
from training.policy import Policy, PolicyError, load_policy

PROG = "test_environment.py"


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
