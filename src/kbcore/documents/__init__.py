"""An org's documents: the KnowledgeBase and the rules it enforces."""

from kbcore.documents._imports import ImportInterrupted
from kbcore.documents._knowledge_base import KnowledgeBase
from kbcore.documents._rules import Rules

__all__ = ["ImportInterrupted", "KnowledgeBase", "Rules"]
