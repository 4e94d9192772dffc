"""CLI commands of the assistant: demo, ask, chat, recommend."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from rag_recs.cli.common import (
    AssistantOptions,
    Json,
    Source,
    emit_json,
    err,
    out,
    with_assistant,
    with_source,
)
from rag_recs.errors import DataError
from rag_recs.workspace import Workspace

NOTEBOOK_QUESTION = (
    "Suggest 2 articles to user-id 78 using given data which it has not seen. Follow this "
    "approach 1: Find similar Users and 2: suggest new articles from similar users. Also give a "
    "reason for suggestion"
)
CHAT_HELP = (
    "/user ID  switch user    /why N  explain item N of the last answer\n"
    "/k N      items per answer when a question gives no number\n"
    "/json     answers as JSON (again: off)    /reset  a new conversation    /quit  leave\n"
    "Or ask: 'suggest 3 comedies for user 5', 'why the second one?', 'something like X'"
)


def print_answer(answer: Any) -> None:
    """The answer as a table, with the rejected LLM candidates beside it."""
    if answer.message:
        out.print(answer.message, markup=False, highlight=False)
    if answer.items:
        noun = answer.items[0].evidence.noun
        table = Table(title=f"{noun.capitalize()} for user {answer.user}", show_lines=True)
        for col in ("#", "item", "title", "rank (unseen)", "from", "reason"):
            table.add_column(col, overflow="fold")
        for n, item in enumerate(answer.items, 1):
            table.add_row(
                str(n),
                escape(str(item.item_id)),
                escape(item.title),
                _rank(item.evidence),
                item.source,
                escape(item.reason),
            )
        rejected = Table(title="Rejected LLM candidates")
        for col in ("candidate", "reason", "detail"):
            rejected.add_column(col, overflow="fold")
        for r in answer.rejected:
            label = str(r.item_id) if r.item_id is not None else repr(r.text)
            rejected.add_row(escape(label), r.reason, escape(r.detail))
        if not answer.rejected:
            rejected.add_row("-", "none", "every proposal passed validation")
        if out.width >= 150:  # side by side where the terminal is wide enough
            grid = Table.grid(padding=2)
            grid.add_row(table, rejected)
            out.print(grid)
        else:
            out.print(table)
            out.print(rejected)
    if answer.similar_users:
        sims = ", ".join(f"{n.user_id} ({n.jaccard:.2f})" for n in answer.similar_users[:10])
        out.print(f"similar users (exact Jaccard): {sims}", style="dim", markup=False)
    for note in answer.notes:
        out.print(f"note: {note}", style="dim", markup=False)


def _rank(evidence: Any) -> str:
    """The ranker's number as a person reads it: the item's rank among the unseen items."""
    return f"{evidence.rank} of {evidence.unseen}" if evidence.rank is not None else "-"


@with_assistant("llm", "workspace")
def demo(
    options: AssistantOptions,
    question: Annotated[str, typer.Option(help="The question to answer.")] = NOTEBOOK_QUESTION,
    json: Json = False,
) -> None:
    """Build everything on the generated data (offline defaults) and answer a question."""
    assistant = options.build(Source(), json)
    answer = assistant.ask(question)
    if json:
        emit_json(answer.to_dict())
        return
    out.print(f"[bold]Q:[/bold] {question}")
    print_answer(answer)


@with_source
@with_assistant()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in plain language.")],
    source: Source,
    options: AssistantOptions,
    json: Json = False,
) -> None:
    """Answer one question: validated, ranker-ordered items with computed reasons."""
    if not question.strip():
        raise DataError("the question is empty")
    start = time.perf_counter()
    assistant = options.build(source, json)
    answer = assistant.ask(question)
    answer.timings["process"] = time.perf_counter() - start
    if json:
        emit_json(answer.to_dict())
    else:
        print_answer(answer)


@with_source
@with_assistant()
def chat(source: Source, options: AssistantOptions) -> None:
    """A conversation: ask, follow up ('why the second one?'), switch users with /user.

    When the LLM writes (``--llm-mode generate``), its words are shown as they come."""
    assistant = options.build(source, False)
    assistant.stream_to = _show_llm_words

    from rag_recs.assistant.intent import MAX_K

    out.print("rag-recs chat. Type a question, /help for commands, /quit to leave.")
    _line_editing()
    as_json = False
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            break
        if not line:
            continue
        if line in ("/quit", "/exit", "/q"):
            break
        if line == "/help":
            out.print(CHAT_HELP, markup=False, highlight=False)
            continue
        if line == "/json":
            as_json = not as_json
            out.print(f"JSON answers {'on' if as_json else 'off'}")
            continue
        if line == "/reset":
            assistant = assistant.conversation()
            assistant.stream_to = _show_llm_words
            out.print("new conversation: no user, no earlier answers")
            continue
        if line.startswith("/k"):
            value = line[2:].strip()
            if not value.isdigit() or not 1 <= int(value) <= MAX_K:
                out.print(f"error: /k takes a number of items from 1 to {MAX_K}", markup=False)
                continue
            assistant.config = assistant.config.model_copy(update={"default_k": int(value)})
            out.print(f"questions without a number now get {value} items")
            continue
        if line.startswith("/user"):
            parts = line.split(maxsplit=1)
            try:
                chosen = assistant.use_user(parts[1] if len(parts) > 1 else "")
                out.print(f"now recommending for user {chosen}")
            except Exception as exc:  # noqa: BLE001 - keep the conversation going
                out.print(f"error: {exc}", markup=False)
            continue
        if line.startswith("/why"):
            line = f"why #{line[4:].strip() or 1}"
        try:
            answer = assistant.ask(line)
        except Exception as exc:  # noqa: BLE001 - a bad turn never ends the chat
            out.print(f"error: {exc}", markup=False)
            continue
        if as_json:
            out.print_json(data=answer.to_dict())
        else:
            _stream(answer)


def _line_editing() -> None:
    """Arrow keys and the session's earlier lines at the prompt, where the platform has GNU
    readline (importing it is what turns it on for ``input``)."""
    with contextlib.suppress(ImportError):  # e.g. Windows: plain input still works
        import readline  # noqa: F401


@with_source
@with_assistant("workspace", "user_rows")
def recommend(
    source: Source,
    options: AssistantOptions,
    users: Annotated[
        str, typer.Option("--users", help="'all' or a file with one user id a line.")
    ] = "all",
    k: Annotated[int, typer.Option("--k", help="Items per user.")] = 10,
    out_path: Annotated[Path, typer.Option("--out", help="Output .csv or .parquet.")] = Path(
        "recommendations.csv"
    ),
    json: Json = False,
) -> None:
    """Batch export: the ranker's top-k unseen items for many users, as a file."""
    import numpy as np
    import pandas as pd

    if k < 1:
        raise DataError("--k must be at least 1")
    suffix = out_path.suffix.lower()
    if out_path.is_dir():
        raise DataError("is a directory", source=str(out_path), hint="give a file name")
    if suffix not in (".csv", ".parquet"):
        raise DataError("--out must end in .csv or .parquet", source=str(out_path))
    dataset = source.load()
    if not dataset.has_users:
        raise DataError("recommend needs user and item columns", source=dataset.name)
    with err.status("preparing the ranker (first use trains once)"):
        ranker, _ = Workspace(options.workspace).ranker(dataset, options.ranker_config(json))
    if users == "all":
        wanted = list(dataset.user_index)
    else:
        path = Path(users)
        if not path.exists():
            raise DataError("no such file", source=users, hint="give 'all' or a file of user ids")
        wanted = [x.strip() for x in path.read_text().splitlines() if x.strip()]
    resolved = [ranker.index.resolve_user(u) for u in wanted]
    with err.status(f"recommending for {len(resolved):,} users"):
        rows = np.array([ranker.user_row(u) for u in resolved], np.int64)
        best, logits = ranker.top_k_rows(rows, k)  # chunks of users: memory stays bounded
    found = np.isfinite(logits)
    who, rank = np.nonzero(found)
    items = [ranker.item_id(int(r)) for r in best[found]]
    frame = pd.DataFrame(
        {
            "user_id": [resolved[w] for w in who],
            "rank": rank + 1,
            "item_id": items,
            "title": [dataset.title(i) for i in items],
            "score": 1.0 / (1.0 + np.exp(-logits[found].astype(np.float64))),
        }
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, suffix=suffix)  # atomic: no half file
    os.close(fd)
    try:
        frame.to_csv(tmp, index=False) if suffix == ".csv" else frame.to_parquet(tmp, index=False)
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    result = {"out": str(out_path), "users": len(resolved), "rows": len(frame), "k": k}
    if json:
        emit_json(result)
    else:
        out.print(f"wrote {len(frame):,} rows for {len(resolved):,} users to {out_path}")


def _show_llm_words(text: str) -> None:
    """The LLM's words as it writes them, dimmed, before the checked answer."""
    out.print(text, end="", style="dim", markup=False, highlight=False)


def _stream(answer: Any) -> None:
    """Print an answer line by line as it is formatted (chat)."""
    for line in str(answer).splitlines():
        out.print(line, markup=False, highlight=False)
