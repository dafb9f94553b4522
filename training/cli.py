"""The checked types of every command line: main.py's and the tools' (tools/*.py).

A value a user types is checked where it enters, by argparse, before any work, and a mistake is
one line that names the option and its range, in the same form everywhere:

    test_environment.py: error: --start-noise must lie in [0, 10] (got 1e+40) (see --help)

`Number` is a finite int or float in a stated range, `PATH` a path that is not empty (an unset
shell variable, typically). Each keeps its range as attributes, so the tests can enumerate what
every option accepts; main.py's settings check their numbers with the same `Number`s
(training/config.py). The physical bounds (start noise, pushes, zoom) are the environments'.
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass
from pathlib import Path

from environment.environment import MAX_PUSH, MAX_START_NOISE, MAX_ZOOM

SEED_LIMIT = 2**32  # every generator of a run (Python, NumPy, TensorFlow) accepts 0 .. 2**32 - 1


@dataclass(frozen=True)
class Number:
    """An argparse type: the text as a finite `kind` (int or float) in [low, high].

    A bound of None is absent; `low_open` excludes `low` itself. `unit` follows the range in
    messages; `says` replaces the range's wording. Calling it parses and checks a command-line
    value; `test` checks a value that is already a number (training/config.py's rules).
    """

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    unit: str = ""
    says: str | None = None

    @property
    def text(self) -> str:
        """The rule in words: "must lie in [0, 10]", "must be at least 1", ..."""
        if self.says is not None:
            return self.says
        unit = f" {self.unit}" if self.unit else ""
        low, high = self.low, self.high
        if self.kind is int:
            if high is None:
                return f"must be at least {low}{unit}"
            return f"must lie in {low} .. {high}{unit}"
        if low is None and high is None:
            return f"must be a finite number{unit}"
        if high is None:
            return f"must be a finite number {'>' if self.low_open else '>='} {low:g}{unit}"
        return f"must lie in {'(' if self.low_open else '['}{low:g}, {high:g}]{unit}"

    def test(self, value: int | float) -> bool:
        if self.kind is float and not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or value <= self.high

    def outside(self) -> int | float:
        """A value of the right kind that the range refuses (for the tests and the docs)."""
        if self.high is not None:
            return self.kind(self.high + 1)
        if self.low is not None:
            return self.kind(self.low if self.low_open else self.low - 1)
        return math.inf

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except ValueError:
            words = "a whole number" if self.kind is int else "a number"
            raise argparse.ArgumentTypeError(f"must be {words} (got {text!r})") from None
        if not self.test(value):
            raise argparse.ArgumentTypeError(f"{self.text} (got {value!r})")
        return value


@dataclass(frozen=True)
class PathArgument:
    """An argparse type: a path that is not empty (nor only spaces), as a `Path`."""

    def __call__(self, text: str) -> Path:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"must not be empty (got {text!r})")
        return Path(text)


PATH = PathArgument()
SEED = Number(int, 0, SEED_LIMIT - 1)
START_NOISE = Number(float, 0, MAX_START_NOISE)  # x 100 px/s and rad/s
PUSH = Number(float, 0, MAX_PUSH)  # x 100 px/s, to either side
ZOOM = Number(float, 1, MAX_ZOOM)  # the recordings' zoom: 1 shows the whole scene
# TensorFlow takes its thread counts as int32; more threads than cores only compete for them.
TF_THREADS = Number(int, 0, 1024)

# argparse words a bad value as "argument -o/--output: must ...": the rules' own form names
# the option first, as main.py's settings do ("--gamma must lie in (0, 1] (got 1.5)").
_ARGUMENT = re.compile(r"^argument ([^:]+): (?=must |needs )")


def usage_line(message: str) -> str:
    """An argparse error in the one-line form "--option must ... (got ...)"."""
    match = _ARGUMENT.match(message)
    if match is None:
        return message
    name = max(match.group(1).split("/"), key=len)  # the long option; the first of equals
    return f"{name} {message[match.end() :]}"
