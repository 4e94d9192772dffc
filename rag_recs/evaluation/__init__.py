"""Evaluation stage: metrics, baselines and the benchmark protocols."""

from rag_recs.evaluation.baselines import ItemKNN, Popularity, UserKNN
from rag_recs.evaluation.protocols import RankerScorer, evaluate_ctr, evaluate_loo

__all__ = ["ItemKNN", "Popularity", "RankerScorer", "UserKNN", "evaluate_ctr", "evaluate_loo"]
