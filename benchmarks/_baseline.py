"""Run a snippet against an earlier commit of the package, for same-run speed comparisons.

The package as it was at ``ref`` is extracted with ``git archive`` into a temporary directory
and imported from there (the dependencies are this environment's), so "today's code" in a
comparison table is exactly what that commit shipped, not a re-creation of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def package_at(ref: str) -> Iterator[Path]:
    """A directory holding ``rag_recs/`` as it was at git ``ref``."""
    with tempfile.TemporaryDirectory(prefix="rag-recs-baseline-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "rag_recs", "prompts"],
            capture_output=True,
            check=True,
        )
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        yield Path(tmp)


def run_json(code: str, package_root: Path, timeout: float = 3600) -> dict:
    """Run ``code`` in a fresh interpreter importing ``rag_recs`` from ``package_root``; the
    snippet prints one JSON object as its last line."""
    env = dict(os.environ, PYTHONPATH=str(package_root), PYTHONWARNINGS="ignore")
    env["RAG_RECS_PROMPTS"] = str(package_root / "prompts")
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=package_root,
        timeout=timeout,
    )
    if proc.returncode:
        raise RuntimeError(f"baseline run failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
