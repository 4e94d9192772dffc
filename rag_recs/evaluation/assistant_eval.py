"""The assistant (and the LLM alone, and the ranker alone) on leave-one-out: protocol 3 of
docs/protocols.md.

Final answers are re-checked here independently of the assistant's own validation: an item
counts as invalid when it is not in the catalog, was seen in training, or repeats.
"""

from __future__ import annotations

import time
from typing import Any, get_args

import numpy as np

from rag_recs.assistant.build import build_assistant
from rag_recs.config import EvalMode
from rag_recs.data.schema import ITEM, USER, Dataset
from rag_recs.data.split import leave_one_out
from rag_recs.evaluation.metrics import coverage
from rag_recs.workspace import Workspace

MODES: tuple[str, ...] = get_args(EvalMode)
VARIANTS: dict[str, dict[str, Any]] = {
    # the LLM alone: it ranks the similar users' favourites, its first k are the answer
    "llm": {"pool_sources": ("support",), "order": "proposal"},
    # the floor an LLM must beat: k picked at random from the assistant's own pool
    "random": {"proposer": "random", "order": "proposal"},
    # the LLM as a listwise reranker of the ranker's top list (LlamaRec's set-up)
    "llm-rerank": {"pool_sources": ("ranker",), "order": "proposal"},
}
"""Each protocol-3 mode as a change to the assistant's configuration; "assistant" is none."""
PROPOSAL_FAULTS = frozenset({"unknown", "seen", "duplicate", "constraint"})


def _invalid(items: list, catalog: set, seen: set) -> dict[str, int]:
    counts = {"unknown": 0, "seen": 0, "duplicate": 0}
    taken: set = set()
    for item in items:
        if item not in catalog:
            counts["unknown"] += 1
        elif item in seen:
            counts["seen"] += 1
        elif item in taken:
            counts["duplicate"] += 1
        taken.add(item)
    return counts


def evaluate_assistant(
    dataset: Dataset,
    mode: EvalMode = "assistant",
    *,
    users: int = 200,
    k: int = 10,
    llm: Any = "local",
    workspace: Workspace | None = None,
    seed: int = 2024,
    progress: bool = False,
    use_store: bool = True,
    ranker_config: Any = None,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Recall/NDCG@k of the final lists, how they were made (repeats among the proposals, the
    share the ranker filled, the share of reasons worded by the LLM) and their validity.

    Every mode but "ranker" runs ``Assistant.recommend`` (its public stages), configured by
    :data:`VARIANTS` plus ``config``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    train_frame, test = leave_one_out(dataset.interactions)
    if users and len(test) > users:
        test = test.sample(users, random_state=seed)
    train = dataset.subset(train_frame)
    assistant = build_assistant(
        train,
        llm="none" if mode == "ranker" else llm,
        workspace=workspace,
        use_store=use_store and mode != "ranker",
        ranker_config=ranker_config,
        progress=progress,
    )
    changes = {**VARIANTS.get(mode, {}), **(config or {})}
    assistant.config = assistant.config.model_copy(update=changes)
    catalog = set(dataset.catalog)
    recalls, ndcgs, lists, latencies = [], [], [], []
    proposed_total, repeats, invalid, filled, by_llm, final_total = 0, 0, 0, 0, 0, 0
    final_bad = {"unknown": 0, "seen": 0, "duplicate": 0}
    for user, target in zip(test[USER], test[ITEM], strict=True):
        user = user.item() if hasattr(user, "item") else user
        seen = train.index.seen(user)
        start = time.perf_counter()
        if mode == "ranker":
            items = [i for i, _ in assistant.pipeline.ranker.top_k(user, k)]
        else:
            answer = assistant.recommend(user, k)
            items = [i.item_id for i in answer.items]
            filled += sum(i.source == "ranker" for i in answer.items)
            by_llm += sum(i.reason_by == "llm" for i in answer.items)
            proposed_total += answer.proposed
            repeats += sum(r.reason == "duplicate" for r in answer.rejected)
            invalid += sum(r.reason in PROPOSAL_FAULTS for r in answer.rejected)
        latencies.append(time.perf_counter() - start)
        final_total += len(items)
        for key, n in _invalid(items, catalog, seen).items():
            final_bad[key] += n
        hit = target in items[:k]
        recalls.append(float(hit))
        ndcgs.append(1.0 / np.log2(items.index(target) + 2) if hit else 0.0)
        lists.append(items)
    result: dict[str, Any] = {
        "protocol": "loo",
        "mode": mode,
        f"recall@{k}": float(np.mean(recalls)),
        f"ndcg@{k}": float(np.mean(ndcgs)),
        f"hit@{k}": float(np.mean(recalls)),
        "coverage": coverage(lists, len(catalog)),
        "n_users": len(recalls),
        "invalid_final": sum(final_bad.values()) / max(final_total, 1),
        "latency_p50_s": float(np.percentile(latencies, 50)),
        "latency_p95_s": float(np.percentile(latencies, 95)),
    }
    if mode != "ranker":
        result["repeat_rate"] = repeats / max(proposed_total, 1)
        result["invalid_proposed"] = invalid / max(proposed_total, 1)
        result["fill_rate"] = filled / max(final_total, 1)
        result["llm_reason_share"] = by_llm / max(final_total, 1)
        result["n_proposed"] = proposed_total
    return result
