"""The default static model, embedded without sentence-transformers.

A static model's vector of a text is the mean of its word pieces' rows, normalised: the
tokenizer (``tokenizers``, Rust) and one ``embedding_bag`` do all of it. Loading it through
``HuggingFaceEmbeddings`` imports transformers and sentence-transformers first, several
seconds of CPU on the first ``index`` or ``ask``, for a table look-up; this class reads the same
two files (``tokenizer.json``, ``model.safetensors``) and computes what sentence-transformers'
``StaticEmbedding`` + ``Normalize`` modules compute, in the same dtype (tested against it).
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from langchain_core.embeddings import Embeddings
from safetensors.torch import load_file
from tokenizers import Tokenizer

WEIGHTS = "0.embedding.weight"  # the StaticEmbedding module's table, as distill.py saves it


class StaticEmbeddings(Embeddings):
    """LangChain embeddings over a static model directory written by :mod:`distill`."""

    def __init__(self, directory: str | Path, batch_size: int = 4096) -> None:
        directory = Path(directory)
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()  # as StaticEmbedding does; truncation stays as saved
        weights = load_file(str(directory / "model.safetensors"))
        self.weight = weights.get(WEIGHTS, weights.get("embedding.weight"))  # [vocab, dim]
        if self.weight is None:
            raise ValueError(f"{directory}: no embedding table in model.safetensors")
        self.batch_size = batch_size

    @torch.inference_mode()
    def _embed(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for lo in range(0, len(texts), self.batch_size):
            batch = self.tokenizer.encode_batch(texts[lo : lo + self.batch_size],
                                                add_special_tokens=False)  # fmt: skip
            pieces = [e.ids for e in batch]
            lengths = np.fromiter(map(len, pieces), np.int64, len(pieces))
            flat = np.fromiter(chain.from_iterable(pieces), np.int64, int(lengths.sum()))
            ids = torch.from_numpy(flat)
            offsets = torch.from_numpy(np.r_[0, np.cumsum(lengths)[:-1]])
            vectors = F.embedding_bag(ids, self.weight, offsets, mode="mean")  # [n, dim]
            vectors = F.normalize(F.normalize(vectors, p=2, dim=1), p=2, dim=1)
            out.extend(vectors.float().tolist())
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embed(list(texts))

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0]
