"""Data stage: load and validate interactions (and item / user tables), index who interacted
with what, and split; encoding for the ranker lives in :mod:`rag_recs.ranker.features`."""

from rag_recs.data.loaders import load_dataset, load_movielens
from rag_recs.data.schema import Dataset
from rag_recs.data.split import leave_one_out, random_split, split_by_ratio_chrono
from rag_recs.data.synthetic import generate

__all__ = [
    "Dataset",
    "generate",
    "leave_one_out",
    "load_dataset",
    "load_movielens",
    "random_split",
    "split_by_ratio_chrono",
]
