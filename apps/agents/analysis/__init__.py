"""The analysis agent (`analysis`): documents and tables."""

from apps.agents.analysis.agent import AnalysisAgent

__all__ = ["AnalysisAgent"]
