"""The ``rag-recs`` command line: the commands by group (assistant, retrieval, serve, main),
every shared option declared once in :mod:`rag_recs.cli.common`.

A command is one short process that imports large libraries (torch, chromadb, pandas: about a
hundred thousand objects). Python's cyclic collector, at its default threshold of 700
allocations, walks them again and again while they load (about a sixth of a repeated ``ask``'s
CPU), so the command line collects 14 times less often; :func:`rag_recs.cli.main.run` freezes
what is left before exiting, so that the interpreter's last collection skips it.
"""

import gc

gc.set_threshold(10_000, 10, 10)
