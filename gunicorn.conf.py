"""gunicorn settings for cmsflow (read by ``gunicorn wsgi:app`` from the project folder).

Workers: ``WEB_CONCURRENCY`` (default 2). Sign-in rate limits must count in one place when there is more than
one worker or host: with ``RATELIMIT_STORAGE_URI`` (or ``CMSFLOW_REDIS_URL``) unset or ``memory://`` each worker
would count on its own and the limit would be multiplied, so more than one worker on memory:// refuses to start.
Account lockouts and signature failures are counted in the database and need nothing here.
"""
import os

bind = os.environ.get("CMSFLOW_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("CMSFLOW_WORKER_TIMEOUT", "120"))
accesslog = "-"


def limiter_storage() -> str:
    return os.environ.get("RATELIMIT_STORAGE_URI") or os.environ.get("CMSFLOW_REDIS_URL") or "memory://"


def on_starting(server):
    if server.cfg.workers > 1 and limiter_storage().startswith("memory://"):
        raise SystemExit(
            f"cmsflow: {server.cfg.workers} workers would each count sign-in attempts on their own "
            "(RATELIMIT_STORAGE_URI=memory://). Set RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0 "
            "(or CMSFLOW_REDIS_URL), or run one worker (WEB_CONCURRENCY=1).")
