"""``rag-recs``: train, evaluate and demo from the command line.

Exit codes: 0 success, 2 bad input (one clear line on stderr), 1 anything else.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Annotated

import typer
from rich.table import Table

from rag_recs import __version__, distributed
from rag_recs.cli.assistant import ask, chat, demo, recommend
from rag_recs.cli.common import (
    Categorical,
    Device,
    Json,
    Numeric,
    Source,
    UserRows,
    WorkspaceDir,
    emit_json,
    err,
    out,
    row_counts,
    with_source,
    workspace,
)
from rag_recs.cli.retrieval import index, search
from rag_recs.cli.serve import serve
from rag_recs.config import RankerConfig
from rag_recs.errors import DataError, RagRecsError

Stream = Annotated[
    bool,
    typer.Option(
        "--stream",
        help="Read a Parquet file or directory in batches instead of loading it (data larger "
        "than memory): implicit objective, user and item ids and recent history.",
    ),
]
BatchRows = Annotated[
    int, typer.Option("--batch-rows", min=1, help="Rows per streamed batch (with --stream).")
]

app = typer.Typer(
    name="rag-recs",
    help="A recommendation assistant whose suggestions are checked and ordered by a DeepFM ranker.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        out.print(f"rag-recs {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="More log output on stderr.")
    ] = False,
) -> None:
    """rag-recs command line."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


def _ranker_config(
    device: str,
    categorical: list[str] | None,
    numeric: list[str] | None,
    quiet: bool,
    **extra: object,
) -> RankerConfig:
    if device not in ("auto", "cpu", "cuda"):
        raise DataError(f"unknown device '{device}'", hint="use auto, cpu or cuda")
    return RankerConfig(
        device=device,  # type: ignore[arg-type]
        categorical=categorical or [],
        numeric=numeric or [],
        progress=not quiet,
        **extra,  # type: ignore[arg-type]
    )


@with_source
def train(
    source: Source,
    categorical: Categorical = None,
    numeric: Numeric = None,
    objective: Annotated[str, typer.Option(help="auto|explicit|implicit")] = "auto",
    retrain: Annotated[
        bool, typer.Option(help="Train even if the workspace has this model.")
    ] = False,
    workspace_dir: WorkspaceDir = None,
    device: Device = "auto",
    user_rows: UserRows = 0,
    stream: Stream = False,
    batch_rows: BatchRows = 1 << 16,
    json: Json = False,
) -> None:
    """Train the DeepFM ranker on --data and cache it in the workspace."""
    if objective not in ("auto", "explicit", "implicit"):
        raise DataError(f"unknown objective '{objective}'", hint="use auto, explicit or implicit")
    config = _ranker_config(
        device, categorical, numeric, json, user_rows=user_rows, objective=objective
    )
    if stream:
        _train_stream(source, config, workspace_dir, retrain, batch_rows, json)
        return
    dataset = source.load()
    distributed.start(config.device)  # under torchrun: the ranks train together
    start = time.perf_counter()
    ranker, trained = workspace(workspace_dir).ranker(dataset, config, retrain=retrain)
    path = workspace(workspace_dir).ranker_dir(dataset, config)
    result = {
        "model_dir": str(path),
        "trained": trained,
        "fingerprint": dataset.fingerprint,
        "objective": ranker.objective,
        "epochs": len(ranker.log.losses),
        "best_epoch": ranker.log.best_epoch + 1,
        "seconds": round(time.perf_counter() - start, 3),
        **row_counts(dataset),
    }
    if json:
        emit_json(result)
        return
    verb = "trained" if trained else "reused"
    out.print(
        f"{verb} the ranker ({ranker.objective}, {result['epochs']} epochs): {result['model_dir']}"
    )


@with_source
def evaluate(
    source: Source,
    protocol: Annotated[
        str, typer.Option(help="ctr (AUC, logloss) or loo (leave-one-out top-K)")
    ] = "loo",
    mode: Annotated[
        str,
        typer.Option(
            help="What answers (loo): ranker, llm (the LLM alone), random (k at random from the "
            "assistant's pool), llm-rerank (the LLM reordering the ranker's top 20) or assistant."
        ),
    ] = "ranker",
    llm: Annotated[
        str, typer.Option("--llm", help="LLM backend for the modes other than ranker.")
    ] = "local",
    users: Annotated[
        int | None, typer.Option("--users", help="Evaluate on N sampled users (loo).")
    ] = None,
    baselines: Annotated[
        bool, typer.Option(help="Also rank with popularity, ItemKNN, UserKNN (loo).")
    ] = False,
    categorical: Categorical = None,
    numeric: Numeric = None,
    workspace_dir: WorkspaceDir = None,
    device: Device = "auto",
    user_rows: UserRows = 0,
    stream: Stream = False,
    batch_rows: BatchRows = 1 << 16,
    json: Json = False,
) -> None:
    """Evaluate on a held-out split: --protocol ctr or loo (see docs/protocols.md)."""
    from rag_recs.evaluation import ItemKNN, Popularity, UserKNN
    from rag_recs.evaluation.metrics import auc, logloss
    from rag_recs.evaluation.protocols import ctr_split, evaluate_loo, loo_split

    if protocol not in ("ctr", "loo"):
        raise DataError(f"unknown protocol '{protocol}'", hint="use ctr or loo")
    from rag_recs.evaluation.assistant_eval import MODES

    if mode not in MODES:
        raise DataError(f"unknown mode '{mode}'", hint=f"use one of {', '.join(MODES)}")
    if mode != "ranker" and protocol != "loo":
        raise DataError(f"--mode {mode} runs on the loo protocol", hint="add --protocol loo")
    if users is not None and users < 1:
        raise DataError("--users must be at least 1")
    if mode != "ranker" and not distributed.is_main():
        return  # under torchrun the llm and assistant modes run on rank 0 alone
    if stream:
        if protocol != "loo" or mode != "ranker" or baselines:
            raise DataError(
                "--stream evaluates the ranker on the loo protocol",
                hint="drop --protocol ctr, --mode and --baselines, or load the data in memory",
            )
        config = _ranker_config(
            device, categorical, numeric, json, user_rows=user_rows, objective="implicit"
        )
        _evaluate_stream(source, config, users, batch_rows, json)
        return
    dataset = source.load()
    ws = workspace(workspace_dir)
    if mode != "ranker":
        from rag_recs.evaluation.assistant_eval import evaluate_assistant

        if not dataset.has_users:
            raise DataError("the loo protocol needs user and item columns", source=dataset.name)
        result = evaluate_assistant(
            dataset, mode, users=users or 200, llm=llm, workspace=ws, progress=not json
        )
        result.update(row_counts(dataset))
        if json:
            emit_json(result)
            return
        table = Table(title=f"loo protocol, --mode {mode}, on {dataset.name}")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for key, value in result.items():
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
        out.print(table)
        return
    if protocol == "ctr":
        config = _ranker_config(
            device, categorical, numeric, json, user_rows=user_rows, objective="explicit"
        )
        train_part, test = ctr_split(dataset, config.seed)
        distributed.start(config.device)  # under torchrun: the ranks train together
        ranker, _ = ws.ranker(train_part, config)
        distributed.stop()  # and rank 0 evaluates alone
        if not distributed.is_main():
            return
        labels = (
            test["label"] if "label" in test else test["rating"] >= config.threshold
        ).to_numpy(float)
        if len(set(labels)) < 2:
            raise DataError(
                "the test split has a single label value: AUC is undefined", source=dataset.name
            )
        probs = ranker.predict(test)
        result = {
            "protocol": "ctr",
            "auc": auc(labels, probs),
            "logloss": logloss(labels, probs),
            "n_test": len(test),
            "train_samples_per_s": ranker.log.samples_per_s,
        }
        rows = [("DeepFM", result)]
    else:
        if not dataset.has_users:
            raise DataError("the loo protocol needs user and item columns", source=dataset.name)
        config = _ranker_config(
            device, categorical, numeric, json, user_rows=user_rows, objective="implicit"
        )
        if distributed.start(config.device):  # train together; rank 0 then finds it cached
            ws.ranker(loo_split(dataset)[0], config)
            distributed.stop()
            if not distributed.is_main():
                return
        scorers = [_cached_ranker(ws, config)]
        if baselines:
            scorers += [Popularity(), ItemKNN(), UserKNN()]
        results = evaluate_loo(dataset, scorers, max_users=users, seed=config.seed)
        result = {"protocol": "loo", **{k: v for k, v in results[0].items() if k != "model"}}
        result["train_samples_per_s"] = scorers[0].ranker.log.samples_per_s
        rows = [(r["model"], r) for r in results]
        if baselines:  # the ranker's keys stay at the top; each baseline's beside them
            result["baselines"] = {
                r["model"]: {k: v for k, v in r.items() if k != "model"} for r in results[1:]
            }
    result.update(row_counts(dataset))
    if json:
        emit_json(result)
        return
    keys = (
        ["auc", "logloss"] if protocol == "ctr" else ["recall@10", "ndcg@10", "hit@10", "coverage"]
    )
    table = Table(title=f"{protocol} protocol on {dataset.name}")
    table.add_column("model")
    for k in keys:
        table.add_column(k, justify="right")
    for name, r in rows:
        table.add_row(name, *(f"{r[k]:.4f}" for k in keys))
    out.print(table)


def _stream(source: Source, batch_rows: int, config: RankerConfig):
    """The --data Parquet as a stream, or one clear error for what --stream cannot read."""
    from rag_recs.data.stream import ParquetStream

    if source.format not in (None, "parquet") or source.data == "synthetic":
        raise DataError("--stream reads a Parquet file or a directory of Parquet files")
    if source.label is not None:
        raise DataError("--stream trains on user and item ids: a --label table loads in memory")
    if config.categorical or config.numeric:
        raise DataError("--stream uses ids and history only: drop --categorical / --numeric")
    return ParquetStream(
        source.data,
        user_col=source.user_col,
        item_col=source.item_col,
        rating_col=source.rating_col,
        time_col=source.time_col,
        batch_rows=batch_rows,
    )


def _stream_rows(scan) -> dict:
    dropped = scan.rows["dropped"]
    return {
        "rows_read": scan.rows["read"],
        "rows_used": scan.rows["used"],
        "rows_dropped": sum(dropped.values()),
        "rows_dropped_by_reason": dropped,
    }


def _train_stream(
    source: Source,
    config: RankerConfig,
    workspace_dir,
    retrain: bool,
    batch_rows: int,
    json: bool,
) -> None:
    """``train --stream``: one scan for the fingerprint, then the cached model or a streamed
    fit, kept where the same data loaded in memory would look for it (so ask and recommend
    find it)."""
    from rag_recs.ranker.ranker import DeepFMRanker

    data = _stream(source, batch_rows, config)
    distributed.start(config.device)  # under torchrun: the ranks train together
    start = time.perf_counter()
    with err.status(f"scanning {source.data}"):
        scan = data.scan()
    ws = workspace(workspace_dir)
    ranker, trained = ws.ranker_for(
        scan.fingerprint, config, lambda: DeepFMRanker(config).fit_stream(data, scan=scan), retrain
    )
    result = {
        "model_dir": str(ws.ranker_path(scan.fingerprint, config)),
        "trained": trained,
        "fingerprint": scan.fingerprint,
        "objective": ranker.objective,
        "epochs": len(ranker.log.losses),
        "best_epoch": ranker.log.best_epoch + 1,
        "seconds": round(time.perf_counter() - start, 3),
        "stream": True,
        "batch_rows": batch_rows,
        **_stream_rows(scan),
    }
    if json:
        emit_json(result)
        return
    verb = "trained" if trained else "reused"
    out.print(f"{verb} the ranker (streamed, {result['epochs']} epochs): {result['model_dir']}")


def _evaluate_stream(
    source: Source, config: RankerConfig, users: int | None, batch_rows: int, json: bool
) -> None:
    """``evaluate --stream``: leave-one-out on the streamed data (trained here, not cached)."""
    from rag_recs.evaluation.stream_eval import evaluate_loo_stream

    data = _stream(source, batch_rows, config)
    with err.status(f"scanning {source.data}"):
        scan = data.scan()
    distributed.start(config.device)
    result = {"protocol": "loo", **evaluate_loo_stream(data, config, scan=scan, max_users=users,
                                                       seed=config.seed)}  # fmt: skip
    distributed.stop()
    if not distributed.is_main():
        return
    result.update(stream=True, batch_rows=batch_rows, **_stream_rows(scan))
    if json:
        emit_json(result)
        return
    table = Table(title=f"loo protocol on {source.data} (streamed)")
    table.add_column("model")
    keys = ["recall@10", "ndcg@10", "hit@10", "coverage"]
    for key in keys:
        table.add_column(key, justify="right")
    table.add_row("DeepFM", *(f"{result[key]:.4f}" for key in keys))
    out.print(table)


def _cached_ranker(ws, config: RankerConfig):
    """The LOO scorer that trains through the workspace, so a second evaluate reuses the model.

    Built on demand: importing the ranker loads torch, which other commands do not need.
    """
    from rag_recs.evaluation.protocols import RankerScorer

    class CachedRanker(RankerScorer):
        def train(self, train):
            return ws.ranker(train, self.config)[0]

    return CachedRanker(config)


# every command, registered in one place and one way
for _command in (train, evaluate, demo, ask, chat, recommend, index, search, serve):
    app.command()(_command)


def run() -> None:
    """Console-script entry point: errors become exit codes, no traceback for user mistakes.

    Under torchrun only rank 0 writes stdout (the others' goes to the null device), and the
    process group, if a command joined one, is left on the way out.
    """
    logging.captureWarnings(True)
    if not distributed.is_main():
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    try:
        app()  # usage errors are handled inside (exit code 2); ours propagate to here
    except RagRecsError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug, not a user mistake: short message, traceback on request
        if os.environ.get("RAG_RECS_DEBUG"):
            raise
        err.print(
            f"internal error: {type(exc).__name__}: {exc} (set RAG_RECS_DEBUG=1 for details)",
            markup=False,
            soft_wrap=True,
        )
        sys.exit(1)
    finally:
        distributed.stop()


if __name__ == "__main__":
    run()
