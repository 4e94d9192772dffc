"""RecBole 1.2.1 SASRec / BERT4Rec / LightGCN top-K on given training rows, as JSON.

Runs in its own virtualenv (.bench/recbole, see setup_peers.sh), called by topk_peers.py:

    python benchmarks/peers/recbole_topk.py --model SASRec --train train.csv \\
        --catalog items.csv --users users.csv --out top10.json

Inputs (CSV with a header; ids are read as strings and written back the same way):
  --train    user_id,item_id,timestamp: every training interaction is an implicit positive.
             Rows of one user in chronological order; equal timestamps keep the file order.
  --catalog  item_id: every item that may be recommended.
  --users    user_id: the users to rank for (users without training rows get training popularity).
Output (--out): {"model", "fit_seconds", "predict_seconds", "top10": {user: [item, ...]},
"settings": {...}}; each list holds the k best catalog items the user has not seen in training.

Training is RecBole's own (its dataset, dataloaders, model and trainer). Only the training rows
are given to RecBole, so the held-out targets can never be trained on. Early stopping uses a
validation split carved out of those rows (each user's last training item, RecBole's leave-one-out
'valid_only'); with --refit (default) a fresh model is then trained on all training rows for the
best epoch count (the project's DeepFM keeps its best epoch instead). Ranking is done here:
model.full_sort_predict over RecBole's whole item table, the full training history masked,
internal ids mapped back to raw ids.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

USER, ITEM, TIME = "user_id", "item_id", "timestamp"
DATASET = "peer"  # a name RecBole has no preset (and no download) for

# Per-model settings on top of RecBole's defaults (properties/model/*.yaml, overall.yaml): the
# models' own hyperparameters stay RecBole's; what is set here is the loss, the input length and
# the training budget (epochs, validation every eval_step epochs, stopping_step validations of
# patience, batch size).
MODEL_SETTINGS: dict[str, dict] = {
    # SASRec defaults: 2 layers, 2 heads, hidden 64, inner 256, dropout 0.5/0.5, Adam lr 1e-3
    "SASRec": {
        "MAX_ITEM_LIST_LENGTH": 50,
        "loss_type": "CE",
        "train_neg_sample_args": None,  # CE over all items, no sampled negatives
        # One epoch = ~98k augmented prefixes of up to 50 items: 3-4 minutes on one busy core.
        # A 10-epoch budget stopped it still improving (validation NDCG@10 0.030, 0.044, ...,
        # 0.061, 0.067): trained to convergence here, stopping after 3 validations without
        # improvement. Batch 512 (RecBole: 2048) gives 4x the steps per epoch.
        "train_batch_size": 512,
        "epochs": 200,
        "eval_step": 1,
        "stopping_step": 3,
    },
    # BERT4Rec defaults: 2 layers, 2 heads, hidden 64, inner 256, mask_ratio 0.2; CE over all
    # items (RecBole's default loss); the same budget rule as SASRec
    "BERT4Rec": {
        "MAX_ITEM_LIST_LENGTH": 50,
        "loss_type": "CE",
        "train_neg_sample_args": None,
        "train_batch_size": 512,
        "epochs": 200,
        "eval_step": 1,
        "stopping_step": 3,
    },
    # LightGCN defaults: embedding 64, 2 layers, reg_weight 1e-5, Adam lr 1e-3, batch 2048;
    # BPR with one uniform negative per positive
    "LightGCN": {
        "train_neg_sample_args": {
            "distribution": "uniform",
            "sample_num": 1,
            "alpha": 1.0,
            "dynamic": False,
            "candidate_num": 0,
        },
        # ~3.5 s per epoch on one core; best validation at epoch 120 on MovieLens-100K, stopped
        # at 145 (validation every 5 epochs, patience 4 validations), then refit for 120.
        "epochs": 300,
        "eval_step": 5,
        "stopping_step": 4,
    },
}
# Retrain on all training rows for the best epoch count after early stopping? LightGCN: yes, its
# graph would otherwise lack each user's latest item. SASRec: no, the validation rows are ~1% of
# its training samples and the ranking input is the whole history anyway; refitting would double
# the cost.
REFIT = {"SASRec": False, "BERT4Rec": False, "LightGCN": True}
SEQUENTIAL = ("SASRec", "BERT4Rec")  # ranked from each user's latest items
SETTING_KEYS = {
    "SASRec": [
        "MAX_ITEM_LIST_LENGTH", "loss_type", "n_layers", "n_heads", "hidden_size", "inner_size",
        "hidden_dropout_prob", "attn_dropout_prob", "hidden_act", "initializer_range",
    ],
    "BERT4Rec": [
        "MAX_ITEM_LIST_LENGTH", "loss_type", "n_layers", "n_heads", "hidden_size", "inner_size",
        "mask_ratio",
    ],
    "LightGCN": ["embedding_size", "n_layers", "reg_weight", "train_neg_sample_args"],
}  # fmt: skip
COMMON_KEYS = [
    "learner", "learning_rate", "weight_decay", "train_batch_size", "epochs", "eval_step",
    "stopping_step", "valid_metric", "seed",
]  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, choices=sorted(MODEL_SETTINGS))
    p.add_argument("--train", required=True, type=Path)
    p.add_argument("--catalog", required=True, type=Path)
    p.add_argument("--users", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--epochs", type=int, help="maximum epochs of the early-stopping run")
    p.add_argument("--stopping-step", type=int, help="validations without improvement to stop")
    p.add_argument("--eval-step", type=int, help="epochs between validations")
    p.add_argument(
        "--fixed-epochs",
        type=int,
        help="skip validation: train on all rows for exactly this many epochs",
    )
    p.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        help="after early stopping, train afresh on all rows for the best epoch count "
        "(default: LightGCN yes, SASRec no)",
    )
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a busy 2-core machine 2 threads ran 2-3x slower); "
        "0 = torch's default",
    )
    p.add_argument("--workdir", type=Path, help="RecBole files and logs (default: a temp dir)")
    p.add_argument("--verbose", action="store_true", help="RecBole's INFO log on stderr")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a RecBole setting (VALUE read as YAML), e.g. --set train_batch_size=512",
    )
    return p.parse_args(argv)


def read_ids(path: Path, column: str) -> list[str]:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return frame[column].drop_duplicates().tolist()


def read_train(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame[TIME] = pd.to_numeric(frame[TIME])
    frame["_row"] = np.arange(len(frame))
    # Per user: by time, ties in file order (the caller breaks ties by item id).
    frame = frame.sort_values([USER, TIME, "_row"], kind="stable").reset_index(drop=True)
    return frame[[USER, ITEM]]


def write_atomic(train: pd.DataFrame, data_dir: Path) -> tuple[list[str], list[str]]:
    """Write <data_dir>/peer/peer.inter with safe integer tokens; return token -> raw id tables.

    The timestamp written is the row's position in protocol order, so RecBole's time sorts
    ('TO' ordering, sequence building) reproduce that order exactly, ties included.
    """
    users = pd.Index(train[USER].unique())
    items = pd.Index(train[ITEM].unique())
    inter = pd.DataFrame(
        {
            "user_id:token": users.get_indexer(train[USER]),
            "item_id:token": items.get_indexer(train[ITEM]),
            "timestamp:float": np.arange(len(train), dtype=np.float64),
        }
    )
    (data_dir / DATASET).mkdir(parents=True, exist_ok=True)
    inter.to_csv(data_dir / DATASET / f"{DATASET}.inter", sep="\t", index=False)
    return users.tolist(), items.tolist()


def make_config(args: argparse.Namespace, work: Path):
    from recbole.config import Config

    settings = {
        "data_path": str(work / "data"),
        "checkpoint_dir": str(work / "saved"),
        "use_gpu": False,
        "seed": args.seed,
        "reproducibility": True,
        "show_progress": False,
        "state": "INFO" if args.verbose else "WARNING",
        "load_col": {"inter": [USER, ITEM, TIME]},
        # RecBole's filters, all off: every user and item of the training rows stays.
        "rm_dup_inter": None,
        "val_interval": None,
        "filter_inter_by_user_or_item": False,
        "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)",
        # Validation = each user's last training row; no test part (the target is not given).
        "eval_args": {
            "split": {"LS": "valid_only"},
            "group_by": "user",
            "order": "TO",
            "mode": "full",
        },
        "metrics": ["Recall", "NDCG"],
        "topk": [10],
        "valid_metric": "NDCG@10",
        **MODEL_SETTINGS[args.model],
    }
    for key, value in (
        ("epochs", args.epochs),
        ("stopping_step", args.stopping_step),
        ("eval_step", args.eval_step),
    ):
        if value is not None:
            settings[key] = value
    for item in args.set:
        key, _, value = item.partition("=")
        settings[key] = yaml.safe_load(value)
    sys.argv = sys.argv[:1]  # Config would read --key=value from the command line too
    return Config(model=args.model, dataset=DATASET, config_dict=settings)


def train_model(config, dataset, train_data, valid_data, *, epochs: int | None = None):
    """Train a fresh model; with valid_data, early-stop and return the best epoch's weights."""
    from recbole.utils import get_model, get_trainer, init_seed

    if epochs is not None:
        config["epochs"] = epochs
    init_seed(config["seed"], config["reproducibility"])
    model = get_model(config["model"])(config, dataset).to(config["device"])
    # Importing RecBole's sequential models runs torch.autograd.set_detect_anomaly(True) (in
    # sequential_recommender/sine.py), which slows every backward pass several-fold: undo it.
    torch.autograd.set_detect_anomaly(False)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    best: dict = {"epoch": None, "state": None}
    history: list[float] = []

    def keep_best(epoch_idx: int, score: float) -> None:
        history.append(round(float(score), 4))
        if trainer.cur_step == 0:  # early_stopping() just reported an improvement
            best["epoch"] = epoch_idx
            best["state"] = copy.deepcopy(model.state_dict())

    start = time.perf_counter()
    trainer.fit(
        train_data,
        valid_data,
        verbose=config["state"] == "INFO",
        saved=False,
        show_progress=False,
        callback_fn=keep_best,
    )
    epochs_run = len(trainer.train_loss_dict)
    seconds = time.perf_counter() - start
    if valid_data is not None and best["state"] is None:  # no validation ran: keep the last
        best["epoch"] = epochs_run - 1
    if valid_data is not None and best["state"] is not None:
        model.load_state_dict(best["state"])
    return model, {
        "epochs_run": epochs_run,
        "best_epoch": None if best["epoch"] is None else best["epoch"] + 1,
        "best_valid_ndcg@10": float(trainer.best_valid_score) if best["state"] else None,
        "last_train_loss": round(float(trainer.train_loss_dict[epochs_run - 1]), 4),
        "seconds_per_epoch": round(seconds / epochs_run, 2),
        **({"valid_ndcg@10_per_validation": history} if history else {}),
    }


@torch.no_grad()
def rank(
    model,
    dataset,
    model_name: str,
    train: pd.DataFrame,
    user_tokens,
    item_tokens,
    catalog: list[str],
    users: list[str],
    k: int,
) -> dict[str, list[str]]:
    """Top-k raw item ids per user: RecBole scores over its item table, seen items masked."""
    from recbole.data.interaction import Interaction

    model.eval()
    if model_name == "LightGCN":  # cached propagated embeddings may predate the best weights
        model.restore_user_e = model.restore_item_e = None
    uid_field, iid_field = dataset.uid_field, dataset.iid_field
    n_items = dataset.item_num  # internal id 0 is RecBole's padding token
    # raw id -> RecBole internal id (through our integer token)
    item_internal = {
        raw: int(dataset.token2id(iid_field, str(tok))) for tok, raw in enumerate(item_tokens)
    }
    user_internal = {
        raw: int(dataset.token2id(uid_field, str(tok))) for tok, raw in enumerate(user_tokens)
    }
    internal_raw = np.empty(n_items, dtype=object)
    internal_raw[0] = None
    for raw, iid in item_internal.items():
        internal_raw[iid] = raw
    in_catalog = np.zeros(n_items, dtype=bool)
    catalog_set = set(catalog)
    for raw, iid in item_internal.items():
        in_catalog[iid] = raw in catalog_set
    untrained = [i for i in catalog if i not in item_internal]  # never in training: ranked last

    histories = {
        u: [item_internal[i] for i in group[ITEM]] for u, group in train.groupby(USER, sort=False)
    }
    popular = train[ITEM].value_counts(sort=False)
    popular = popular[popular.index.isin(catalog_set)]
    # most frequent first, ties by catalog order
    order = {item: n for n, item in enumerate(catalog)}
    popular_top = sorted(popular.index, key=lambda i: (-popular[i], order[i]))[:k]
    popular_top += [i for i in catalog if i not in set(popular_top)][: k - len(popular_top)]

    known = [u for u in users if u in user_internal]
    out: dict[str, list[str]] = {u: popular_top for u in users if u not in user_internal}
    batch = 256
    for start in range(0, len(known), batch):
        chunk = known[start : start + batch]
        if model_name in SEQUENTIAL:
            max_len = model.max_seq_length
            seq = torch.zeros((len(chunk), max_len), dtype=torch.long)
            lengths = torch.zeros(len(chunk), dtype=torch.long)
            for row, u in enumerate(chunk):
                recent = histories[u][-max_len:]
                seq[row, : len(recent)] = torch.tensor(recent)
                lengths[row] = len(recent)
            inter = Interaction({model.ITEM_SEQ: seq, model.ITEM_SEQ_LEN: lengths})
        else:
            uids = torch.tensor([user_internal[u] for u in chunk], dtype=torch.long)
            inter = Interaction({model.USER_ID: uids})
        scores = model.full_sort_predict(inter).reshape(len(chunk), n_items).double().numpy()
        scores[:, 0] = -np.inf
        scores[:, ~in_catalog] = -np.inf
        for row, u in enumerate(chunk):
            scores[row, histories[u]] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        for row, u in enumerate(chunk):
            picked = [internal_raw[i] for i in top[row] if np.isfinite(scores[row, i])]
            if len(picked) < k:  # only when fewer than k trained candidates remain
                picked += untrained[: k - len(picked)]
            out[u] = picked
    return {u: out[u] for u in users}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    refit = REFIT[args.model] if args.refit is None else args.refit

    train = read_train(args.train)
    catalog = read_ids(args.catalog, ITEM)
    users = read_ids(args.users, USER)

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="recbole_topk_")
        work = Path(tmp.name)
    else:
        work = args.workdir.resolve()
        work.mkdir(parents=True, exist_ok=True)
    args.out = args.out.resolve()
    os.chdir(work)  # RecBole writes ./log and ./log_tensorboard relative to the working directory
    if not args.verbose:  # RecBole 1.2.1 on pandas 2.2 / torch 2.13: deprecation noise only
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=r"torch\.sparse\.SparseTensor")

    import recbole
    from recbole.data import create_dataset, data_preparation
    from recbole.data.utils import create_samplers, get_dataloader
    from recbole.utils import init_logger

    start = time.perf_counter()
    user_tokens, item_tokens = write_atomic(train, work / "data")
    config = make_config(args, work)
    init_logger(config)  # ./log/ in the work dir; stderr gets INFO only with --verbose
    dataset = create_dataset(config)
    assert dataset.user_num - 1 == len(user_tokens), "RecBole dropped users"
    assert dataset.item_num - 1 == len(item_tokens), "RecBole dropped items"
    train_data, valid_data, test_data = data_preparation(config, dataset)
    n_samples = len(dataset.inter_feat)
    data_seconds = time.perf_counter() - start
    settings = {key: config[key] for key in SETTING_KEYS[args.model] + COMMON_KEYS}

    info: dict = {}
    search_seconds = 0.0
    if args.fixed_epochs:
        refit_epochs = args.fixed_epochs
        settings["epochs"] = args.fixed_epochs
        for key in ("eval_step", "stopping_step", "valid_metric"):
            del settings[key]
    else:
        t0 = time.perf_counter()
        model, info = train_model(config, train_data.dataset, train_data, valid_data)
        search_seconds = time.perf_counter() - t0
        refit_epochs = info["best_epoch"] if refit else None

    refit_seconds = 0.0
    if refit_epochs:
        t0 = time.perf_counter()
        # every training row (validation rows included), RecBole's own train dataloader
        full = dataset.copy(dataset.inter_feat)
        sampler = create_samplers(config, dataset, [full, valid_data.dataset, test_data.dataset])[0]
        full_data = get_dataloader(config, "train")(
            config, full, sampler, shuffle=config["shuffle"]
        )
        model, refit_info = train_model(config, full, full_data, None, epochs=refit_epochs)
        prefix = "" if args.fixed_epochs else "refit_"
        info[f"{prefix}epochs_run"] = refit_epochs
        info[f"{prefix}last_train_loss"] = refit_info["last_train_loss"]
        info[f"{prefix}seconds_per_epoch"] = refit_info["seconds_per_epoch"]
        refit_seconds = time.perf_counter() - t0
    fit_seconds = time.perf_counter() - start

    t0 = time.perf_counter()
    top = rank(model, dataset, args.model, train, user_tokens, item_tokens, catalog, users, args.k)
    predict_seconds = time.perf_counter() - t0

    known_users, known_items = set(user_tokens), set(item_tokens)
    settings.update(
        info,
        validation=None
        if args.fixed_epochs
        else "each user's last training row (RecBole LS valid_only), full ranking",
        refit=bool(refit_epochs) and not args.fixed_epochs,
        data_seconds=round(data_seconds, 2),
        search_seconds=round(search_seconds, 2),
        **{("train_seconds" if args.fixed_epochs else "refit_seconds"): round(refit_seconds, 2)},
        train_rows=len(train),
        recbole_samples=n_samples,
        users_without_training_rows=sum(u not in known_users for u in users),
        catalog_items_without_training_rows=sum(i not in known_items for i in catalog),
        recbole=recbole.__version__,
        torch=torch.__version__,
        threads=torch.get_num_threads(),
    )
    settings = {k: v for k, v in settings.items() if v is not None}
    result = {
        "model": f"RecBole {recbole.__version__} {args.model}",
        "fit_seconds": round(fit_seconds, 3),
        "predict_seconds": round(predict_seconds, 3),
        "top10": top,
        "settings": settings,
    }
    args.out.write_text(json.dumps(result))
    print(
        f"{result['model']}: fit {fit_seconds:.1f}s, predict {predict_seconds:.1f}s, {settings}",
        file=sys.stderr,
    )
    if tmp is not None:
        os.chdir("/")
        tmp.cleanup()


if __name__ == "__main__":
    main()
