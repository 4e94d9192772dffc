"""The DeepFM ranker as the rest of the system sees it: fit, score, top-K, save, load.

It answers the questions the assistant asks: "score these items for this user", "top-K unseen
items for this user", "which items has this user seen", "does this item exist".
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from rag_recs.config import RankerConfig
from rag_recs.data.encode import HISTORY, FeatureMap, Tensors, history_rows
from rag_recs.data.schema import ITEM, LABEL, RATING, TIME, USER, Dataset, to_python
from rag_recs.data.split import chronological
from rag_recs.errors import DataError, ModelError
from rag_recs.ranker.deepfm import DeepFM
from rag_recs.ranker.sampling import pair_keys, sample_negatives
from rag_recs.ranker.train import TrainLog, predict_logits, train_epochs

FORMAT_VERSION = 1


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when a GPU is present, else the CPU."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            "--device cuda was asked for but no CUDA GPU is available (use auto or cpu)"
        )
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class DeepFMRanker:
    """DeepFM over users, items, their features and the user's recent history."""

    def __init__(self, config: RankerConfig | None = None, **overrides: Any) -> None:
        self.config = (config or RankerConfig()).model_copy(update=overrides)
        self.feature_map: FeatureMap | None = None
        self.model: DeepFM | None = None
        self.log = TrainLog()
        self.objective = ""
        self.fingerprint = ""
        self.device = torch.device("cpu")

    # ---- training -------------------------------------------------------------------------
    def fit(
        self, dataset: Dataset, *, epochs: int | None = None, early_stopping: bool = True
    ) -> DeepFMRanker:
        """Train on ``dataset``; ``epochs`` caps the count (fixed with early stopping off)."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        self.device = resolve_device(cfg.device)
        self.objective = self._objective(dataset)
        history_len = cfg.history_len if dataset.has_users and dataset.has_time else 0
        fmap = self.feature_map = FeatureMap.fit(
            dataset, history_len=history_len, categorical=cfg.categorical, numeric=cfg.numeric
        )
        inter = dataset.interactions.reset_index(drop=True)
        self.fingerprint = dataset.fingerprint
        n_sparse, n_dense, n_bags = fmap.sizes
        self.model = self._new_model()
        generic = fmap.generic
        inputs = fmap.encode(inter, "context") if generic else self._fit_state(dataset, inter)
        validate_on = bool(early_stopping and cfg.patience)
        if self.objective == "explicit":
            labels = self._labels(dataset)
            train_rows, valid_rows = self._valid_split(inter, rng, validate_on)
            make_data = self._explicit_data(inputs, labels)
            validate = None
            if len(valid_rows):
                valid_x = inputs.take(torch.from_numpy(valid_rows)).to(self.device)
                valid_y = labels[valid_rows]
                validate = lambda: self._auc(valid_x, valid_y)  # noqa: E731
        else:
            train_rows, validate = self._implicit_validation(rng, validate_on)
            make_data = self._implicit_data(inputs, rng)
        self.log = train_epochs(
            self.model, make_data(train_rows), cfg, validate, self.device, epochs
        )
        if validate is not None and cfg.refit:
            # the held-out rows are the users' latest: too valuable to leave out of the final
            # model, so it is retrained on everything for the epoch count validation chose
            torch.manual_seed(cfg.seed)
            self.model = self._new_model()
            best = self.log.best_epoch + 1
            refit = train_epochs(
                self.model, make_data(np.arange(len(inter))), cfg, None, self.device, best
            )
            self.log.samples += refit.samples
            self.log.seconds += refit.seconds
            self.log.losses += refit.losses
        return self

    def _new_model(self) -> DeepFM:
        fmap, cfg = self.feature_map, self.config
        assert fmap is not None
        n_sparse, n_dense, n_bags = fmap.sizes
        fields = n_sparse + n_bags + n_dense
        model = DeepFM(fmap.num_embeddings, fields, n_dense, cfg.dim, cfg.hidden, cfg.dropout)
        return model.to(self.device)

    @staticmethod
    def _explicit_data(inputs: Tensors, labels: torch.Tensor):
        """Epoch data over given rows: the same labelled rows every epoch."""

        def for_rows(rows: np.ndarray):
            x, y = inputs.take(torch.from_numpy(rows)), labels[rows]
            return lambda epoch: (x, y)

        return for_rows

    def _objective(self, dataset: Dataset) -> str:
        cfg, cols = self.config, dataset.interactions.columns
        if not dataset.has_users:
            if LABEL not in cols:
                raise DataError(
                    "a generic CTR table needs a 0/1 label column",
                    source=dataset.name,
                    hint="--label COLUMN",
                )
            return "explicit"
        if cfg.objective == "explicit" and LABEL not in cols and RATING not in cols:
            raise DataError(
                "explicit training needs a label or rating column",
                source=dataset.name,
                hint="use --objective implicit, or --label / --rating-col",
            )
        return "implicit" if cfg.objective == "auto" else cfg.objective

    def _labels(self, dataset: Dataset) -> torch.Tensor:
        inter = dataset.interactions
        values = inter[LABEL] if LABEL in inter else inter[RATING] >= self.config.threshold
        return torch.tensor(values.to_numpy(np.float32))

    def _valid_split(
        self, inter: pd.DataFrame, rng: np.random.Generator, on: bool | None
    ) -> tuple[np.ndarray, np.ndarray]:
        n, ratio = len(inter), self.config.valid_ratio
        if not on or ratio <= 0:
            return np.arange(n), np.arange(0)
        if USER in inter and TIME in inter:  # each user's latest share validates
            ordered = chronological(inter)
            group = ordered.groupby(USER, sort=False)
            pos, size = group.cumcount().to_numpy(), group[USER].transform("size").to_numpy()
            is_valid = np.zeros(n, bool)
            is_valid[ordered.index.to_numpy()] = pos >= np.ceil(size * (1 - ratio))
        else:
            is_valid = rng.random(n) < ratio
        return np.flatnonzero(~is_valid), np.flatnonzero(is_valid)

    def _auc(self, x: Tensors, y: torch.Tensor) -> float:
        scores = predict_logits(self.model, x).cpu().numpy()
        labels = y.numpy()
        return float(roc_auc_score(labels, scores)) if 0 < labels.mean() < 1 else 0.0

    def _fit_state(self, dataset: Dataset, inter: pd.DataFrame) -> Tensors:
        """Side tables, per-user seen items and recent history; returns every row's inputs."""
        fmap = self.feature_map
        assert fmap is not None
        self.users, self.user_tab = fmap.side_table(dataset, "user")
        self.items, self.item_tab = fmap.side_table(dataset, "item")
        self._index_ids()
        u = (self.users.get_indexer(inter[USER]) + 1).astype(np.int64)
        i = (self.items.get_indexer(inter[ITEM]) + 1).astype(np.int64)
        self._rows = (u, i)
        offset = fmap.field(ITEM).offset - 1
        times = inter[TIME].to_numpy() if TIME in inter else None
        tie = inter[ITEM].rank(method="dense").to_numpy()  # same-time events: by item id
        hist, order = history_rows(u, i + offset, times, max(fmap.history_len, 1), tie)
        # inference state: what each user has seen, their latest items, item popularity
        n_users = len(self.users) + 1
        self.seen_keys = np.unique(pair_keys(u, i, len(self.items)))
        last = np.zeros((n_users, max(fmap.history_len, 1)), np.int64)
        ordered_u, ordered_i = u[order], i[order] + offset
        for lag in range(last.shape[1]):  # walk back from each user's newest interaction
            ends = np.r_[np.flatnonzero(ordered_u[1:] != ordered_u[:-1]), len(ordered_u) - 1]
            idx = ends - lag
            starts = np.r_[0, ends[:-1] + 1]
            ok = idx >= starts
            last[ordered_u[ends[ok]], lag] = ordered_i[idx[ok]]
        self.recent = torch.from_numpy(last)
        self.popularity = np.bincount(i, minlength=len(self.items) + 1).astype(np.float64)
        self._hist, self._order = hist, order
        ctx = fmap.encode(inter, "context", history=hist if fmap.history_len else None)
        return Tensors.join(
            self.user_tab.take(torch.from_numpy(u)), self.item_tab.take(torch.from_numpy(i)), ctx
        )

    def _implicit_validation(self, rng: np.random.Generator, on: bool):
        """Hold out the last item of up to ``valid_users`` users; validate by Recall@10 on them."""
        cfg = self.config
        u, i = self._rows
        is_valid = np.zeros(len(u), bool)
        if on and cfg.valid_users:
            ordered_u = u[self._order]
            ends = np.r_[np.flatnonzero(ordered_u[1:] != ordered_u[:-1]), len(ordered_u) - 1]
            counts = np.diff(np.r_[-1, ends])
            candidates = self._order[ends[counts >= 3]]
            size = min(cfg.valid_users, len(candidates))
            is_valid[rng.choice(candidates, size=size, replace=False)] = True
        train_rows, valid_rows = np.flatnonzero(~is_valid), np.flatnonzero(is_valid)
        if not len(valid_rows):
            return train_rows, None
        v_users, v_items = u[valid_rows], i[valid_rows]
        v_hist = torch.from_numpy(self._hist[valid_rows])

        def validate() -> float:
            scores = self.score_matrix(v_users, history=v_hist)
            # hide the user's other seen items, but not the held-out target itself
            for r, user in enumerate(v_users):
                seen = self.seen_rows(user)
                scores[r, seen[seen != v_items[r]]] = -np.inf
            target = scores[np.arange(len(v_users)), v_items]
            return float(((scores > target[:, None]).sum(1) < 10).mean())

        return train_rows, validate

    def _implicit_data(self, inputs: Tensors, rng: np.random.Generator):
        """Epoch data over given positive rows, with fresh sampled negatives each epoch."""
        cfg = self.config
        u = self._rows[0]
        weights = (self.popularity[1:] ** 0.75 + 1e-9) if cfg.sampler == "popularity" else None
        ctx = self._context_of(inputs)

        def for_rows(rows: np.ndarray):
            positives = inputs.take(torch.from_numpy(rows))

            def epoch_data(epoch: int) -> tuple[Tensors, torch.Tensor]:
                users = np.repeat(u[rows], cfg.negatives)
                items, keep = sample_negatives(users, self.seen_keys, len(self.items), rng, weights)
                neg_rows = np.repeat(rows, cfg.negatives)[keep]
                negatives = Tensors.join(
                    self.user_tab.take(torch.from_numpy(users[keep])),
                    self.item_tab.take(torch.from_numpy(items[keep])),
                    ctx.take(torch.from_numpy(neg_rows)),
                )
                both = Tensors(
                    torch.cat([positives.sparse, negatives.sparse]),
                    torch.cat([positives.dense, negatives.dense]),
                    [torch.cat(p) for p in zip(positives.bags, negatives.bags, strict=True)],
                )
                labels = torch.cat([torch.ones(len(positives)), torch.zeros(len(negatives))])
                return both, labels

            return epoch_data

        return for_rows

    def _context_of(self, inputs: Tensors) -> Tensors:
        """The context-side columns of full inputs (they come last in every part)."""
        fmap = self.feature_map
        n_sparse = len([f for f in fmap.side("context") if f.kind == "sparse"])
        n_dense = len([f for f in fmap.side("context") if f.kind == "dense"])
        n_bags = len([f for f in fmap.side("context") if f.kind == "bag"])
        return Tensors(
            inputs.sparse[:, inputs.sparse.shape[1] - n_sparse :],
            inputs.dense[:, inputs.dense.shape[1] - n_dense :],
            inputs.bags[len(inputs.bags) - n_bags :],
        )

    # ---- ids ------------------------------------------------------------------------------
    def _index_ids(self) -> None:
        self._user_pos = {to_python(v): k + 1 for k, v in enumerate(self.users)}
        self._item_pos = {to_python(v): k + 1 for k, v in enumerate(self.items)}

    @staticmethod
    def _find(table: dict, key: Any) -> int:
        if key in table:
            return table[key]
        if isinstance(key, str) and key.strip().lstrip("-").isdigit():
            return table.get(int(key), 0)
        if isinstance(key, int | np.integer):
            return table.get(str(key), 0)
        return 0

    def user_row(self, user: Any) -> int:
        """The user's row in the side table; 0 for a user the ranker does not know."""
        return self._find(self._user_pos, user)

    def item_row(self, item: Any) -> int:
        return self._find(self._item_pos, item)

    def knows_user(self, user: Any) -> bool:
        return self.user_row(user) > 0 and len(self.seen_rows(self.user_row(user))) > 0

    def exists(self, item: Any) -> bool:
        """Is ``item`` in the catalog?"""
        return self.item_row(item) > 0

    def seen_rows(self, row: int) -> np.ndarray:
        n = len(self.items) + 1
        lo, hi = np.searchsorted(self.seen_keys, [row * n, (row + 1) * n])
        return self.seen_keys[lo:hi] - row * n

    def seen(self, user: Any) -> set:
        """Items ``user`` has interacted with (any rating), as source ids."""
        return {to_python(self.items[r - 1]) for r in self.seen_rows(self.user_row(user))}

    def item_id(self, row: int) -> Any:
        return to_python(self.items[row - 1])

    # ---- scoring --------------------------------------------------------------------------
    def _inputs(
        self, user_rows: np.ndarray, item_rows: np.ndarray, history: torch.Tensor | None
    ) -> Tensors:
        fmap = self.feature_map
        n = len(user_rows)
        ctx_fields = fmap.side("context")
        bags = []
        for f in ctx_fields:
            if f.kind == "bag":
                if f.name == HISTORY:
                    bags.append(
                        history if history is not None else self.recent[torch.from_numpy(user_rows)]
                    )
                else:
                    bags.append(torch.zeros((n, max(f.max_len, 1)), dtype=torch.int64))
        ctx = Tensors(
            torch.zeros((n, sum(f.kind == "sparse" for f in ctx_fields)), dtype=torch.int64),
            torch.zeros((n, sum(f.kind == "dense" for f in ctx_fields))),
            bags,
        )
        return Tensors.join(
            self.user_tab.take(torch.from_numpy(user_rows)),
            self.item_tab.take(torch.from_numpy(item_rows)),
            ctx,
        ).to(self.device)

    def _check_fitted(self) -> None:
        if self.model is None or self.feature_map is None:
            raise ModelError("the ranker is not trained yet: call fit() or load() first")
        if self.feature_map.generic:
            raise ModelError("this ranker was trained on a generic CTR table: use predict(frame)")

    @torch.inference_mode()
    def score(self, user: Any, items: list | np.ndarray) -> np.ndarray:
        """Like probability of each item for ``user`` (unknown users and items still score)."""
        self._check_fitted()
        item_rows = np.array([self.item_row(x) for x in items], np.int64)
        user_rows = np.full(len(item_rows), self.user_row(user), np.int64)
        logits = predict_logits(self.model, self._inputs(user_rows, item_rows, None))
        return torch.sigmoid(logits).cpu().numpy()

    @torch.inference_mode()
    def score_matrix(
        self, user_rows: np.ndarray, history: torch.Tensor | None = None, chunk_rows: int = 131072
    ) -> np.ndarray:
        """Logits [len(user_rows), n_items + 1] of every catalog item (column 0 is unused)."""
        self._check_fitted()
        n_items = len(self.items)
        out = np.empty((len(user_rows), n_items + 1), np.float32)
        out[:, 0] = -np.inf
        per = max(1, chunk_rows // n_items)
        all_items = np.arange(1, n_items + 1)
        for s in range(0, len(user_rows), per):
            rows = np.asarray(user_rows[s : s + per])
            hist = None
            if history is not None:
                hist = history[s : s + per].repeat_interleave(n_items, 0)
            inputs = self._inputs(np.repeat(rows, n_items), np.tile(all_items, len(rows)), hist)
            out[s : s + len(rows), 1:] = (
                predict_logits(self.model, inputs).view(len(rows), n_items).cpu().numpy()
            )
        return out

    def top_k(
        self, user: Any, k: int = 10, *, candidates: list | None = None, exclude_seen: bool = True
    ) -> list[tuple[Any, float]]:
        """The ``k`` best (item id, probability) for ``user``, unseen only by default."""
        self._check_fitted()
        row = self.user_row(user)
        if candidates is None:
            logits = self.score_matrix(np.array([row]))[0]
        else:
            rows = np.array(sorted({self.item_row(c) for c in candidates} - {0}), np.int64)
            logits = np.full(len(self.items) + 1, -np.inf, np.float32)
            if len(rows):
                inputs = self._inputs(np.full(len(rows), row, np.int64), rows, None)
                logits[rows] = predict_logits(self.model, inputs).cpu().numpy()
        if exclude_seen:
            logits[self.seen_rows(row)] = -np.inf
        k = min(k, int(np.isfinite(logits).sum()))
        best = np.argpartition(-logits, k)[:k] if k < len(logits) else np.arange(len(logits))
        best = best[np.argsort(-logits[best], kind="stable")][:k]
        probs = 1.0 / (1.0 + np.exp(-logits[best].astype(np.float64)))
        return [(self.item_id(r), float(p)) for r, p in zip(best, probs, strict=True)]

    @torch.inference_mode()
    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities for rows of a generic CTR table (same feature columns as in training)."""
        if self.model is None or self.feature_map is None:
            raise ModelError("the ranker is not trained yet: call fit() or load() first")
        fmap = self.feature_map
        if fmap.generic:
            inputs = fmap.encode(frame, "context").to(self.device)
            return torch.sigmoid(predict_logits(self.model, inputs)).cpu().numpy()
        u = np.array([self.user_row(x) for x in frame[USER]], np.int64)
        i = np.array([self.item_row(x) for x in frame[ITEM]], np.int64)
        return torch.sigmoid(predict_logits(self.model, self._inputs(u, i, None))).cpu().numpy()

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the ranker as one directory, atomically (a crash leaves the old one or none)."""
        if self.model is None or self.feature_map is None:
            raise ModelError("nothing to save: the ranker is not trained")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.mkdir()
        try:
            torch.save(self.model.state_dict(), tmp / "model.pt")
            state: dict[str, Any] = {}
            if not self.feature_map.generic:
                state = {
                    "user_tab": _pack(self.user_tab),
                    "item_tab": _pack(self.item_tab),
                    "recent": self.recent,
                    "seen_keys": torch.from_numpy(self.seen_keys),
                    "popularity": torch.from_numpy(self.popularity),
                }
            torch.save(state, tmp / "state.pt")
            ids = (
                {}
                if self.feature_map.generic
                else {
                    "users": list(map(to_python, self.users)),
                    "items": list(map(to_python, self.items)),
                }
            )
            meta = {
                "format_version": FORMAT_VERSION,
                "config": self.config.model_dump(mode="json"),
                "objective": self.objective,
                "fingerprint": self.fingerprint,
                "feature_map": self.feature_map.to_dict(),
                "ids": ids,
                "train_log": {
                    "losses": self.log.losses,
                    "valid": self.log.valid,
                    "best_epoch": self.log.best_epoch,
                    "samples_per_s": self.log.samples_per_s,
                    "samples": self.log.samples,
                    "seconds": self.log.seconds,
                },
            }
            (tmp / "ranker.json").write_text(json.dumps(meta))
            old = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.old"
            if path.exists():
                os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> DeepFMRanker:
        """Read a directory written by :meth:`save`."""
        path = Path(path)
        try:
            meta = json.loads((path / "ranker.json").read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path}: not a saved ranker ({exc.__class__.__name__})") from None
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelError(
                f"{path}: saved with format {meta.get('format_version')}, "
                f"this version reads {FORMAT_VERSION}; retrain"
            )
        ranker = cls(RankerConfig(**{**meta["config"], "device": device}))
        ranker.device = resolve_device(device)
        ranker.objective, ranker.fingerprint = meta["objective"], meta["fingerprint"]
        fmap = ranker.feature_map = FeatureMap.from_dict(meta["feature_map"])
        n_sparse, n_dense, n_bags = fmap.sizes
        cfg = ranker.config
        ranker.model = DeepFM(
            fmap.num_embeddings,
            n_sparse + n_bags + n_dense,
            n_dense,
            cfg.dim,
            cfg.hidden,
            cfg.dropout,
        )
        ranker.model.load_state_dict(
            torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        )
        ranker.model.to(ranker.device).eval()
        log = meta.get("train_log", {})
        ranker.log = TrainLog(log.get("losses", []), log.get("valid", []), log.get("best_epoch", 0))
        ranker.log.samples = int(log.get("samples", 0))
        ranker.log.seconds = float(log.get("seconds", 0.0))
        if not fmap.generic:
            state = torch.load(path / "state.pt", weights_only=True)
            ranker.user_tab, ranker.item_tab = (
                _unpack(state["user_tab"]),
                _unpack(state["item_tab"]),
            )
            ranker.recent, ranker.seen_keys = state["recent"], state["seen_keys"].numpy()
            ranker.popularity = state["popularity"].numpy()
            ranker.users, ranker.items = (
                pd.Index(meta["ids"]["users"]),
                pd.Index(meta["ids"]["items"]),
            )
            ranker._index_ids()
        return ranker

    def check_data(self, dataset: Dataset) -> None:
        """Fail clearly when ``dataset`` lacks a column this ranker was trained with."""
        if self.feature_map is None:
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


def _pack(t: Tensors) -> dict[str, Any]:
    return {"sparse": t.sparse, "dense": t.dense, "bags": list(t.bags)}


def _unpack(d: dict[str, Any]) -> Tensors:
    return Tensors(d["sparse"], d["dense"], list(d["bags"]))
