"""Data stage: load, validate, encode and split interactions."""

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
