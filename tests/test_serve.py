"""``rag-recs serve`` for real: a uvicorn process answering concurrent HTTP requests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import free_port, seen_sets, wait_until_up

from rag_recs.data.synthetic import generate

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The service on a free port over a small generated CSV (``--llm none``), and its data."""
    root = tmp_path_factory.mktemp("serve")
    data = generate(n_users=60, n_items=40, mean_activity=10)
    path = root / "tiny.csv"
    data.interactions.to_csv(path, index=False)
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    command = [sys.executable, "-m", "rag_recs", "serve", "--data", str(path), "--llm", "none"]
    command += ["--workspace", str(root / "ws"), "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", proc, 300, "the service")
        seen = {int(u): {int(i) for i in items} for u, items in seen_sets(data).items()}
        yield url, seen
    finally:
        proc.terminate()
        proc.wait(30)


def test_health_and_openapi_docs(service):
    url, _ = service
    health = httpx.get(f"{url}/health").json()
    assert health["status"] == "ready" and health["llm"] == "none"
    assert httpx.get(f"{url}/docs").status_code == 200
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    assert {"/ask", "/recommend", "/health"} <= set(paths)


def test_docs_page_needs_nothing_from_outside(service):
    """/docs works offline: every script, style sheet and icon it references, and the OpenAPI
    document it loads, come from the service itself."""
    url, _ = service
    page = httpx.get(f"{url}/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:href|src)="([^"]+)"', page.text)
    assets += re.findall(r"url: '([^']+)'", page.text)
    kinds = {a.rsplit(".", 1)[-1] for a in assets}
    assert {"js", "css", "png", "json"} <= kinds, assets  # script, styles, favicon, the API
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by the app"
        answer = httpx.get(f"{url}{asset}")
        assert answer.status_code == 200 and answer.content, asset


def test_concurrent_requests_all_get_valid_answers(service):
    url, seen = service
    users = sorted(seen)[:16]

    def call(n: int) -> tuple[int, int, dict]:
        user, k = users[n % len(users)], 1 + n % 4
        if n % 2:
            reply = httpx.post(f"{url}/recommend", json={"user": user, "k": k}, timeout=60)
        else:
            question = f"Suggest {k} items to user {user} that they have not seen"
            reply = httpx.post(f"{url}/ask", json={"question": question}, timeout=60)
        return user, k, reply

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(64)))
    for user, k, reply in results:
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        assert answer["user"] == user
        items = [i["item_id"] for i in answer["items"]]
        assert len(items) == k == len(set(items))
        assert not set(items) & seen[user]
        assert all(i["reason"] for i in answer["items"])


@pytest.mark.parametrize(
    "path, body, status, words",
    [
        ("/recommend", {"user": 999999, "k": 3}, 404, ["unknown user 999999"]),
        ("/recommend", {"user": 3, "k": 0}, 422, ["k"]),
        ("/recommend", {"k": 3}, 422, ["user", "required"]),
        ("/ask", {"question": ""}, 422, ["question"]),
        ("/ask", {"text": "hello"}, 422, ["question", "required"]),
        ("/ask", ["not", "an", "object"], 422, []),
    ],
)
def test_bad_requests_get_a_4xx_with_one_line(service, path, body, status, words):
    url, _ = service
    reply = httpx.post(f"{url}{path}", json=body)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert isinstance(error, str) and "\n" not in error
    for word in words:
        assert word in error, error


def test_a_question_that_names_nobody_gets_no_items(service):
    url, _ = service
    reply = httpx.post(f"{url}/ask", json={"question": "what should my friend watch?"})
    assert reply.status_code == 200
    answer = reply.json()
    assert answer["items"] == [] and answer["message"]
    json.dumps(answer)


def test_a_data_question_gets_facts_and_no_items(service):
    url, seen = service
    user = min(seen)
    reply = httpx.post(f"{url}/ask", json={"question": f"what has user {user} read?"})
    assert reply.status_code == 200
    answer = reply.json()
    assert answer["kind"] == "fact" and answer["items"] == []
    assert answer["facts"]["count"] == len(seen[user]) and answer["message"]
