"""What an environment looks like: its camera, drawing, the window and recordings.

`Drawing` is one of BaseEnvironment's bases (see its docstring's "Camera" and "Recording"); it
draws the pymunk space of the environment it is part of and keeps no physics of its own.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pygame
import pymunk
import pymunk.pygame_util
from gymnasium import logger
from gymnasium.error import ResetNeeded

from environment.video import VideoWriter

SCREEN_SIZE = (600, 600)  # (width, height) in px
BACKGROUND_COLOR = (255, 255, 255)
CAMERA_MARGIN = 10.0  # screen px kept free around the moving bodies when zoomed


def camera_offset(
    zoom: float, fixed: float, low: float, high: float, size: float, keep_high: bool
) -> float:
    """Screen offset t of one axis (screen = t + zoom * world) of the zoomed camera.

    Scaling about the world coordinate `fixed` leaves it in place: t = fixed * (1 - zoom). The
    offset then moves as little as needed to keep [low, high] (world) `CAMERA_MARGIN` inside
    [0, size]; when the range cannot fit, its high end (`keep_high`: the bottom, y down) or
    its middle is kept in view instead.
    """
    offset = fixed * (1.0 - zoom)
    if zoom * (high - low) <= size - 2 * CAMERA_MARGIN:
        lowest, highest = CAMERA_MARGIN - zoom * low, size - CAMERA_MARGIN - zoom * high
        return min(max(offset, lowest), highest)
    if keep_high:
        return size - CAMERA_MARGIN - zoom * high
    return size / 2 - zoom * (low + high) / 2


def pygame_to_cvimage(surface: pygame.Surface) -> np.ndarray:
    """The surface's pixels as an OpenCV image: (height, width, 3) uint8 in BGR order."""
    return np.ascontiguousarray(surface_to_rgb(surface)[:, :, ::-1])


def surface_to_rgb(surface: pygame.Surface) -> np.ndarray:
    """The surface's pixels as a new (height, width, 3) uint8 RGB array."""
    width, height = surface.get_size()
    pixels = bytearray(pygame.image.tobytes(surface, "RGB"))
    return np.frombuffer(pixels, dtype=np.uint8).reshape(height, width, 3)


class Drawing:
    """The camera, drawing, window and recording of a BaseEnvironment."""

    # --------------------------------------------------------------- camera
    def camera_transform(self) -> pymunk.Transform:
        """World px -> screen px for the current state (see Camera); identity at zoom 1."""
        space = self._require_space("camera_transform()")
        zoom = self.zoom
        if zoom == 1.0:
            return pymunk.Transform.identity()
        boxes = np.array(
            [
                (shape.bb.left, shape.bb.bottom, shape.bb.right, shape.bb.top)  # bottom: min y
                for shape in space.shapes
                if shape.body.body_type == pymunk.Body.DYNAMIC
            ]
        ).reshape(-1, 4)
        subject_x = self.camera_subject.position.x
        if len(boxes) and np.isfinite(boxes).all() and math.isfinite(subject_x):
            left, top = boxes[:, :2].min(axis=0).tolist()  # y down: the top is the smallest y
            right, bottom = boxes[:, 2:].max(axis=0).tolist()
        else:  # nothing to frame (or a non-finite state): scale about the screen's middle
            subject_x = left = right = SCREEN_SIZE[0] / 2
            top = bottom = self.CAMERA_Y
        width, height = SCREEN_SIZE
        tx = camera_offset(zoom, subject_x, left, right, width, keep_high=False)
        ty = camera_offset(zoom, self.CAMERA_Y, top, bottom, height, keep_high=True)
        return pymunk.Transform(a=zoom, d=zoom, tx=tx, ty=ty)

    def world_to_screen(self, point: tuple[float, float]) -> pymunk.Vec2d:
        """Where the world `point` (px) is in the last frame drawn (screen px)."""
        x, y = point
        view = self._view
        return pymunk.Vec2d(view.a * x + view.tx, view.d * y + view.ty)

    def screen_to_world(self, point: tuple[float, float]) -> pymunk.Vec2d:
        """The world point (px) shown at screen `point` (px) in the last frame drawn."""
        x, y = point
        view = self._view
        return pymunk.Vec2d((x - view.tx) / view.a, (y - view.ty) / view.d)

    # ------------------------------------------------------------ rendering
    def draw(self, surface: pygame.Surface) -> None:
        """Draw the current state onto `surface` (white background, pymunk debug draw, y down),
        through the camera (see Camera)."""
        space = self._require_space("drawing")
        if self._draw_options is None or self._draw_options.surface is not surface:
            self._draw_options = pymunk.pygame_util.DrawOptions(surface)
            self._draw_options.flags = (
                pymunk.SpaceDebugDrawOptions.DRAW_SHAPES
                | pymunk.SpaceDebugDrawOptions.DRAW_CONSTRAINTS
            )
        self._view = self.camera_transform()
        self._draw_options.transform = self._view
        surface.fill(BACKGROUND_COLOR)
        space.debug_draw(self._draw_options)

    def _ensure_surface(self) -> pygame.Surface:
        if self._surface is None:
            if self.render_mode == "human":
                pygame.display.init()
                self._surface = pygame.display.set_mode(SCREEN_SIZE)
                pygame.display.set_caption(type(self).__name__)
                self._window_open = True
                self._clock = pygame.time.Clock()
            else:
                self._surface = pygame.Surface(SCREEN_SIZE)
        return self._surface

    def _show_frame(self) -> None:
        """Draw once, then feed the recording and/or the window as needed."""
        if not self._show_frames:
            return
        surface = self._ensure_surface()
        self.draw(surface)
        if self._video is not None:
            self._video.write(surface_to_rgb(surface))
        if self.render_mode == "human":
            pygame.event.pump()
            pygame.display.flip()
            self._clock.tick(self.metadata["render_fps"])

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            logger.warn(
                "render() called without a render mode; create the environment with "
                "render_mode='rgb_array' or 'human'"
            )
            return None
        if self.space is None:
            raise ResetNeeded("call reset() before render(): there is no state yet")
        surface = self._ensure_surface()
        self.draw(surface)
        if self.render_mode == "rgb_array":
            return surface_to_rgb(surface)
        pygame.event.pump()
        pygame.display.flip()
        self._clock.tick(self.metadata["render_fps"])
        return None

    # ------------------------------------------------------------ recording
    def start_recording(
        self, filename: str | Path, fps: float | None = None, h264: bool = False
    ) -> None:
        if self._video is not None:
            raise RuntimeError(
                f"already recording to {self._video.path}; call end_recording() first"
            )
        self._video = VideoWriter(
            filename, fps=self.metadata["render_fps"] if fps is None else fps, h264=h264
        )
        self._show_frames = True
        if self.space is not None:
            surface = self._ensure_surface()
            self.draw(surface)
            self._video.write(surface_to_rgb(surface))

    def end_recording(self) -> list[str]:
        """Finish the recording; returns the paths written ([] if nothing was recording)."""
        if self._video is None:
            return []
        video, self._video = self._video, None
        self._show_frames = self.render_mode == "human"
        return video.close()

    @property
    def recording(self) -> bool:
        return self._video is not None

    def close(self) -> None:
        self.end_recording()
        if self._window_open:
            pygame.display.quit()
            self._window_open = False
        self._surface = None
        self._draw_options = None
