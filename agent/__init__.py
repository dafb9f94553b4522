"""Soft Actor-Critic v1 agent: networks, replay buffer and the compiled update.

The names below are light; the classes load TensorFlow when first used (`from agent import
SACAgent`), so that importing the package to read its constants does not.
"""

from __future__ import annotations

from typing import Any

# The losses (and the temperature) that SACAgent.learn reports, in the order it stacks them.
LOSS_NAMES = ("value_loss", "actor_loss", "critic_1_loss", "critic_2_loss", "alpha", "alpha_loss")
# act_averaged: windows of average_actor updates before the averaged actor plays. The average
# starts as a copy of the untrained actor and moves 1/N of the way per update: after 3 N
# updates those starting weights weigh e^-3, under 5 %.
AVERAGE_WARMUP = 3

_LAZY = {
    "SACAgent": "agent.agent",
    "configure_threads": "agent.agent",
    "ActorPolicy": "agent.policy",
    "ReplayBuffer": "agent.buffer",
    "ActorNetwork": "agent.networks",
    "CriticNetwork": "agent.networks",
    "NumpyActor": "agent.networks",
    "ValueNetwork": "agent.networks",
}

__all__ = ["AVERAGE_WARMUP", "LOSS_NAMES", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'agent' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
