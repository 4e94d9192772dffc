"""Leave-one-out evaluation on streamed Parquet: the ranker trains on everything but each
user's newest interaction, then ranks every unseen item for each user in batches of users.

The targets and their histories come from the fit's ring of newest items (one pass finds them),
the seen items from its compressed rows; nothing holds the interactions themselves.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rag_recs.config import RankerConfig
from rag_recs.data.stream import ParquetStream, Scan
from rag_recs.evaluation.metrics import loo_metrics, rank_of_target
from rag_recs.ranker.score import Scorer
from rag_recs.ranker.stream_fit import fit_stream


def evaluate_loo_stream(
    stream: ParquetStream,
    config: RankerConfig,
    *,
    scan: Scan | None = None,
    k: int = 10,
    max_users: int | None = None,
    seed: int = 2024,
    users_per_batch: int = 256,
) -> dict[str, Any]:
    """Recall@k, NDCG@k, hit@k and coverage of the DeepFM under leave-one-out (newest held
    out, in file order within each user), on every user or ``max_users`` sampled ones."""
    start = time.perf_counter()
    config = config.model_copy(update={"objective": "implicit"})
    fitted = fit_stream(stream, config, scan=scan, hold_out_newest=True, keep_order=False)
    fit_s = time.perf_counter() - start
    trained, seen = fitted.trained, fitted.seen
    users = np.flatnonzero(fitted.scan.user_counts > 0)
    if max_users and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    targets = seen.ring[users, 0].astype(np.int64)
    scorer = Scorer(trained)  # each user's history field: the fit's, before the target
    start = time.perf_counter()
    ranks, recommended = [], np.zeros(fitted.scan.n_items + 1, bool)
    for s in range(0, len(users), users_per_batch):
        part, target = users[s : s + users_per_batch], targets[s : s + users_per_batch]
        scores = scorer.score_matrix(part)  # [n, n_items + 1], column 0 is -inf
        lo, hi = seen.indptr[part], seen.indptr[part + 1]
        owner = np.repeat(np.arange(len(part)), hi - lo)  # every seen entry's row in the batch
        flat = np.arange(len(owner)) - np.repeat(np.cumsum(hi - lo) - (hi - lo), hi - lo)
        items = seen.indices[np.repeat(lo, hi - lo) + flat]
        other = items != target[owner]  # seen in training: hidden; the target competes
        scores[owner[other], items[other]] = -np.inf
        ranks.append(rank_of_target(scores, target))
        recommended[np.argpartition(-scores, k, axis=1)[:, :k].ravel()] = True
    result: dict[str, Any] = loo_metrics(np.concatenate(ranks) if ranks else np.zeros(0), k)
    result.update(
        coverage=float(recommended[1:].sum() / max(fitted.scan.n_items, 1)),
        n_users=len(users),
        fit_seconds=fit_s,
        score_seconds=time.perf_counter() - start,
        train_samples_per_s=trained.log.samples_per_s,
    )
    return result
