"""The ``rag-recs`` command line: the commands by group (assistant, retrieval, serve, main),
every shared option declared once in :mod:`rag_recs.cli.common`."""
