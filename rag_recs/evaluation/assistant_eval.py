"""The assistant (and the LLM alone, and the ranker alone) on leave-one-out: protocol 3 of
docs/protocols.md.

Final answers are re-checked here independently of the assistant's own validation: an item
counts as invalid when it is not in the catalog, was seen in training, or repeats.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rag_recs.assistant.build import build_assistant
from rag_recs.data.schema import ITEM, USER, Dataset
from rag_recs.data.split import leave_one_out
from rag_recs.evaluation.metrics import coverage
from rag_recs.workspace import Workspace

MODES = ("ranker", "llm", "assistant")


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
    mode: str = "assistant",
    *,
    users: int = 200,
    k: int = 10,
    llm: Any = "local",
    workspace: Workspace | None = None,
    seed: int = 2024,
    progress: bool = False,
    use_store: bool = True,
    ranker_config: Any = None,
) -> dict[str, Any]:
    """Recall/NDCG@k of the final lists and the validity of what the LLM proposed and answered."""
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
    catalog = set(dataset.catalog)
    recalls, ndcgs, lists, latencies = [], [], [], []
    proposed_total = 0
    proposed_bad = {"unknown": 0, "seen": 0, "duplicate": 0}
    final_total, filled = 0, 0
    final_bad = {"unknown": 0, "seen": 0, "duplicate": 0}
    for user, target in zip(test[USER], test[ITEM], strict=True):
        user, target = user.item() if hasattr(user, "item") else user, target
        seen = train.index.seen(user)
        start = time.perf_counter()
        if mode == "ranker":
            items = [i for i, _ in assistant.ranker.top_k(user, k)]
        elif mode == "llm":
            items, raw = _llm_only(assistant, user, k)
            proposed_total += len(raw)
            for key, n in _invalid(raw, catalog, seen).items():
                proposed_bad[key] += n
        else:
            answer = assistant.recommend(user, k)
            items = [i.item_id for i in answer.items]
            filled += sum(i.source == "ranker" for i in answer.items)
            proposed_total += answer.proposed
            for r in answer.rejected:
                if r.reason in proposed_bad:
                    proposed_bad[r.reason] += 1
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
        result["invalid_proposed"] = sum(proposed_bad.values()) / max(proposed_total, 1)
        result.update({k_: v / max(proposed_total, 1) for k_, v in proposed_bad.items()})
        result["n_proposed"] = proposed_total
    if mode == "assistant":
        result["fill_rate"] = filled / max(final_total, 1)
    return result


def _llm_only(assistant: Any, user: Any, k: int) -> tuple[list, list]:
    """The LLM's own picks from the retrieval context (similar users' items), unvalidated."""
    seen = assistant.index.seen(user)
    neighbors = assistant.similar_users(user) if seen else []
    eligible = [i for i in assistant.catalog.ids if i not in seen]
    support = assistant._support(neighbors, eligible)
    ranked = sorted(support, key=lambda i: (-support[i], str(i)))[: assistant.config.pool_size]
    pool = {i: assistant.dataset.title(i) for i in ranked}
    if not pool:
        return [], []
    from rag_recs.assistant.answer import Answer

    scratch = Answer("", user=user)
    pairs, _ = assistant._propose(scratch, user, k, pool, neighbors, support, None)
    raw = [assistant.catalog.resolve(r) for r, _ in pairs]
    raw = [r if r is not None else f"?{p}" for r, (p, _) in zip(raw, pairs, strict=True)]
    return raw, raw
