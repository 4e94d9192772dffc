#!/usr/bin/env bash
# Create the peer-library virtualenvs (.bench/deepctr, .bench/librec, .bench/recbole); skips a venv
# that already imports fine. Optional arguments name the venvs to make (default: all), e.g.
#   benchmarks/peers/setup_peers.sh recbole
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH="$ROOT/.bench"
PY="${PYTHON:-python3}"
TORCH_PIN="torch==2.13.0"  # CPU wheel; always installed first so nothing pulls a CUDA build

ONLY=("$@")

# make_venv NAME IMPORT_CHECK PACKAGE...
make_venv() {
    local name="$1" check="$2"
    shift 2
    if [[ ${#ONLY[@]} -gt 0 && " ${ONLY[*]} " != *" $name "* ]]; then
        return 0
    fi
    local venv="$BENCH/$name"
    if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
        echo "[$name] exists and imports fine, skipping" >&2
        return 0
    fi
    echo "[$name] creating $venv" >&2
    "$PY" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet "$TORCH_PIN"
    # Re-state the torch pin so the resolver can never swap it for another build.
    "$venv/bin/pip" install --quiet "$TORCH_PIN" "$@"
    "$venv/bin/python" -c "$check"
    "$venv/bin/python" -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
    echo "[$name] ready" >&2
}

mkdir -p "$BENCH"

make_venv deepctr \
    "import deepctr_torch, pandas, sklearn, torch; assert deepctr_torch.__version__ == '0.3.0'" \
    "deepctr-torch==0.3.0" "pandas" "scikit-learn" "tqdm" "requests" "packaging"  # requests: undeclared import

# LibRecommender's TF models still import torch (data loaders, torchops), so torch is needed here too.
make_venv librec \
    "import libreco, tensorflow, pandas, sklearn; from libreco.algorithms import DeepFM; assert libreco.__version__ == '1.5.2'" \
    "tensorflow-cpu<2.16" "numpy<2" "pandas<2.3" "LibRecommender==1.5.2" "scikit-learn" "scipy" "gensim"

# RecBole (top-K peers SASRec and LightGCN, benchmarks/peers/recbole_topk.py). scipy<1.13: LightGCN
# builds its graph with dok_matrix._update, removed in scipy 1.13. numpy<2 and pandas<2.3 are the
# versions it was checked with (it still uses pandas' chained inplace fillna). It installs ray<=2.6.3.
make_venv recbole \
    "import recbole, scipy, numpy, yaml; from recbole.model.sequential_recommender import SASRec; from recbole.model.general_recommender import LightGCN; from recbole.data import create_dataset; assert recbole.__version__ == '1.2.1'; assert tuple(map(int, scipy.__version__.split('.')[:2])) < (1, 13), scipy.__version__; assert numpy.__version__ < '2'" \
    "recbole==1.2.1" "numpy<2" "scipy<1.13" "pandas<2.3" "pyyaml"
