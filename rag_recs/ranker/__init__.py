"""Ranker stage: DeepFM in plain PyTorch."""

from rag_recs.ranker.deepfm import DeepFM
from rag_recs.ranker.ranker import DeepFMRanker

__all__ = ["DeepFM", "DeepFMRanker"]
