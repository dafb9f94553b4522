"""The three pymunk tasks, their names, and their Gymnasium registration.

`create_environment(name, **kwargs)` accepts every spelling the reference used and short names,
case-insensitively; `-`, `_` and spaces are ignored. Importing the package registers
`PymunkCartpole-v0`, `PymunkHumanoidStanding-v0`, `PymunkBollaRolla-v0` and
`PymunkBollaRollaUpright-v0` (bolla rolla with `upright=True`) with Gymnasium
(`max_episode_steps=400`).
"""

from __future__ import annotations

import gymnasium

from environment.bolla_rolla_environment import BollaRollaEnvironment
from environment.cartpole_environment import CartpoleEnvironment
from environment.environment import MAX_EPISODE_STEPS, BaseEnvironment, pygame_to_cvimage
from environment.humanoid_standing_environment import HumanoidStandingEnvironment

__all__ = [
    "ENVIRONMENT_ALIASES",
    "ENVIRONMENT_CLASSES",
    "GYM_IDS",
    "BaseEnvironment",
    "BollaRollaEnvironment",
    "CartpoleEnvironment",
    "HumanoidStandingEnvironment",
    "create_environment",
    "pygame_to_cvimage",
    "resolve_environment_name",
]

ENVIRONMENT_CLASSES: dict[str, type[BaseEnvironment]] = {
    cls.__name__: cls
    for cls in (CartpoleEnvironment, HumanoidStandingEnvironment, BollaRollaEnvironment)
}

# Canonical name -> the other accepted spellings (the reference's, short ones, the gym id).
ENVIRONMENT_ALIASES: dict[str, tuple[str, ...]] = {
    "CartpoleEnvironment": ("CartPoleEnvironment", "cartpole", "PymunkCartpole-v0"),
    "HumanoidStandingEnvironment": (
        "HumaniodStandingEnvironment",  # sic: the reference's spelling
        "standing",
        "humanoid-standing",
        "PymunkHumanoidStanding-v0",
    ),
    "BollaRollaEnvironment": (
        "HumanoidBalanceBallEnvironment",
        "bolla-rolla",
        "balance-ball",
        "PymunkBollaRolla-v0",
    ),
}

GYM_IDS: dict[str, str] = {
    "CartpoleEnvironment": "PymunkCartpole-v0",
    "HumanoidStandingEnvironment": "PymunkHumanoidStanding-v0",
    "BollaRollaEnvironment": "PymunkBollaRolla-v0",
}


def _normalise(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in "-_ ")


_LOOKUP: dict[str, str] = {}
for _canonical, _aliases in ENVIRONMENT_ALIASES.items():
    for _name in (_canonical, *_aliases):
        _LOOKUP[_normalise(_name)] = _canonical


def resolve_environment_name(name: str) -> str:
    """The canonical class name for any accepted spelling; ValueError listing the valid ones."""
    canonical = _LOOKUP.get(_normalise(name)) if isinstance(name, str) else None
    if canonical is None:
        valid = "; ".join(
            f"{canonical} ({', '.join(aliases)})"
            for canonical, aliases in ENVIRONMENT_ALIASES.items()
        )
        raise ValueError(f"unknown environment {name!r}; valid names (case-insensitive): {valid}")
    return canonical


def create_environment(name: str, **kwargs: object) -> BaseEnvironment:
    """A new environment of the task `name` (any accepted spelling), built with `kwargs`."""
    return ENVIRONMENT_CLASSES[resolve_environment_name(name)](**kwargs)


# Gymnasium id -> (canonical name, constructor arguments).
_GYM_REGISTRATIONS: dict[str, tuple[str, dict[str, object]]] = {
    **{gym_id: (canonical, {}) for canonical, gym_id in GYM_IDS.items()},
    "PymunkBollaRollaUpright-v0": ("BollaRollaEnvironment", {"upright": True}),
}

for _gym_id, (_canonical, _kwargs) in _GYM_REGISTRATIONS.items():
    if _gym_id not in gymnasium.registry:
        _cls = ENVIRONMENT_CLASSES[_canonical]
        gymnasium.register(
            id=_gym_id,
            entry_point=f"{_cls.__module__}:{_cls.__name__}",
            max_episode_steps=MAX_EPISODE_STEPS,
            kwargs=_kwargs,
        )
