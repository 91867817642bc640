"""The machine-learning agent (`ml`): anomalies, clusters, classifiers."""

from apps.agents.ml.agent import MLAgent

__all__ = ["MLAgent"]
