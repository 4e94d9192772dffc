"""LibRecommender 1.5.2 DeepFM on the shared MovieLens-100K CTR protocol; prints one JSON line."""

from __future__ import annotations

import contextlib
import random
import sys
import time

import numpy as np
from ml100k_ctr import binary_metrics, data_dir, emit, load_ctr_frames

SEED = 2024
EPOCHS = 3
BATCH_SIZE = 512
EMBED_DIM = 16
HIDDEN_UNITS = (128, 64)
LR = 1e-3
NUM_NEG = 1  # library default; only affects the batch-size arithmetic here
USER_FEATS = ["gender", "age_bucket", "occupation"]
ITEM_FEATS = ["first_genre"]


def main() -> None:
    """Prepare data with DatasetFeat, time model.fit only, evaluate with model.predict."""
    random.seed(SEED)
    np.random.seed(SEED)
    with contextlib.redirect_stdout(sys.stderr):  # importing libreco/TF prints banners
        from libreco.algorithms import DeepFM
        from libreco.data import DatasetFeat
        from libreco.evaluation import evaluate
        from libreco.tfops import tf

    train, test, _ = load_ctr_frames(data_dir())
    cols = ["user", "item", "label", *USER_FEATS, *ITEM_FEATS]
    rename = {"user_id": "user", "item_id": "item"}
    train = train.rename(columns=rename)[cols]
    test = test.rename(columns=rename)[cols]

    # LibRecommender fits its own vocabularies on the train part; unseen test values go to OOV.
    train_data, data_info = DatasetFeat.build_trainset(
        train,
        user_col=USER_FEATS,
        item_col=ITEM_FEATS,
        sparse_col=USER_FEATS + ITEM_FEATS,
        dense_col=None,
        shuffle=False,
        seed=SEED,
    )
    test_data = DatasetFeat.build_testset(test)

    tf.reset_default_graph()
    # Defaults kept: cross_entropy loss, Adam epsilon=1e-5, reg=None, dropout_rate=None, no lr decay
    # use_bn defaults to True and is switched off to match the other DeepFMs. `sampler` keeps its
    # default ("random"; None fails the trainer's check) but is unused: fit(neg_sampling=False)
    # trains on the given 0/1 labels. With a sampler set, the trainer divides batch_size by
    # (num_neg + 1) for negatives even when none are sampled, hence the doubled value below.
    model = DeepFM(
        "ranking",
        data_info,
        loss_type="cross_entropy",
        embed_size=EMBED_DIM,
        n_epochs=EPOCHS,
        lr=LR,
        reg=None,
        batch_size=BATCH_SIZE * (NUM_NEG + 1),
        num_neg=NUM_NEG,
        use_bn=False,
        dropout_rate=None,
        hidden_units=HIDDEN_UNITS,
        seed=SEED,
    )

    with contextlib.redirect_stdout(sys.stderr):  # fit prints timings and the parameter count
        start = time.perf_counter()
        model.fit(train_data, neg_sampling=False, verbose=1, shuffle=True)
        train_seconds = time.perf_counter() - start
    assert model.trainer.batch_size == BATCH_SIZE, model.trainer.batch_size

    with contextlib.redirect_stdout(sys.stderr):  # predict reports unknown items on stdout
        prob = model.predict(
            user=test["user"].to_numpy(), item=test["item"].to_numpy(), cold_start="average"
        )
        check = evaluate(model, test_data, neg_sampling=False, metrics=["roc_auc", "loss"])
    auc, logloss = binary_metrics(test["label"].to_numpy(), prob)
    print(f"tensorflow {tf.__version__}; libreco.evaluate cross-check: {check}", file=sys.stderr)
    emit("LibRecommender 1.5.2", auc, logloss, len(train), EPOCHS, train_seconds)


if __name__ == "__main__":
    main()
