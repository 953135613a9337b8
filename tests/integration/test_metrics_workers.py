"""Metrics are true with several workers: prometheus_client's multiprocess mode."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from tools.local_stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
WRITER = """
from aether_web import metrics
for _ in range(5):
    metrics.inc("aether_http_requests_total", status_class="2xx")
    metrics.REQUEST_SECONDS.labels(route="/api/health", method="GET").observe(0.003)
metrics.HOOK_SECONDS.labels(kind="heartbeat").observe(0.02)
metrics.JOB_SECONDS.labels(job="send_email", status="succeeded").observe(1.5)
"""
TOKEN = "metrics-token-of-this-test-0123456789"
READER = "from aether_web import metrics; print(metrics.exposition())"


def _sample(text: str, name: str, labels: str) -> float:
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    assert match, f"{name}{{{labels}}} missing"
    return float(match.group(1))


def _python(code: str, metrics_dir: str) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout


def test_every_process_counts_in_one_exposition(tmp_path):
    for _ in range(3):  # three workers
        _python(WRITER, str(tmp_path))
    text = _python(READER, str(tmp_path))
    assert _sample(text, "aether_http_requests_total", 'status_class="2xx"') == 15
    assert _sample(text, "aether_http_request_duration_seconds_count",
                   'method="GET",route="/api/health"') == 15
    assert _sample(text, "aether_http_request_duration_seconds_bucket",
                   'le="0.005",method="GET",route="/api/health"') == 15
    assert _sample(text, "aether_hook_duration_seconds_count", 'kind="heartbeat"') == 3
    assert _sample(text, "aether_job_duration_seconds_sum",
                   'job="send_email",status="succeeded"') == pytest.approx(4.5)


def test_the_prod_server_with_two_workers_answers_the_same_totals(tmp_path):
    stack = LocalStack(db_url=f"sqlite:///{tmp_path / 'm.db'}", with_stripe=False,
                       backend_only=True, workers=2, log_dir=tmp_path / "logs",
                       extra_env={"REFLEX_REDIS_URL": "redis://127.0.0.1:6379/9",
                                  "AETHER_SCHEDULER_ENABLED": "false",
                                  "AETHER_METRICS_TOKEN": TOKEN})
    stack.start(timeout=240)
    try:
        for _ in range(30):  # a new connection each: any worker may answer
            assert httpx.get(f"{stack.url}/api/health", timeout=30).status_code == 200
        counts, pids = set(), set()
        for _ in range(6):
            scrape = httpx.get(f"{stack.url}/api/metrics", timeout=30,
                               headers={"Authorization": f"Bearer {TOKEN}"})
            assert scrape.status_code == 200, scrape.text
            text = scrape.text
            counts.add(_sample(text, "aether_http_request_duration_seconds_count",
                               'method="GET",route="/api/health"'))
            pids.update(re.findall(r'aether_scrape_worker_start_time_seconds\{pid="(\d+)"\}',
                                   text))
        files = {re.sub(r"\D", "", p.name) for p in Path(stack.metrics_dir).glob("*.db")}
    finally:
        stack.stop()
    print(f"scrapes answered by workers {sorted(pids)}; sample files of pids {sorted(files)}")
    # The same total whichever worker answered (the start-up wait asked /api/health too).
    assert len(counts) == 1 and 30 <= counts.pop() <= 40
    assert tempfile.gettempdir() in stack.metrics_dir
