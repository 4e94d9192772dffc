"""Prompt templates as editable files: ``<name>.system.txt`` and ``<name>.human.txt``, read at
run time from $RAG_RECS_PROMPTS, the source tree's ``prompts/`` or the installed data files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from langchain_core.prompts import ChatPromptTemplate

import rag_recs
from rag_recs.llm.errors import PromptError

ENV_VARIABLE = "RAG_RECS_PROMPTS"
PARTS = ("system", "human")
VARIABLES: dict[str, frozenset[str]] = {
    "recommend": frozenset({"context", "evidence", "candidates", "question", "k", "noun"}),
    "pick": frozenset({"context", "evidence", "candidates", "question"}),
    "extract": frozenset({"genres", "genre_a", "genre_b", "question"}),
    "facts": frozenset({"facts", "question"}),
}
"""The variables the code fills for each prompt it ships; an edited file must keep them all."""


def prompt_dirs() -> list[Path]:
    """Where prompts are looked for, first match wins."""
    dirs = [Path(rag_recs.__file__).resolve().parents[1] / "prompts"]
    dirs.append(Path(sys.prefix) / "share" / "rag-recs" / "prompts")
    override = os.environ.get(ENV_VARIABLE)
    if override:
        folder = Path(override).expanduser()
        if not folder.is_dir():
            raise PromptError(f"{ENV_VARIABLE}={override} is not a directory")
        dirs.insert(0, folder)
    return dirs


def prompt_files(name: str) -> dict[str, Path]:
    """The system and human files of prompt ``name``, both from the first folder that has it."""
    dirs = prompt_dirs()
    for folder in dirs:
        files = {part: folder / f"{name}.{part}.txt" for part in PARTS}
        present = [p for p in files.values() if p.is_file()]
        if len(present) == len(files):
            return files
        if present:
            missing = next(p for p in files.values() if not p.is_file())
            raise PromptError(f"prompt '{name}': {missing} is missing (found {present[0].name})")
    searched = ", ".join(str(d) for d in dirs)
    raise PromptError(
        f"prompt '{name}' not found: no {name}.system.txt / {name}.human.txt in {searched}"
    )


def load_prompt(name: str, required: frozenset[str] | set[str] | None = None) -> ChatPromptTemplate:
    """Read prompt ``name`` as a system + human ChatPromptTemplate (f-string variables) and check
    it uses exactly the variables the code fills (``required``, default: the shipped set)."""
    files = prompt_files(name)
    messages = []
    for part, path in files.items():
        try:
            text = path.read_text(encoding="utf-8")
            messages.append((part, text.strip("\n")))
            ChatPromptTemplate.from_messages([messages[-1]])
        except (OSError, UnicodeDecodeError) as exc:
            raise PromptError(f"cannot read prompt file {path}: {exc}") from exc
        except ValueError as exc:
            raise PromptError(
                f"prompt file {path} is not a valid template ({exc}); "
                "write literal braces as {{ and }}"
            ) from exc
    template = ChatPromptTemplate.from_messages(messages)
    expected = VARIABLES.get(name) if required is None else frozenset(required)
    if expected is not None:
        used = set(template.input_variables)
        if missing := sorted(expected - used):
            raise PromptError(
                f"prompt '{name}' ({files['human'].parent}) does not use "
                + ", ".join("{" + v + "}" for v in missing)
                + ": the code fills "
                + ", ".join("{" + v + "}" for v in sorted(expected))
            )
        if unknown := sorted(used - expected):
            raise PromptError(
                f"prompt '{name}' ({files['human'].parent}) uses unknown variables "
                + ", ".join("{" + v + "}" for v in unknown)
                + ": the code fills only "
                + ", ".join("{" + v + "}" for v in sorted(expected))
                + " (write literal braces as {{ and }})"
            )
    return template
