"""DeepCTR-Torch 0.3.0 DeepFM on the shared MovieLens-100K CTR protocol; prints one JSON line."""

from __future__ import annotations

import contextlib
import random
import sys
import time
import types

import numpy as np
import torch

# `import deepctr_torch` starts a thread that asks PyPI for a newer release and may print on
# stdout; a stub `requests` turns that check into a silent no-op (offline, one JSON line out).
_stub = types.ModuleType("requests")
_stub.codes = types.SimpleNamespace(ok=200)  # type: ignore[attr-defined]
_stub.get = lambda *_a, **_k: types.SimpleNamespace(status_code=0)  # type: ignore[attr-defined]
sys.modules.setdefault("requests", _stub)

from deepctr_torch.inputs import SparseFeat  # noqa: E402
from deepctr_torch.models import DeepFM  # noqa: E402
from ml100k_ctr import (  # noqa: E402
    binary_metrics,
    data_dir,
    emit,
    encode_with_train_vocab,
    load_ctr_frames,
)

SEED = 2024
EPOCHS = 3
BATCH_SIZE = 512
EMBED_DIM = 16
HIDDEN_UNITS = (128, 64)
LR = 1e-3


def main() -> None:
    """Prepare data, time model.fit only, evaluate on the test split."""
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)

    train, test, fields = load_ctr_frames(data_dir())
    train, test, sizes = encode_with_train_vocab(train, test, fields)
    columns = [SparseFeat(f, vocabulary_size=sizes[f], embedding_dim=EMBED_DIM) for f in fields]
    x_train = {f: train[f].to_numpy(np.int64) for f in fields}
    x_test = {f: test[f].to_numpy(np.int64) for f in fields}
    y_train = train["label"].to_numpy(np.float32)

    # Defaults l2_reg_linear = l2_reg_embedding = 1e-5 are switched off; dropout 0 and no BN
    # are already the defaults. init_std=1e-4 (default) is kept.
    model = DeepFM(
        linear_feature_columns=columns,
        dnn_feature_columns=columns,
        dnn_hidden_units=HIDDEN_UNITS,
        l2_reg_linear=0.0,
        l2_reg_embedding=0.0,
        l2_reg_dnn=0.0,
        dnn_dropout=0.0,
        seed=SEED,
        task="binary",
        device="cpu",
    )
    model.compile(torch.optim.Adam(model.parameters(), lr=LR), "binary_crossentropy")

    with contextlib.redirect_stdout(sys.stderr):  # fit prints the device and a summary line
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=EPOCHS, verbose=0, shuffle=True)
        train_seconds = time.perf_counter() - start

    prob = model.predict(x_test, batch_size=4096)
    auc, logloss = binary_metrics(test["label"].to_numpy(), prob)
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}", file=sys.stderr)
    emit("DeepCTR-Torch 0.3.0", auc, logloss, len(train), EPOCHS, train_seconds)


if __name__ == "__main__":
    main()
