"""DeepFM (Guo et al., 2017): first-order + FM second-order + MLP, logits added."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from rag_recs.ranker.features import Tensors
from rag_recs.ranker.layers import (
    MLP,
    FactorizationMachine,
    FeatureEmbedding,
    SequenceEncoder,
    linear_and_pairs,
)


class DeepFM(nn.Module):
    """Logit = bias + sum of field weights + FM(field vectors) + MLP(concatenated vectors).

    Inputs come as a query (user and context fields) and, optionally, M candidate items per
    query (item fields). The query's share of the FM sums and of the MLP's first layer is then
    computed once per query instead of once per candidate: the same function as DeepFM over the
    concatenated fields (tested), much cheaper for sampled negatives and for scoring a catalog.

    With ``sequence``, the query's bag number ``sequence_at`` (the ordered history) is read by
    that encoder instead of mean-pooled: one field vector like any other, in the FM and the MLP.
    """

    def __init__(
        self,
        num_embeddings: int,
        n_fields: int,
        n_dense: int,
        dim: int = 16,
        hidden: tuple[int, ...] = (128, 64),
        dropout: float = 0.0,
        sparse_grad: bool = False,
        sequence: SequenceEncoder | None = None,
        sequence_at: int | None = None,
    ):
        super().__init__()
        self.embedding = FeatureEmbedding(
            num_embeddings, n_dense, dim, sparse_grad=sparse_grad, sequence=sequence
        )
        self.sequence_at = sequence_at
        self.fm = FactorizationMachine()
        self.mlp = MLP(n_fields * dim, hidden, dropout)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(
        self, query: Tensors, items: Tensors | None = None, within_rows: bool = False
    ) -> torch.Tensor:
        """Logits [B] for a query alone (a generic CTR row), else [B, M] for its M items.

        ``items`` has leading shape [B, M], or [1, M] for the same M items for every query.
        ``within_rows`` (M > 1): for a loss that compares a row's items only (a softmax); see
        :meth:`score`.
        """
        if items is not None and items.sparse.shape[1] == 1 and len(items) == len(query):
            return self._one_item(query, items).unsqueeze(1)  # [B, 1]
        if items is None:  # a generic CTR row, or a query joined with its one item
            rows = self.embedding.rows(
                query.sparse, query.dense, query.bags, sequence_at=self.sequence_at
            )  # [B, F, d + 1]
            vectors = rows[..., : self.embedding.dim].flatten(1)
            return self.bias + linear_and_pairs(rows) + self.mlp(vectors)
        q_vec, q_w = self.embed_query(query)  # [B, Fq, d], [B, Fq]
        return self.score(query, self.item_side(items), (q_vec, q_w), within_rows)

    def embed_query(self, query: Tensors) -> tuple[torch.Tensor, torch.Tensor]:
        """The query's field vectors [B, Fq, d] and first-order weights [B, Fq]."""
        return self.embedding(query.sparse, query.dense, query.bags, sequence_at=self.sequence_at)

    @staticmethod
    def joinable(query: Tensors) -> bool:
        """Whether ``Tensors.join(query, item)`` keeps this model's field order (the query's
        fields, then the item's): when the query's fields are all categorical. Joined, both
        sides cost one table lookup (one ``index_add_`` backward), a tenth of a training step."""
        return not query.bags and not query.dense.shape[-1]

    def _one_item(self, query: Tensors, items: Tensors) -> torch.Tensor:
        """Logits [B] of one item per query: DeepFM over the joined fields, query fields first."""
        item = items.take((slice(None), 0))  # [B] item fields
        if self.joinable(query):
            return self.forward(Tensors.join(query, item))
        q_vec, q_w = self.embed_query(query)
        dense_from = query.dense.shape[-1]
        i_vec, i_w = self.embedding(item.sparse, item.dense, item.bags, dense_from=dense_from)
        vectors = torch.cat([q_vec, i_vec], 1)  # [B, Fq + Fi, d]
        logits = q_w.sum(1) + i_w.sum(1) + self.fm(vectors) + self.mlp(vectors.flatten(1))
        return self.bias + logits

    def item_side(self, items: Tensors) -> ItemSide:
        """What the logits need of M items [b, M], computed once however many queries follow."""
        dense_from = self.embedding.dense.shape[0] - items.dense.shape[-1]  # item fields last
        i_vec, i_w = self.embedding(items.sparse, items.dense, items.bags, dense_from=dense_from)
        sums = i_vec.sum(2)  # [b, M, d]
        fm = 0.5 * (sums.pow(2).sum(-1) - i_vec.pow(2).sum((2, 3)))  # pairs among item fields
        return ItemSide(i_w.sum(-1) + fm, sums, self.mlp.project_items(i_vec.flatten(2)))

    def score(
        self,
        query: Tensors,
        side: ItemSide,
        embedded: tuple[torch.Tensor, torch.Tensor] | None = None,
        within_rows: bool = False,
    ) -> torch.Tensor:
        """Logits [B, M] of a query's M items, given the items' :meth:`item_side`.

        FM over query + item fields = FM(query) + FM(item) + <sum of query vectors, sum of item
        vectors>: for items shared by every query ([1, M]) the cross term is one matrix product.

        ``within_rows``: the terms every item of a row shares (the bias, the query's own FM
        terms, a one-layer MLP's query part) are multiplied by zero. A softmax over a row cannot
        see them, so their true gradient is zero; float rounding makes it ~1e-9, which Adam's
        normalisation would turn into learning-rate-sized random steps. Times zero, it is zero.
        """
        q_vec, q_w = embedded or self.embed_query(query)
        q_sum = q_vec.sum(1)  # [B, d]
        own = self.bias + q_w.sum(1) + 0.5 * (q_sum.pow(2).sum(-1) - q_vec.pow(2).sum((1, 2)))
        shared = side.sums.shape[0] == 1
        if within_rows and shared and self.mlp.linear_only:
            # a softmax over shared items without a hidden layer (the default's training and
            # scoring): one matrix product with the items' own terms as its start, instead of
            # four [B, M] additions (a quarter of a MovieLens-100K step). The row-shared terms
            # join as zeros through the [B, d] query, which keeps their (zero) gradients.
            zeros = own.unsqueeze(1) * 0.0 + self.mlp.query_part(q_vec.flatten(1)) * 0.0
            start = side.linear + side.hidden.squeeze(-1)  # [1, M]
            return torch.addmm(start, q_sum + zeros, side.sums[0].T)  # [B, M]
        if shared:  # the same M items for every query
            cross = q_sum @ side.sums[0].T  # [B, M]
        else:
            cross = torch.bmm(side.sums, q_sum.unsqueeze(-1)).squeeze(-1)  # [B, M]
        if within_rows:
            own = own * 0.0
        mlp = self.mlp.forward_projected(q_vec.flatten(1), side.hidden, within_rows)
        return own.unsqueeze(1) + side.linear + cross + mlp


class ItemSide(NamedTuple):
    """M items' share of DeepFM's logit: their own terms, vector sums, first MLP layer."""

    linear: torch.Tensor  # [b, M]: first-order weights + FM among the item fields
    sums: torch.Tensor  # [b, M, d]: sum of the item field vectors
    hidden: torch.Tensor  # [b, M, H]: the items' part of the first MLP layer
