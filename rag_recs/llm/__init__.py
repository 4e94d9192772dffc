"""The LLM side: backends chosen by one string, prompts as files, and a retrieval chain whose
answers are parsed (or schema-constrained) into Proposals for the ranker to check.

Names are imported on first use: the chain and the backends pull in LangChain's runnables and
tracing, which a command that runs no LLM should not pay for at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag_recs.llm.backends import build_llm
    from rag_recs.llm.chain import make_chain
    from rag_recs.llm.config import LLMConfig
    from rag_recs.llm.errors import LLMError, PromptError
    from rag_recs.llm.prompts import load_prompt
    from rag_recs.llm.schema import Candidate, Proposal

_WHERE = {
    "Candidate": "schema",
    "LLMConfig": "config",
    "LLMError": "errors",
    "PromptError": "errors",
    "Proposal": "schema",
    "build_llm": "backends",
    "load_prompt": "prompts",
    "make_chain": "chain",
}
__all__ = [
    "Candidate",
    "LLMConfig",
    "LLMError",
    "PromptError",
    "Proposal",
    "build_llm",
    "load_prompt",
    "make_chain",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'rag_recs.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(f"rag_recs.llm.{_WHERE[name]}"), name)
