"""LLM settings: one backend string plus generation, timeout and retry knobs."""

from __future__ import annotations

import re
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rag_recs.llm.errors import LLMError

BACKENDS = ("local", "none", "llamacpp", "hf-endpoint", "hf-local", "ollama", "openai")
BACKEND_FORMS = (
    "local, none, llamacpp:/path/model.gguf, hf-endpoint:<repo id or URL>, "
    "hf-local:<model id or path>, ollama:<model>[@<url>], openai:<model>[@<base url>]"
)
_NEEDS_TARGET = {
    "llamacpp": "llamacpp:/path/model.gguf",
    "hf-endpoint": "hf-endpoint:<repo id or endpoint URL>, e.g. "
    "hf-endpoint:mistralai/Mistral-7B-Instruct-v0.2",
    "hf-local": "hf-local:<model id or path>",
    "ollama": "ollama:<model>[@<url>], e.g. ollama:mistral",
    "openai": "openai:<model>[@<base url>], e.g. openai:mistral-7b@http://127.0.0.1:8000/v1",
}
_AT_URL = re.compile(r"^(?P<model>.*?)@(?P<url>https?://\S+)$")


class BackendSpec(NamedTuple):
    """A parsed backend string: kind, its model (path, id or name) and an optional server URL."""

    kind: str
    target: str | None = None
    base_url: str | None = None


def parse_backend(spec: str) -> BackendSpec:
    """Split ``kind[:target][@url]`` into its parts, or raise LLMError naming the valid forms."""
    text = (spec or "").strip()
    kind, _, rest = text.partition(":")
    kind, rest = kind.strip().lower(), rest.strip()
    if kind not in BACKENDS:
        raise LLMError(f"unknown LLM backend '{spec}': use one of {BACKEND_FORMS}")
    if kind in ("local", "none"):
        if rest:
            raise LLMError(f"the {kind} backend takes no argument (got '{spec}')")
        return BackendSpec(kind)
    if not rest:
        raise LLMError(f"the {kind} backend needs a model: {_NEEDS_TARGET[kind]}")
    if kind in ("ollama", "openai") and (match := _AT_URL.match(rest)):
        return BackendSpec(kind, match["model"].strip(), match["url"])
    return BackendSpec(kind, rest)


class LLMConfig(BaseModel):
    """Which LLM answers, and how: deterministic by default (temperature 0, fixed seed)."""

    model_config = ConfigDict(extra="forbid")

    backend: str = Field("local", description=f"one of {BACKEND_FORMS}")
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy, reproducible")
    max_tokens: int = Field(512, ge=1, description="most tokens generated per answer")
    timeout_s: float = Field(120.0, gt=0, description="per request, for server backends")
    max_retries: int = Field(2, ge=0, description="retries on connection errors and timeouts")
    n_ctx: int = Field(4096, ge=256, description="llama.cpp context window in tokens")
    seed: int = 0
    n_threads: int | None = Field(
        None, ge=1, description="llama.cpp threads; None = half the CPU cores"
    )
    n_batch: int = Field(512, ge=1, description="llama.cpp prompt tokens evaluated per batch")
    n_gpu_layers: int = Field(0, ge=-1, description="llama.cpp layers on the GPU; -1 = all")
    base_url: str | None = Field(None, description="server URL; overrides a '@url' in backend")

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        """Reject a malformed backend string when the config is made, not at first use."""
        parse_backend(value)
        return value.strip()

    @property
    def spec(self) -> BackendSpec:
        """The parsed backend, with ``base_url`` applied."""
        parsed = parse_backend(self.backend)
        return parsed._replace(base_url=self.base_url) if self.base_url else parsed
