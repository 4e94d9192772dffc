"""Implicit-feedback losses over the catalog: each positive against every item, or a sample.

Binary cross-entropy on a few sampled negatives per positive (the ranker's first loss, in
:mod:`~rag_recs.ranker.train`) scores each pair on its own; a softmax over the catalog makes the
positive compete with every item at once, which ranks better (Klenitskiy & Vasilev 2023,
gSASRec 2023). The full softmax scores every item per row (fine up to tens of thousands of
items); the sampled one scores ``negatives`` items drawn per batch and shared by its rows,
each logit lowered by log(K q) (q its sampling probability: the popularity correction), so that
the sum over the sample estimates the sum over the catalog.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from rag_recs.ranker.features import Tensors

LOSSES = ("softmax", "sampled_softmax", "bce")


class CatalogLoss(Protocol):
    """The mean loss of a batch: queries [B] and their positive item rows [B]."""

    def __call__(
        self, model: torch.nn.Module, query: Tensors, targets: torch.Tensor, items: Tensors
    ) -> torch.Tensor: ...


class FullSoftmax:
    """Cross-entropy of each positive against every item of the catalog (item rows 1..n)."""

    def __call__(
        self, model: torch.nn.Module, query: Tensors, targets: torch.Tensor, items: Tensors
    ) -> torch.Tensor:
        catalog = items.take(slice(1, None)).take((None, slice(None)))  # [1, n_items] fields
        logits = model(query, catalog, within_rows=True)  # [B, n_items]
        return F.cross_entropy(logits, targets - 1)


class SampledSoftmax:
    """Cross-entropy of each positive against ``negatives`` items drawn (with replacement) from
    ``weights`` (per item row 1..n, any scale), shared by the batch; a drawn item equal to the
    row's positive is left out of that row (an accidental hit)."""

    def __init__(self, negatives: int, weights: np.ndarray, seed: int) -> None:
        q = torch.as_tensor(weights, dtype=torch.float64)
        q = q / q.sum()
        self.negatives = negatives
        self.q = q.float()  # [n_items]
        self.log_kq = torch.log(negatives * q).float()  # [n_items]
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(
        self, model: torch.nn.Module, query: Tensors, targets: torch.Tensor, items: Tensors
    ) -> torch.Tensor:
        drawn = torch.multinomial(self.q, self.negatives, True, generator=self.generator)  # [K]
        drawn = drawn.to(targets.device)
        b = len(targets)
        # one forward over the batch's positives and the drawn items, shared by every row
        rows = torch.cat([targets, drawn + 1]).unsqueeze(0)  # [1, B + K]
        logits = model(query, items.take(rows), within_rows=True)  # [B, B + K]
        positive = logits.diagonal()[:, None]  # [B, 1]: row b's own positive, column b
        sampled = logits[:, b:] - self.log_kq.to(logits.device)[drawn]  # [B, K]
        sampled = sampled.masked_fill(drawn[None, :] + 1 == targets[:, None], float("-inf"))
        logits = torch.cat([positive, sampled], 1)  # [B, 1 + K]: the positive first
        return F.cross_entropy(logits, torch.zeros(b, dtype=torch.long, device=logits.device))
