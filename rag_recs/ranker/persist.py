"""Saving and loading a trained ranker: one directory, written atomically.

``ranker.json`` (format version, config, feature map, training log, fingerprint),
``model.pt`` (weights) and ``state.pt`` (side tables, serving histories, the interaction index).
A crash while saving leaves the previous directory or none, never a half-written one.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from rag_recs.config import RankerConfig
from rag_recs.data.index import InteractionIndex
from rag_recs.errors import ModelError
from rag_recs.ranker.features import FeatureMap, Tensors
from rag_recs.ranker.train import TrainLog
from rag_recs.ranker.trained import Trained, build_model, resolve_device

FORMAT_VERSION = 2


def save(trained: Trained, path: str | Path) -> Path:
    """Write ``trained`` to the directory ``path`` (replacing it atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    try:
        torch.save(trained.model.state_dict(), tmp / "model.pt")
        state: dict[str, Any] = {}
        if trained.index is not None:
            assert trained.user_table is not None and trained.item_table is not None
            arrays = trained.index.to_arrays()
            state = {
                "user_table": _pack(trained.user_table),
                "item_table": _pack(trained.item_table),
                "recent": trained.recent,
                "index": {k: torch.from_numpy(arrays[k]) for k in ("indptr", "indices", "liked")},
            }
        torch.save(state, tmp / "state.pt")
        meta = {
            "format_version": FORMAT_VERSION,
            "config": trained.config.model_dump(mode="json"),
            "objective": trained.objective,
            "fingerprint": trained.fingerprint,
            "feature_map": trained.feature_map.to_dict(),
            "ids": {}
            if trained.index is None
            else {"users": arrays["users"], "items": arrays["items"]},
            "train_log": asdict(trained.log),
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


def load(path: str | Path, device: str = "auto") -> Trained:
    """Read a directory written by :func:`save`."""
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
    config = RankerConfig(**{**meta["config"], "device": device})
    fmap = FeatureMap.from_dict(meta["feature_map"])
    model = build_model(fmap, config)
    try:
        model.load_state_dict(torch.load(path / "model.pt", map_location="cpu", weights_only=True))
        state = torch.load(path / "state.pt", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise ModelError(f"{path}: unreadable weights ({exc.__class__.__name__})") from None
    model.to(resolve_device(device)).eval()
    log = TrainLog(**meta.get("train_log", {}))
    trained = Trained(config, fmap, model, meta["objective"], meta["fingerprint"], log)
    if state:
        arrays = {k: v.numpy() for k, v in state["index"].items()}
        trained.index = InteractionIndex.from_arrays({**meta["ids"], **arrays})
        trained.user_table = _unpack(state["user_table"])
        trained.item_table = _unpack(state["item_table"])
        trained.recent = state["recent"]
    return trained


def _pack(t: Tensors) -> dict[str, Any]:
    return {"sparse": t.sparse, "dense": t.dense, "bags": list(t.bags)}


def _unpack(d: dict[str, Any]) -> Tensors:
    return Tensors(d["sparse"], d["dense"], list(d["bags"]))
