"""rag-recs: a recommendation assistant whose every suggestion is checked by a trained ranker."""

import warnings
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rag-recs")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

# tqdm.auto, imported by the embedding libraries, warns in a notebook without ipywidgets; the
# progress bars fall back to text, so the warning says nothing a user can act on.
warnings.filterwarnings("ignore", message="IProgress not found")

from rag_recs.errors import DataError, ModelError, RagRecsError  # noqa: E402

__all__ = ["DataError", "ModelError", "RagRecsError", "__version__"]
