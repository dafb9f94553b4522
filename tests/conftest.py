"""Test setup: headless SDL (no window, no audio device) and the repo root on sys.path."""

import os
import sys
from pathlib import Path

# Before anything imports pygame: draw into a dummy video device, never open audio.
os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ["SDL_AUDIODRIVER"] = "dummy"
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
