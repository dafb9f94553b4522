"""Recipes: the settings of a result as data, which the command line only overrides (the
convention of rl-baselines3-zoo's hyperparameter files).

A recipe is a YAML file of `setting: value` lines (its task, and the settings that matter for
learning and differ from the defaults) under a comment header that says what it trains and which
results folder it made. The shipped ones are recipes/<name>.yaml, each named like its results folder
without -seedN, and installed as the package data `training.recipes`:

    python main.py --recipe standing-robust --seed 0      # results/standing-robust-seed0 again
    python main.py --recipe my-recipe.yaml --gamma 0.995  # a file of one's own, one change
    python tools/sweep.py --recipe bolla-rolla-upright --seeds 1 2 --grid gamma=0.99,0.995 ...

A recipe is checked whole, as a config.json is: an unknown setting or a bad value is one line
naming the file and the setting. A run records the recipe it started from in its config.json
(`recipe`: the name, or the file's absolute path) beside every setting it used; the file is
never read again (--recover takes the run's own settings).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.config import ConfigError, RunConfig

PACKAGE = "training.recipes"  # the folder recipes/ of the repository, once installed
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Recipe:
    label: str  # what config.json records: a shipped recipe's name, or the file's absolute path
    source: str  # how messages name it: recipes/<name>.yaml, or the path as given
    settings: dict[str, Any]  # as the file holds them (checked)


def recipe_names() -> list[str]:
    """The shipped recipes, by name."""
    files = importlib.resources.files(PACKAGE).iterdir()
    return sorted(f.name.removesuffix(".yaml") for f in files if f.name.endswith(".yaml"))


def is_path(text: str) -> bool:
    """Whether --recipe's text is a file's path (it has a folder or a YAML suffix), not a name."""
    return "/" in text or "\\" in text or text.lower().endswith(SUFFIXES)


def load_recipe(text: str) -> Recipe:
    """The recipe `text` names: a shipped one by name, or a YAML file by its path. ConfigError
    in one line for a name no recipe has (listing those there are), a file that cannot be read,
    or settings that could not make a run."""
    if is_path(text):
        path = Path(text).expanduser()
        try:
            content = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"--recipe: {text} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise ConfigError(f"--recipe: cannot read {text} ({why})") from None
        return Recipe(str(path.resolve()), text, parse_recipe(content, text))
    file = importlib.resources.files(PACKAGE) / f"{text}.yaml"
    if not text or not file.is_file():
        raise ConfigError(
            f"--recipe: no recipe named {text!r}; the recipes are "
            f"{', '.join(recipe_names())} (or give the path of a .yaml file)"
        )
    source = f"recipes/{text}.yaml"
    return Recipe(text, source, parse_recipe(file.read_text(encoding="utf-8"), source))


def parse_recipe(content: str, source: str) -> dict[str, Any]:
    """The settings of a recipe's text, checked as a whole config (one line naming `source`)."""
    import yaml

    try:
        values = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{source} is not valid YAML{where}") from None
    if not isinstance(values, dict) or not values:
        raise ConfigError(f"{source} is not a recipe: it must hold `setting: value` lines")
    if "recipe" in values:
        raise ConfigError(f"{source}: a recipe cannot name another recipe ('recipe')")
    RunConfig.from_mapping(values, source)
    return values


def with_recipe(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` on top of the settings of the recipe that `values["recipe"]` names, which is
    then recorded by its label; `values` as they are when they name none."""
    if values.get("recipe") is None:
        return dict(values)
    recipe = load_recipe(str(values["recipe"]))
    return {**recipe.settings, **values, "recipe": recipe.label}
