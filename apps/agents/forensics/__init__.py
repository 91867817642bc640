"""The forensics agent (`forensics`) and the pieces it is made of."""

from apps.agents.forensics.agent import ForensicsAgent

__all__ = ["ForensicsAgent"]
