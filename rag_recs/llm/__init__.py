"""The LLM side: backends chosen by one string, prompts as files, and a retrieval chain whose
answers are parsed (or schema-constrained) into Proposals for the ranker to check."""

from rag_recs.llm.backends import build_llm
from rag_recs.llm.chain import make_chain
from rag_recs.llm.config import LLMConfig
from rag_recs.llm.errors import LLMError, PromptError
from rag_recs.llm.prompts import load_prompt
from rag_recs.llm.schema import Candidate, Proposal

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
