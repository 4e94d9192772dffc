"""The DeepFM ranker as the rest of the system sees it: fit, score, top-K, save, load.

It answers the questions the assistant asks: "score these items for this user", "top-K unseen
items for this user", "which items has this user seen", "does this item exist". The work is
done by :mod:`~rag_recs.ranker.fit` (or :mod:`~rag_recs.ranker.stream_fit` for data read in
batches), :mod:`~rag_recs.ranker.score` and :mod:`~rag_recs.ranker.persist`, on what a fit
produces (:class:`~rag_recs.ranker.trained.Trained`); this class only holds what they share.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rag_recs.config import RankerConfig
from rag_recs.data.index import InteractionIndex
from rag_recs.data.schema import ITEM, USER, Dataset
from rag_recs.errors import ModelError
from rag_recs.ranker import persist
from rag_recs.ranker.features import HISTORY, FeatureMap
from rag_recs.ranker.fit import fit
from rag_recs.ranker.score import Scorer
from rag_recs.ranker.train import TrainLog
from rag_recs.ranker.trained import Trained

if TYPE_CHECKING:
    from rag_recs.data.stream import ParquetStream, Scan


class DeepFMRanker:
    """DeepFM over users, items, their features and the user's recent history."""

    def __init__(self, config: RankerConfig | None = None, **overrides: Any) -> None:
        self.config = (config or RankerConfig()).model_copy(update=overrides)
        self.trained: Trained | None = None
        self.scorer: Scorer | None = None

    def _set(self, trained: Trained) -> DeepFMRanker:
        self.trained, self.config = trained, trained.config
        self.scorer = Scorer(trained)
        return self

    # ---- training and persistence ---------------------------------------------------------
    def fit(
        self, dataset: Dataset, *, epochs: int | None = None, early_stopping: bool = True
    ) -> DeepFMRanker:
        """Train on ``dataset``; ``epochs`` caps the count (exact with early stopping off)."""
        return self._set(fit(dataset, self.config, epochs=epochs, early_stopping=early_stopping))

    def fit_stream(
        self,
        stream: ParquetStream,
        *,
        scan: Scan | None = None,
        epochs: int | None = None,
        early_stopping: bool = True,
    ) -> DeepFMRanker:
        """Train on interactions streamed from Parquet, batch by batch (see ``stream_fit``)."""
        from rag_recs.ranker.stream_fit import fit_stream

        fitted = fit_stream(
            stream, self.config, scan=scan, epochs=epochs, early_stopping=early_stopping
        )
        return self._set(fitted.trained)

    def save(self, path: str | Path) -> Path:
        """Write the ranker as one directory, atomically (a crash leaves the old one or none)."""
        return persist.save(self._fitted(), path)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> DeepFMRanker:
        """Read a directory written by :meth:`save`."""
        trained = persist.load(path, device)
        return cls(trained.config)._set(trained)

    # ---- what it knows ----------------------------------------------------------------------
    def _fitted(self) -> Trained:
        if self.trained is None:
            raise ModelError("the ranker is not trained yet: call fit() or load() first")
        return self.trained

    def _scorer(self) -> Scorer:
        self._fitted()
        assert self.scorer is not None
        return self.scorer

    @property
    def index(self) -> InteractionIndex:
        """Users, items and histories it was trained on."""
        index = self._fitted().index
        if index is None:
            raise ModelError("this ranker was trained on a generic CTR table: use predict(frame)")
        return index

    @property
    def feature_map(self) -> FeatureMap:
        return self._fitted().feature_map

    @property
    def log(self) -> TrainLog:
        return self.trained.log if self.trained else TrainLog()

    @property
    def objective(self) -> str:
        return self._fitted().objective

    @property
    def fingerprint(self) -> str:
        return self._fitted().fingerprint

    @property
    def items(self) -> pd.Index:
        return self.index.items

    @property
    def users(self) -> pd.Index:
        return self.index.users

    def user_row(self, user: Any) -> int:
        return self.index.user_row(user)

    def item_row(self, item: Any) -> int:
        return self.index.item_row(item)

    def item_id(self, row: int) -> Any:
        return self.index.item_id(row)

    def exists(self, item: Any) -> bool:
        """Is ``item`` in the catalog?"""
        return self.index.item_row(item) > 0

    def seen(self, user: Any) -> set:
        """Items ``user`` has interacted with (any rating), as source ids."""
        return self.index.seen(user)

    def knows_user(self, user: Any) -> bool:
        index = self.index
        return len(index.seen_rows(index.user_row(user))) > 0

    # ---- scoring ----------------------------------------------------------------------------
    def score(self, user: Any, items: list | np.ndarray) -> np.ndarray:
        """Like probability of each item for ``user`` (unknown users and items still score)."""
        return self._scorer().score(user, items)

    def score_matrix(self, user_rows: np.ndarray, history: Any = None) -> np.ndarray:
        """Logits [len(user_rows), n_items + 1] of every catalog item (column 0 is unused)."""
        return self._scorer().score_matrix(user_rows, history)

    def top_k(
        self, user: Any, k: int = 10, *, candidates: list | None = None, exclude_seen: bool = True
    ) -> list[tuple[Any, float]]:
        """The ``k`` best (item id, probability) for ``user``, unseen only by default."""
        return self._scorer().top_k(user, k, candidates=candidates, exclude_seen=exclude_seen)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities for rows of a table with the training columns."""
        return self._scorer().predict(frame)

    def check_data(self, dataset: Dataset) -> None:
        """Fail clearly when ``dataset`` lacks a column this ranker was trained with."""
        if self.trained is None:
            return
        tables = {"user": dataset.users, "item": dataset.items, "context": dataset.interactions}
        for f in self.feature_map.fields:
            if f.name in (USER, ITEM, HISTORY):
                continue
            table = tables[f.side]
            if table is None or f.name not in table.columns:
                raise ModelError(
                    f"the model was trained with the {f.side} column '{f.name}', "
                    "which this data lacks; "
                    "retrain on this data or use data with the same columns"
                )
