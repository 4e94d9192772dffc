"""DeepFM (Guo et al., 2017): first-order + FM second-order + MLP, logits added."""

from __future__ import annotations

import torch
from torch import nn

from rag_recs.ranker.layers import MLP, FactorizationMachine, FeatureEmbedding


class DeepFM(nn.Module):
    """Logit = bias + sum of field weights + FM(field vectors) + MLP(concatenated vectors)."""

    def __init__(
        self,
        num_embeddings: int,
        n_fields: int,
        n_dense: int,
        dim: int = 16,
        hidden: tuple[int, ...] = (128, 64),
        dropout: float = 0.0,
    ):
        super().__init__()
        self.embedding = FeatureEmbedding(num_embeddings, n_dense, dim)
        self.fm = FactorizationMachine()
        self.mlp = MLP(n_fields * dim, hidden, dropout)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(
        self, sparse: torch.Tensor, dense: torch.Tensor, bags: list[torch.Tensor]
    ) -> torch.Tensor:
        vectors, weights = self.embedding(sparse, dense, bags)
        return self.bias + weights.sum(1) + self.fm(vectors) + self.mlp(vectors.flatten(1))
