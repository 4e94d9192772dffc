"""``rag-recs serve``: the assistant as an HTTP service (FastAPI under uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer

from rag_recs.cli.common import AssistantOptions, Source, err, with_assistant, with_source
from rag_recs.errors import DataError


@with_source
@with_assistant()
def serve(
    source: Source,
    options: AssistantOptions,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
) -> None:
    """Serve /ask, /recommend and /health over HTTP (OpenAPI docs at /docs)."""
    if not 0 < port < 65536:
        raise DataError(f"--port {port} is not a port number (1-65535)")
    from rag_recs.memory import few_arenas
    from rag_recs.serve import make_app

    few_arenas()  # before the request threads start: they would each get an arena

    assistant = options.build(source, False)
    app = make_app(assistant)
    import uvicorn

    err.print(f"serving {assistant.dataset.name} on http://{host}:{port} (docs at /docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
