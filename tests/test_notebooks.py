"""The notebooks run top to bottom on a kernel of this interpreter, small and offline.

Each notebook reads its parameters from environment variables (RAG_RECS_NOTEBOOK_*), which the
kernel inherits; RAG_RECS_WORKSPACE (set by conftest) keeps every model and store in a temp dir.
The MovieLens notebook needs RAG_RECS_ML100K and is skipped without it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNEL = "rag-recs-tests"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory) -> str:
    """A kernel spec for this very interpreter, found through JUPYTER_PATH (nothing installed)."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "rag-recs tests",
                "language": "python",
            }
        )
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root))
        mp.setenv("OMP_NUM_THREADS", "1")  # small shared machine: one thread each
        mp.setenv("PYTHONWARNINGS", "ignore")
        yield KERNEL


def execute(name: str, kernel: str, cwd: Path, timeout: int) -> tuple[object, float]:
    """Run every cell; a failing cell raises CellExecutionError naming the cell and the error."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=kernel,
        timeout=timeout,
        resources={"metadata": {"path": str(cwd)}},
    )
    start = time.perf_counter()
    client.execute()
    return notebook, time.perf_counter() - start


def outputs(notebook) -> str:
    """All text the cells printed or displayed, as one string."""
    texts = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                texts.append(out["text"])
            elif "data" in out:
                texts.append(out["data"].get("text/plain", ""))
    return "\n".join(texts)


def test_quickstart(kernel, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RAG_RECS_NOTEBOOK_USERS", "100")
    monkeypatch.setenv("RAG_RECS_NOTEBOOK_EPOCHS", "3")
    monkeypatch.setenv("RAG_RECS_NOTEBOOK_LLM", os.environ.get("RAG_RECS_NOTEBOOK_LLM", "local"))
    notebook, seconds = execute("quickstart.ipynb", kernel, tmp_path, timeout=300)
    text = outputs(notebook)
    assert "n_ctx_per_seq" not in text  # llama.cpp's load note stays out of the cells
    assert "For user 78:" in text
    assert "Item 2, " in text  # the follow-up explained the second item
    assert "rejected because" in text
    print(f"quickstart.ipynb ran in {seconds:.0f} s")


@pytest.mark.timeout(1800)
@pytest.mark.skipif(not os.environ.get("RAG_RECS_ML100K"), reason="RAG_RECS_ML100K is not set")
def test_movielens(kernel, tmp_path, monkeypatch) -> None:
    # small and quick: 20 users, 3 epochs, exact overlap instead of indexing 9,681 documents
    monkeypatch.setenv("RAG_RECS_NOTEBOOK_STORE", "0")
    monkeypatch.setenv("RAG_RECS_NOTEBOOK_USERS", "20")
    monkeypatch.setenv("RAG_RECS_NOTEBOOK_EPOCHS", "3")
    monkeypatch.setenv("RAG_RECS_NOTEBOOK_LLM", os.environ.get("RAG_RECS_NOTEBOOK_LLM", "none"))
    notebook, seconds = execute("movielens.ipynb", kernel, tmp_path, timeout=1200)
    text = outputs(notebook)
    assert "recall@10" in text
    assert "For user" in text
    assert "Most like user 78" in text  # a data question, answered from computed facts
    assert "recomputed" in text  # a reason's figures beside their recomputation
    print(f"movielens.ipynb ran in {seconds:.0f} s")
