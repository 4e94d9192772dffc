"""Evaluation stage: metrics, baselines, the benchmark protocols and a whole evaluate run
(:mod:`rag_recs.evaluation.run`)."""

from rag_recs.evaluation.baselines import ItemKNN, Popularity, UserKNN
from rag_recs.evaluation.protocols import RankerScorer, evaluate_ctr, evaluate_loo

__all__ = ["ItemKNN", "Popularity", "RankerScorer", "UserKNN", "evaluate_ctr", "evaluate_loo"]
