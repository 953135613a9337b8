"""The image and the Fly config agree with the server's own settings (deploy/)."""

import re
import tomllib
from pathlib import Path

from aether_web import serving

ROOT = Path(__file__).resolve().parents[2]


def test_fly_waits_longer_than_gunicorns_graceful_shutdown_and_checks_health_separately():
    fly = tomllib.loads((ROOT / "deploy" / "fly.toml").read_text())
    assert fly["kill_signal"] == "SIGTERM"
    assert int(fly["kill_timeout"]) > serving.GRACEFUL_TIMEOUT_SECONDS
    routing = fly["http_service"]["checks"]
    assert [c["path"] for c in routing] == ["/api/health"]
    assert fly["checks"]["ready"]["path"] == "/api/ready"


def test_the_image_is_multi_stage_non_root_and_built_by_the_script():
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    runtime = text.split("AS runtime", 1)[1]
    assert re.search(r"^USER aether$", runtime, re.M)
    assert "deploy/start.sh" in runtime and "reflex run" not in runtime
    steps = re.findall(r"deploy/build\.sh (\w+)", text)
    assert {"deps", "frontend", "check", "prune"} <= set(steps)
    assert "requirements.txt" not in text and "requirements-dev" not in text


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".venv", ".web", "*.db", ".git", ".tools"} <= ignored


def test_start_script_does_not_build():
    lines = (ROOT / "deploy" / "start.sh").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    assert "__REFLEX_SKIP_COMPILE=true" in text and "PROMETHEUS_MULTIPROC_DIR" in text
    assert "reflex export" not in text and "reflex run" not in text
