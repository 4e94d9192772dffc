"""What a fitted ranker is (:class:`Trained`), and the one place its model is built.

Fitting, scoring and persistence all use these, so they live apart from each of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rag_recs import distributed
from rag_recs.config import RankerConfig
from rag_recs.data.index import InteractionIndex
from rag_recs.errors import ModelError
from rag_recs.ranker.deepfm import DeepFM
from rag_recs.ranker.features import FeatureMap, Tensors
from rag_recs.ranker.train import TrainLog


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when a GPU is present, else the CPU."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            "--device cuda was asked for but no CUDA GPU is available (use auto or cpu)"
        )
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_model(feature_map: FeatureMap, config: RankerConfig) -> DeepFM:
    """The one place a DeepFM is built: its shape follows the feature map."""
    n_sparse, n_dense, n_bags = feature_map.sizes
    return DeepFM(
        feature_map.num_embeddings,
        n_sparse + n_bags + n_dense,
        n_dense,
        config.dim,
        config.hidden,
        config.dropout,
        sparse_grad=feature_map.num_embeddings > config.sparse_rows
        and not distributed.dense_gradients_only(),  # nccl: no sparse all-reduce
    )


@dataclass
class Trained:
    """What a fit produces and a saved ranker holds.

    ``index`` (users, items, histories), the side tables (encoded features of every user and
    item, row 0 unknown) and ``recent`` (each user's history field for serving) are None for a
    generic CTR table.
    """

    config: RankerConfig
    feature_map: FeatureMap
    model: DeepFM
    objective: str
    fingerprint: str
    log: TrainLog
    index: InteractionIndex | None = None
    user_table: Tensors | None = None
    item_table: Tensors | None = None
    recent: torch.Tensor | None = None  # [n_users + 1, history_len] embedding rows
