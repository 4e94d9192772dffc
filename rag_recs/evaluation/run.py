"""An evaluation run as one call: split, train (together under torchrun), score, as the
protocols of docs/protocols.md say. ``rag-recs evaluate`` prints what these return; a notebook
can call them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rag_recs import distributed
from rag_recs.config import EvalMode, EvalProtocol, RankerConfig
from rag_recs.data.schema import Dataset
from rag_recs.errors import DataError
from rag_recs.workspace import Workspace

if TYPE_CHECKING:
    from rag_recs.data.stream import ParquetStream


@dataclass
class Evaluation:
    """What one run measured: ``result`` holds the flat ``evaluate --json`` keys (the DeepFM's,
    or the assistant mode's), ``rows`` every model's metrics for a table, ``keys`` its columns."""

    result: dict[str, Any]
    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


def evaluate(
    dataset: Dataset,
    *,
    protocol: EvalProtocol = "loo",
    mode: EvalMode = "ranker",
    users: int | None = None,
    baselines: bool = False,
    ranker_config: RankerConfig | None = None,
    workspace: Workspace | None = None,
    llm: Any = "local",
) -> Evaluation | None:
    """Evaluate on a held-out split; ``None`` on the ranks that only helped train (torchrun).

    ``mode`` other than ``ranker`` runs the assistant (or the LLM alone, or the random floor)
    on the leave-one-out protocol, on ``users`` sampled users (200 by default), with ``llm``.
    ``baselines`` adds popularity, ItemKNN and UserKNN to the leave-one-out table. The
    ranker is trained through ``workspace``, so a second run reuses it.
    """
    from rag_recs.evaluation.protocols import ctr_split, loo_split

    config = ranker_config or RankerConfig()
    ws = workspace or Workspace()
    if mode != "ranker" and protocol != "loo":
        raise DataError(f"--mode {mode} runs on the loo protocol", hint="add --protocol loo")
    if users is not None and users < 1:
        raise DataError("--users must be at least 1")
    if protocol == "loo" and not dataset.has_users:
        raise DataError("the loo protocol needs user and item columns", source=dataset.name)
    if mode != "ranker":
        if not distributed.is_main():
            return None  # under torchrun the llm and assistant modes run on rank 0 alone
        from rag_recs.evaluation.assistant_eval import evaluate_assistant

        result = evaluate_assistant(
            dataset, mode, users=users or 200, llm=llm, workspace=ws, progress=config.progress
        )
        return Evaluation(result)
    if protocol == "ctr":
        config = config.model_copy(update={"objective": "explicit"})
        train_part, test = ctr_split(dataset, config.seed)
        distributed.start(config.device)  # under torchrun: the ranks train together
        ranker, _ = ws.ranker(train_part, config)
        distributed.stop()  # and rank 0 evaluates alone
        if not distributed.is_main():
            return None
        return Evaluation(*_ctr(ranker, test, config, dataset.name))
    config = config.model_copy(update={"objective": "implicit"})
    if distributed.start(config.device):  # train together; rank 0 then finds it cached
        ws.ranker(loo_split(dataset)[0], config)
        distributed.stop()
        if not distributed.is_main():
            return None
    return Evaluation(*_loo(dataset, ws, config, users, baselines))


def _ctr(ranker: Any, test: Any, config: RankerConfig, name: str) -> tuple:
    """AUC and logloss of the held-out labels (protocol 1)."""
    from rag_recs.evaluation.metrics import auc, logloss

    labels = (test["label"] if "label" in test else test["rating"] >= config.threshold).to_numpy(
        float
    )
    if len(set(labels)) < 2:
        raise DataError("the test split has a single label value: AUC is undefined", source=name)
    probs = ranker.predict(test)
    result = {
        "protocol": "ctr",
        "auc": auc(labels, probs),
        "logloss": logloss(labels, probs),
        "n_test": len(test),
        "train_samples_per_s": ranker.log.samples_per_s,
    }
    return result, [("DeepFM", result)], ["auc", "logloss"]


def _loo(
    dataset: Dataset, ws: Workspace, config: RankerConfig, users: int | None, baselines: bool
) -> tuple:
    """Leave-one-out top-K of the ranker (trained through the workspace) and the baselines."""
    from rag_recs.evaluation import ItemKNN, Popularity, UserKNN
    from rag_recs.evaluation.protocols import RankerScorer, evaluate_loo

    class CachedRanker(RankerScorer):  # trains through the workspace: a second run reuses it
        def train(self, train: Dataset) -> Any:
            return ws.ranker(train, self.config)[0]

    scorers: list[Any] = [CachedRanker(config)]
    if baselines:
        scorers += [Popularity(), ItemKNN(), UserKNN()]
    results = evaluate_loo(dataset, scorers, max_users=users, seed=config.seed)
    result = {"protocol": "loo", **{k: v for k, v in results[0].items() if k != "model"}}
    result["train_samples_per_s"] = scorers[0].ranker.log.samples_per_s
    rows = [(r["model"], r) for r in results]
    return result, rows, ["recall@10", "ndcg@10", "hit@10", "coverage"]


def evaluate_streamed(
    data: ParquetStream, config: RankerConfig, users: int | None = None, scan: Any = None
) -> dict[str, Any] | None:
    """Leave-one-out on data read in batches (trained here, not cached), from ``scan`` (one
    is made when None); ``None`` on the ranks other than 0 under torchrun."""
    from rag_recs.evaluation.stream_eval import evaluate_loo_stream

    scan = scan if scan is not None else data.scan()
    distributed.start(config.device)
    result = {
        "protocol": "loo",
        **evaluate_loo_stream(data, config, scan=scan, max_users=users, seed=config.seed),
    }
    distributed.stop()
    return result if distributed.is_main() else None
