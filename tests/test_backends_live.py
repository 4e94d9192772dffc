"""The server backends run for real, offline: llama.cpp's OpenAI-compatible server with the
packaged SmolLM2, reached through ``openai:MODEL@URL`` and ``hf-endpoint:URL``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import free_port, seen_sets, wait_until_up

from rag_recs.assistant import Assistant, AssistantConfig
from rag_recs.llm import build_llm
from rag_recs.llm.backends.llamacpp import smollm2_path

pytest.importorskip("llama_cpp.server")
pytest.importorskip("langchain_openai")


@pytest.fixture(scope="module")
def server():
    """``python -m llama_cpp.server`` on a free 127.0.0.1 port, started and stopped here."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path())]
    command += ["--host", "127.0.0.1", "--port", str(port), "--model_alias", "smollm2"]
    command += ["--n_ctx", "4096", "--seed", "7", "--logits_all", "true"]  # logprobs need it
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, OMP_NUM_THREADS="2"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/v1/models", proc, 120, "the llama.cpp server")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def _ask(small_data, small_ranker, spec: str, **config):
    llm = build_llm(spec, max_retries=0)
    assistant = Assistant(small_data, small_ranker, llm=llm, config=AssistantConfig(**config))
    user = small_data.user_index[2]
    answer = assistant.ask(f"suggest 3 items for user {user}, with a reason")
    ids = [i.item_id for i in answer.items]
    assert len(ids) == 3 == len(set(ids))
    assert set(ids) <= set(small_data.catalog)
    assert not set(ids) & seen_sets(small_data)[user]
    assert not any("LLM failed" in note for note in answer.notes), answer.notes
    return answer


def test_openai_backend_through_a_local_server(server, small_data, small_ranker):
    """Schema-constrained output: every proposal is a pool item the user has not seen."""
    answer = _ask(small_data, small_ranker, f"openai:smollm2@{server}/v1")
    assert answer.proposed >= 1
    assert "unparsed" not in {r.reason for r in answer.rejected}


def test_openai_backend_ranks_a_lettered_pool_by_its_logprobs(server, small_data, small_ranker):
    """The server's top_logprobs for the first answer token rank the pool: k proposals, no
    repeats, nothing invented."""
    answer = _ask(small_data, small_ranker, f"openai:smollm2@{server}/v1", llm_mode="labels")
    assert answer.proposed == 3
    assert not {r.reason for r in answer.rejected} & {"duplicate", "unknown", "unparsed"}


def test_hf_endpoint_backend_through_a_local_server(server, small_data, small_ranker):
    """ChatHuggingFace over HuggingFaceEndpoint(endpoint_url=...): it talks to the server's
    OpenAI-style chat route; output is not constrained, so what cannot be read is rejected."""
    answer = _ask(small_data, small_ranker, f"hf-endpoint:{server}")
    assert answer.proposed >= 1 or "unparsed" in {r.reason for r in answer.rejected}
