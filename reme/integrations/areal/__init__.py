"""The AReaL 1.0.4 integration: the agent workflow AReaL's proxy trains (``agent.ReMeWriterAgent``) and the
experiment writer behind ``reme train-policy --backend areal`` (``launch``). Neither module imports areal at import
time; ``launch`` looks for it only when asked to start a run."""

from .agent import ReMeWriterAgent, episode_messages
from .launch import AReaLExperiment, write_experiment

__all__ = ["AReaLExperiment", "ReMeWriterAgent", "episode_messages", "write_experiment"]
