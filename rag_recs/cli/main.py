"""``rag-recs``: every command (train, evaluate, demo, ask, chat, recommend, index, search,
serve), registered in one place.

Exit codes: 0 success, 2 bad input (one clear line on stderr), 1 anything else.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
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
    AssistantOptions,
    BatchRows,
    Categorical,
    DeviceOpt,
    Json,
    Numeric,
    Source,
    Stream,
    choice,
    choices,
    emit_json,
    err,
    out,
    row_counts,
    with_assistant,
    with_source,
)
from rag_recs.cli.retrieval import index, search
from rag_recs.cli.serve import serve
from rag_recs.config import EvalMode, EvalProtocol, Objective, RankerConfig
from rag_recs.errors import DataError, RagRecsError
from rag_recs.workspace import Workspace

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


@with_source
@with_assistant("workspace", "user_rows")
def train(
    source: Source,
    options: AssistantOptions,
    categorical: Categorical = None,
    numeric: Numeric = None,
    objective: Annotated[
        str,
        typer.Option(help=choices(Objective), callback=choice("--objective", Objective)),
    ] = "auto",
    retrain: Annotated[
        bool, typer.Option(help="Train even if the workspace has this model.")
    ] = False,
    device: DeviceOpt = "auto",
    stream: Stream = False,
    batch_rows: BatchRows = 1 << 16,
    json: Json = False,
) -> None:
    """Train the DeepFM ranker on --data and cache it in the workspace."""
    config = options.ranker_config(
        json,
        device=device,
        categorical=categorical or [],
        numeric=numeric or [],
        objective=objective,
    )
    ws = Workspace(options.workspace)
    if stream:
        _train_stream(source, config, ws, retrain, batch_rows, json)
        return
    dataset = source.load()
    distributed.start(config.device)  # under torchrun: the ranks train together
    start = time.perf_counter()
    ranker, trained = ws.ranker(dataset, config, retrain=retrain)
    path = ws.ranker_dir(dataset, config)
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
@with_assistant("llm", "workspace", "user_rows")
def evaluate(
    source: Source,
    options: AssistantOptions,
    protocol: Annotated[
        str,
        typer.Option(
            help="ctr (AUC, logloss) or loo (leave-one-out top-K)",
            callback=choice("--protocol", EvalProtocol),
        ),
    ] = "loo",
    mode: Annotated[
        str,
        typer.Option(
            help="What answers (loo): ranker, llm (the LLM alone), random (k at random from the "
            "assistant's pool), llm-rerank (the LLM reordering the ranker's top 20) or assistant.",
            callback=choice("--mode", EvalMode),
        ),
    ] = "ranker",
    users: Annotated[
        int | None, typer.Option("--users", help="Evaluate on N sampled users (loo).")
    ] = None,
    baselines: Annotated[
        bool, typer.Option(help="Also rank with popularity, ItemKNN, UserKNN (loo).")
    ] = False,
    categorical: Categorical = None,
    numeric: Numeric = None,
    device: DeviceOpt = "auto",
    stream: Stream = False,
    batch_rows: BatchRows = 1 << 16,
    json: Json = False,
) -> None:
    """Evaluate on a held-out split: --protocol ctr or loo (see docs/protocols.md)."""
    # the run itself is rag_recs.evaluation.run.evaluate (which notebooks call too)
    from rag_recs.evaluation.run import evaluate as run_evaluation
    from rag_recs.evaluation.run import evaluate_streamed

    config = options.ranker_config(
        json, device=device, categorical=categorical or [], numeric=numeric or []
    )
    if users is not None and users < 1:  # the flags are checked before the data is read
        raise DataError("--users must be at least 1")
    if mode != "ranker" and protocol != "loo":
        raise DataError(f"--mode {mode} runs on the loo protocol", hint="add --protocol loo")
    if stream:
        if protocol != "loo" or mode != "ranker" or baselines:
            raise DataError(
                "--stream evaluates the ranker on the loo protocol",
                hint="drop --protocol ctr, --mode and --baselines, or load the data in memory",
            )
        data = _stream(source, batch_rows, config)
        with err.status(f"scanning {source.data}"):
            scan = data.scan()
        config = config.model_copy(update={"objective": "implicit"})
        result = evaluate_streamed(data, config, users, scan=scan)
        if result is None:
            return
        result.update(stream=True, batch_rows=batch_rows, **row_counts(scan))
        rows, keys, title = [("DeepFM", result)], _LOO_KEYS, f"{source.data} (streamed)"
    else:
        dataset = source.load()
        run = run_evaluation(
            dataset,
            protocol=protocol,  # type: ignore[arg-type]
            mode=mode,  # type: ignore[arg-type]
            users=users,
            baselines=baselines,
            ranker_config=config,
            workspace=Workspace(options.workspace),
            llm=options.llm,
        )
        if run is None:  # a rank that only helped train
            return
        result = {**run.result, **row_counts(dataset)}
        rows, keys, title = run.rows, run.keys, dataset.name
    if json:
        emit_json(result)
        return
    if not rows:  # an assistant mode: its metrics, one a row
        table = Table(title=f"loo protocol, --mode {mode}, on {title}")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for key, value in result.items():
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
        out.print(table)
        return
    table = Table(title=f"{protocol} protocol on {title}")
    table.add_column("model")
    for key in keys:
        table.add_column(key, justify="right")
    for name, r in rows:
        table.add_row(name, *(f"{r[key]:.4f}" for key in keys))
    out.print(table)


_LOO_KEYS = ["recall@10", "ndcg@10", "hit@10", "coverage"]


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


def _train_stream(
    source: Source,
    config: RankerConfig,
    ws: Workspace,
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
        **row_counts(scan),
    }
    if json:
        emit_json(result)
        return
    verb = "trained" if trained else "reused"
    out.print(f"{verb} the ranker (streamed, {result['epochs']} epochs): {result['model_dir']}")


# every command, registered in one place and one way
for _command in (train, evaluate, demo, ask, chat, recommend, index, search, serve):
    app.command()(_command)


def run() -> None:
    """Console-script entry point: errors become exit codes, no traceback for user mistakes.

    Under torchrun only rank 0 writes stdout (the others' goes to the null device), and the
    process group, if a command joined one, is left on the way out.
    """
    logging.captureWarnings(True)
    # A command is one short process that imports large libraries (torch, chromadb: about a
    # hundred thousand objects). The cyclic collector, at its default threshold of 700
    # allocations, walks them again and again while they load: collect 14 times less often
    # while the command runs. (The last collection, at exit, is skipped by entry().)
    threshold = gc.get_threshold()
    gc.set_threshold(10_000, 10, 10)
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
        gc.set_threshold(*threshold)


def entry() -> None:
    """The ``rag-recs`` command (console script, ``python -m rag_recs``): :func:`run`, and the
    process ends once every exit handler but the interpreter's teardown has run.

    Tearing down torch's and chromadb's modules and objects one by one takes about 0.6 s after
    any command (a fifth of a repeated ask), memory the OS takes back at once. The exit
    handler registered here, before the command imports anything that registers its own, runs
    last (handlers run last-registered first): it flushes the output and logging, then ends
    the process with the command's status. Not for in-process calls (tests use :func:`run`).
    """
    status = [1]  # an exception that escapes run() exits 1, as Python would
    atexit.register(_leave, status)
    try:
        run()
        status[0] = 0
    except SystemExit as stop:
        code = stop.code
        status[0] = code if isinstance(code, int) else (0 if code is None else 1)
        raise


def _leave(status: list[int]) -> None:
    """End the process now: the other exit handlers have run, the output is flushed."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to write
            stream.flush()
    os._exit(status[0] & 0xFF)


if __name__ == "__main__":
    entry()
