"""DeepFM (Guo et al., 2017): first-order + FM second-order + MLP, logits added."""

from __future__ import annotations

import torch
from torch import nn

from rag_recs.ranker.features import Tensors
from rag_recs.ranker.layers import MLP, FactorizationMachine, FeatureEmbedding


class DeepFM(nn.Module):
    """Logit = bias + sum of field weights + FM(field vectors) + MLP(concatenated vectors).

    Inputs come as a query (user and context fields) and, optionally, M candidate items per
    query (item fields). The query's share of the FM sums and of the MLP's first layer is then
    computed once per query instead of once per candidate: the same function as DeepFM over the
    concatenated fields (tested), much cheaper for sampled negatives and for scoring a catalog.
    """

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

    def forward(self, query: Tensors, items: Tensors | None = None) -> torch.Tensor:
        """Logits [B] for a query alone (a generic CTR row), else [B, M] for its M items.

        ``items`` has leading shape [B, M], or [1, M] for the same M items for every query.
        """
        q_vec, q_w = self.embedding(query.sparse, query.dense, query.bags)  # [B, Fq, d], [B, Fq]
        if items is None:
            return self.bias + q_w.sum(1) + self.fm(q_vec) + self.mlp(q_vec.flatten(1))
        i_vec, i_w = self.embedding(
            items.sparse, items.dense, items.bags, dense_from=query.dense.shape[-1]
        )  # [b, M, Fi, d], [b, M, Fi]
        if i_vec.shape[1] == 1 and i_vec.shape[0] == q_vec.shape[0]:  # one item each: plain
            vectors = torch.cat([q_vec, i_vec[:, 0]], 1)  # [B, Fq + Fi, d]
            logits = q_w.sum(1) + i_w[:, 0].sum(1) + self.fm(vectors) + self.mlp(vectors.flatten(1))
            return (self.bias + logits).unsqueeze(1)  # [B, 1]
        q_sum, i_sum = q_vec.sum(1).unsqueeze(1), i_vec.sum(2)  # [B, 1, d], [b, M, d]
        squares = q_vec.pow(2).sum(1).unsqueeze(1) + i_vec.pow(2).sum(2)  # [B, M, d]
        fm = 0.5 * ((q_sum + i_sum).pow(2) - squares).sum(-1)  # [B, M]
        linear = q_w.sum(1, keepdim=True) + i_w.sum(-1)  # [B, M]
        mlp = self.mlp.forward_split(q_vec.flatten(1), i_vec.flatten(2))  # [B, M]
        return self.bias + linear + fm + mlp
