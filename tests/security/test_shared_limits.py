"""Sign-in limits count in one place however many processes serve (issue 17 item 12): two processes — two
gunicorn workers — share the limit through Redis (a Redis server runs on 127.0.0.1:6379 in CI), where with
memory:// each would count on its own and the limit would double; gunicorn refuses several workers on memory://.
OWASP ASVS 4.0.3 V2.2.1."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REDIS = os.environ.get("CMSFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import json, sys
from cmsflow import create_app
cfg = json.loads(sys.argv[1])
app = create_app(cfg)
client = app.test_client()
codes = [client.post("/api/v1/auth/token", json={"username": "nobody", "password": "wrong"}).status_code
         for _ in range(int(sys.argv[2]))]
print(json.dumps(codes))
"""


def _redis_up() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping())
    except Exception:
        return False


def _worker(app, storage: str, prefix: str, attempts: int) -> list[int]:
    """One more process of the same installation (its own memory), like a second gunicorn worker."""
    cfg = {k: app.config[k] for k in ("DATABASE_URL", "INSTANCE_DIR", "FILES_DIR", "INDEX_DIR", "SECRET_KEY")}
    cfg |= {"LOGIN_RATE_LIMIT": "5 per minute", "LOGIN_RATE_LIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": storage,
            "RATELIMIT_KEY_PREFIX": prefix, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
    out = subprocess.run([sys.executable, "-c", WORKER, json.dumps(cfg), str(attempts)], cwd=ROOT, timeout=120,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not _redis_up() and os.environ.get("CI") != "true", reason="no Redis server at " + REDIS)
def test_two_workers_share_one_count_in_redis(app, org):
    prefix = f"cmsflow-test-{uuid.uuid4().hex}"
    first = _worker(app, REDIS, prefix, 3)
    second = _worker(app, REDIS, prefix, 3)
    assert first == [401, 401, 401]
    assert second == [401, 401, 429]  # the limit of 5 holds across both processes


def test_on_memory_each_worker_counts_alone(app, org):
    """What Redis fixes: two processes on memory:// each allow the whole limit."""
    assert _worker(app, "memory://", "x", 3) == [401] * 3
    assert _worker(app, "memory://", "x", 3) == [401] * 3


@pytest.mark.parametrize("workers,storage,starts", [(2, "", False), (2, "memory://", False), (1, "", True),
                                                    (2, "redis://127.0.0.1:6379/0", True)])
def test_gunicorn_refuses_several_workers_counting_in_memory(monkeypatch, workers, storage, starts):
    import runpy
    from types import SimpleNamespace

    monkeypatch.delenv("CMSFLOW_REDIS_URL", raising=False)
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", storage)
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    server = SimpleNamespace(cfg=SimpleNamespace(workers=workers))
    if starts:
        conf["on_starting"](server)
    else:
        with pytest.raises(SystemExit, match="RATELIMIT_STORAGE_URI"):
            conf["on_starting"](server)
