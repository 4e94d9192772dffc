"""``python -m rag_recs`` is the ``rag-recs`` command (so ``torchrun -m rag_recs ...`` works)."""

from rag_recs.cli.main import entry

entry()
