"""``rag-recs serve``: the assistant over HTTP, loaded once, answering requests concurrently.

Every request is its own conversation (:meth:`Assistant.conversation`): requests run in
FastAPI's thread pool at the same time, while the LLM generates for one request at a time.
Bad requests get a 4xx with one line (``{"error": ...}``): 404 for an unknown user, 422 for a
malformed body, 400 for anything else the assistant refuses.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from rag_recs.assistant import Assistant
from rag_recs.assistant.intent import MAX_K
from rag_recs.errors import RagRecsError, UnknownUser


class AskRequest(BaseModel):
    question: str = Field(min_length=1, description="A question in plain language.")


class RecommendRequest(BaseModel):
    user: int | str = Field(description="The user's id, as in the data.")
    k: int = Field(10, ge=1, le=MAX_K, description="How many items.")
    include: list[str] = Field(default_factory=list, description="Genres or topics to keep.")
    exclude: list[str] = Field(default_factory=list, description="Genres or topics to drop.")


def make_app(assistant: Assistant) -> Any:
    """The FastAPI application around ``assistant`` (OpenAPI docs at ``/docs``, offline)."""
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError:
        raise RagRecsError(
            "rag-recs serve needs FastAPI, fastapi-offline and uvicorn: "
            "pip install 'rag-recs[serve]'"
        ) from None
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    # FastAPI's own /docs page loads Swagger UI from a CDN (blank offline); fastapi-offline
    # serves the same page with its scripts, styles and favicon from the installed package
    app = FastAPIOffline(
        title="rag-recs",
        summary="Recommendations checked and ordered by a DeepFM ranker.",
    )

    @app.exception_handler(RagRecsError)
    def refused(request: Any, exc: RagRecsError) -> Any:
        status = 404 if isinstance(exc, UnknownUser) else 400
        return JSONResponse({"error": _one_line(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    def malformed(request: Any, exc: Any) -> Any:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return JSONResponse(
            {"error": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=422
        )

    @app.get("/health")
    def health() -> dict[str, Any]:
        """200 once the service is ready (it starts listening only then)."""
        return {"status": "ready", "data": assistant.dataset.name, "llm": _llm_name(assistant)}

    @app.post("/ask")
    def ask(request: AskRequest) -> dict[str, Any]:
        """The ``rag-recs ask --json`` answer to one question (its own conversation)."""
        return assistant.conversation().ask(request.question).to_dict()

    @app.post("/recommend")
    def recommend(request: RecommendRequest) -> dict[str, Any]:
        """Top-``k`` unseen items for ``user`` meeting the constraints, with reasons."""
        answer = assistant.conversation().recommend(
            request.user, request.k, include=request.include, exclude=request.exclude
        )
        return answer.to_dict()

    return app


def _one_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _llm_name(assistant: Assistant) -> str:
    return "none" if assistant.llm is None else type(assistant.llm).__name__
