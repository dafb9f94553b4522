"""Soft Actor-Critic v1 agent: networks, replay buffer and the compiled update."""

from agent.agent import SACAgent, configure_threads
from agent.buffer import ReplayBuffer
from agent.networks import ActorNetwork, CriticNetwork, NumpyActor, ValueNetwork

__all__ = [
    "ActorNetwork",
    "CriticNetwork",
    "NumpyActor",
    "ReplayBuffer",
    "SACAgent",
    "ValueNetwork",
    "configure_threads",
]
