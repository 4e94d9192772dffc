"""Calling a chat model safely: constrained output where the backend has it, retries on
connection errors, and a one-line LLMError when the server cannot be reached."""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel

from rag_recs.llm.backends._util import RETRIES_KEY
from rag_recs.llm.errors import LLMError
from rag_recs.llm.schema import pool_schema

CONSTRAINED = frozenset({"ChatLlamaCpp", "ChatOpenAI", "ChatOllama"})
"""Chat models whose structured output constrains decoding (grammar / JSON schema), not only
asks for it; others are prompted for JSON and parsed leniently."""

_UNREACHABLE_NAMES = ("ConnectError", "ConnectionError", "TimeoutError", "TransportError")


def supports_constrained_output(llm: BaseChatModel) -> bool:
    """True when the model's backend can be forced to emit only schema-valid JSON."""
    return any(cls.__name__ in CONSTRAINED for cls in type(llm).__mro__)


def message_text(message: BaseMessage) -> str:
    """The answer text of a message: tool-call arguments as JSON when present, else content."""
    tool_calls = getattr(message, "tool_calls", None) or []
    if tool_calls:
        return json.dumps(tool_calls[0]["args"], ensure_ascii=False)
    invalid = getattr(message, "invalid_tool_calls", None) or []
    if invalid and invalid[0].get("args"):
        return str(invalid[0]["args"])
    return message.text


def _unreachable(exc: BaseException) -> bool:
    """A connection failure or timeout, whichever HTTP client raised it."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    return any(cls.__name__.endswith(_UNREACHABLE_NAMES) for cls in type(exc).__mro__)


def _retried(runnable: Runnable, llm: BaseChatModel) -> Runnable:
    """Wrap with retries on connection errors where the model's own client does not retry."""
    retries = int((llm.metadata or {}).get(RETRIES_KEY, 0))
    if retries <= 0:
        return runnable
    transient = tuple({ConnectionError, TimeoutError, OSError} | _client_errors())
    return runnable.with_retry(
        retry_if_exception_type=transient,
        stop_after_attempt=retries + 1,
        exponential_jitter_params={"max": 10.0, "jitter": 0.5},
    )


def _client_errors() -> set[type[BaseException]]:
    """Transport errors of the HTTP clients the server backends use (httpx), if installed."""
    try:
        import httpx
    except ImportError:
        return set()
    return {httpx.TransportError}


def _as_llm_error(exc: Exception, llm: BaseChatModel) -> Exception:
    """A one-line LLMError for an unreachable server; other errors are returned unchanged."""
    if not _unreachable(exc):
        return exc
    first = (str(exc).splitlines() or [type(exc).__name__])[0]
    return LLMError(
        f"the LLM server could not be reached ({type(llm).__name__}: {first}): check that it "
        "is running and its URL, or choose another backend (--llm local, or none)"
    )


@contextmanager
def _one_line_errors(llm: BaseChatModel) -> Iterator[None]:
    """An unreachable server becomes a one-line LLMError; other errors pass unchanged."""
    try:
        yield
    except Exception as exc:
        error = _as_llm_error(exc, llm)
        if error is exc:
            raise
        raise error from exc


def invoke_text(
    llm: BaseChatModel,
    messages: list[BaseMessage],
    pool: Mapping[Hashable, str] | None = None,
    k: int = 1,
    structured: bool | None = None,
    schema: type[BaseModel] | None = None,
) -> str:
    """Run the model once and return its answer text; with a pool (or another ``schema``) and a
    constraining backend (or ``structured=True``) the output is restricted to
    ``pool_schema(pool, k)`` (or to ``schema``)."""
    runnable: Runnable = llm
    constrained = supports_constrained_output(llm) if structured is None else structured
    if schema is None and pool:
        schema = pool_schema(pool, k)
    if constrained and schema is not None:
        try:
            runnable = llm.with_structured_output(schema, include_raw=True)
        except NotImplementedError:
            runnable = llm
    try:
        with _one_line_errors(llm):
            out: Any = _retried(runnable, llm).invoke(messages)
    except Exception as exc:
        if runnable is llm or not _schema_refused(exc, llm):
            raise
        # an OpenAI-compatible server without the json_schema response format: llama.cpp's
        # takes the schema inside a json_object format and still constrains decoding to it
        json_schema = (schema or pool_schema(pool or {}, k)).model_json_schema()
        json_mode = llm.bind(response_format={"type": "json_object", "schema": json_schema})
        with _one_line_errors(llm):
            out = _retried(json_mode, llm).invoke(messages)
    return message_text(out["raw"] if isinstance(out, dict) else out)


def _schema_refused(exc: Exception, llm: BaseChatModel) -> bool:
    """An OpenAI-compatible server that rejected the ``json_schema`` response format."""
    is_openai = any(cls.__name__ == "ChatOpenAI" for cls in type(llm).__mro__)
    return is_openai and "response_format" in str(exc)


def stream_text(llm: BaseChatModel, messages: list[BaseMessage]) -> Iterator[str]:
    """The model's answer as text pieces while it is generated (one piece if it cannot stream).

    A connection error before the first piece is retried as :func:`invoke_text` would; once
    text has come, an error ends the stream (a retry would repeat what was shown). An answer
    given as a tool call comes as its arguments' JSON."""
    attempts = int((llm.metadata or {}).get(RETRIES_KEY, 0)) + 1
    for attempt in range(attempts):
        started, whole = False, None
        try:
            with _one_line_errors(llm):
                for chunk in llm.stream(messages):
                    whole = chunk if whole is None else whole + chunk
                    if text := chunk.text:
                        started = True
                        yield text
            if not started and whole is not None and (text := message_text(whole)):
                yield text  # an answer given as a tool call: its arguments, in one piece
            return
        except LLMError:
            if started or attempt == attempts - 1:
                raise
        except ValueError as exc:  # langchain-core's word for a stream that yielded nothing
            if started or "no generation chunks" not in str(exc).lower():
                raise
            return
