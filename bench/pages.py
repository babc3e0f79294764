"""Pages under load: concurrent signed-in users against cmsflow served by gunicorn on loopback.

Starts ``gunicorn bench.pages:bare_app()`` (2 sync workers) on 127.0.0.1, signs in one cookie session per
simulated user, warms up, then runs one phase per page: all users request that page (for the document detail
page: a random document of the register) over and over for ``seconds``. A bare Flask route served by the same
app on the same server is measured the same way and is the ceiling the pages are compared with.

    python -m bench.pages --instance DIR --database-url URL --username U --password P \
        [--users 20] [--seconds 20] [--port 8765] [--mixed] [--json out.json]

``--mixed`` runs a single phase of ``seconds`` × pages instead, in which every user loops over all pages in a
shuffled order (realistic mix; req/s per page is then its share of the mix). Stdlib only (``http.client``).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SECRET_KEY = "cmsflow-bench-pages"
GUNICORN_WORKERS = 2
BARE_PATH = "/_bench/bare"
BARE_ENDPOINT = "bench_bare"
DETAIL = "document_detail"

# (name, path); the document detail path is filled in per request from the ids found in the register
PAGES: tuple[tuple[str, str | None], ...] = (
    ("inbox", "/tasks/"),
    ("documents", "/documents/?page=1"),
    ("documents_filtered", "/documents/?doc_type=procedure"),
    (DETAIL, None),
    ("nonconformities", "/nonconformities/"),
    ("coverage", "/standards/TCECAG"),
    ("dashboard", "/"),
    ("search", "/search/?q=" + quote("排放")),
)
BARE = ("bare", BARE_PATH)

CSRF_RE = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
VALUE_RE = re.compile(r'value="([^"]*)"')
DOC_LINK_RE = re.compile(r'href="/documents/(\d+)"')


class BenchError(RuntimeError):
    pass


def bare_app():
    """The cmsflow app plus a bare route open to everyone: ``gunicorn 'bench.pages:bare_app()'``."""
    import cmsflow.auth.views as auth_views
    from wsgi import app

    app.add_url_rule(BARE_PATH, BARE_ENDPOINT, lambda: "ok")
    auth_views.OPEN_ENDPOINTS.add(BARE_ENDPOINT)
    return app


# --- HTTP client ---------------------------------------------------------------------------------------------

class Client:
    """One simulated user: a connection (re-opened when the server closes it) and its cookies."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str, bytes]:
        headers = {"Accept-Language": "zh-CN,zh"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body.encode() if body is not None else None, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            raise
        for raw in resp.headers.get_all("Set-Cookie") or []:
            self._store_cookie(raw)
        return resp.status, resp.getheader("Location", ""), data

    def _store_cookie(self, raw: str) -> None:
        pair, _, attrs = raw.partition(";")
        name, _, value = pair.strip().partition("=")
        if "max-age=0" in attrs.replace(" ", "").lower():
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def close(self) -> None:
        self.conn.close()


def sign_in(port: int, username: str, password: str) -> Client:
    client = Client(port)
    status, _, body = client.request("GET", "/login")
    tag = CSRF_RE.search(body.decode("utf-8", "replace"))
    value = VALUE_RE.search(tag.group(0)) if tag else None
    if status != 200 or value is None:
        raise BenchError(f"GET /login answered {status} without a csrf_token field")
    form = urlencode({"csrf_token": value.group(1), "username": username, "password": password})
    status, location, _ = client.request("POST", "/login", form)
    if status != 302 or "/login" in location:
        raise BenchError(f"sign-in as {username!r} failed (POST /login answered {status}, Location {location!r})")
    return client


def document_paths(client: Client) -> list[str]:
    """Detail pages of the documents listed on page 1 of the register (those the user may see)."""
    status, _, body = client.request("GET", "/documents/?page=1")
    if status != 200:
        raise BenchError(f"GET /documents/?page=1 answered {status}")
    ids = dict.fromkeys(DOC_LINK_RE.findall(body.decode("utf-8", "replace")))
    return [f"/documents/{i}" for i in ids]


# --- gunicorn ------------------------------------------------------------------------------------------------

def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _log_tail(log, limit: int = 4000) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-limit:]


def _wait_ready(proc: subprocess.Popen, port: int, log, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"gunicorn exited with {proc.returncode}:\n{_log_tail(log)}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/login")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except (http.client.HTTPException, OSError):
            pass
        time.sleep(0.25)
    raise BenchError(f"gunicorn did not answer /login within {timeout:.0f} s:\n{_log_tail(log)}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()  # graceful shutdown of the master and its workers
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def gunicorn(instance: str, database_url: str, port: int, workers: int = GUNICORN_WORKERS):
    """Serve ``bench.pages:bare_app()`` on 127.0.0.1:port for the duration of the block (always stopped)."""
    if _port_open(port):
        raise BenchError(f"port {port} is already in use")
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, DATABASE_URL=database_url, CMSFLOW_INSTANCE_DIR=str(Path(instance).resolve()),
               SECRET_KEY=SECRET_KEY, PYTHONPATH=pythonpath)
    cmd = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"{HOST}:{port}",
           "--log-level", "warning", "bench.pages:bare_app()"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(proc, port, log)
            yield proc
        finally:
            _stop(proc)


# --- load ----------------------------------------------------------------------------------------------------

def _outcome(status: int, location: str) -> str:
    if status == 200:
        return "ok"
    if status in (301, 302, 303, 307, 308) and "/login" in location:
        return "redirect_to_login"
    return str(status)


def _drive(client: Client, targets: list, deadline: float, doc_paths: list[str], rng: random.Random) -> list:
    """Loop over ``targets`` in a shuffled order until ``deadline``; (name, outcome, ms) per request."""
    records = []
    while time.perf_counter() < deadline:
        order = list(targets)
        rng.shuffle(order)
        for name, path in order:
            if time.perf_counter() >= deadline:
                break
            path = path or rng.choice(doc_paths)
            t0 = time.perf_counter()
            try:
                status, location, _ = client.request("GET", path)
                outcome = _outcome(status, location)
            except (http.client.HTTPException, OSError) as exc:
                outcome = type(exc).__name__
            records.append((name, outcome, (time.perf_counter() - t0) * 1000))
    return records


def _phase(clients: list[Client], targets: list, seconds: float, doc_paths: list[str]) -> tuple[list, float]:
    start = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        futures = [pool.submit(_drive, c, targets, start + seconds, doc_paths, random.Random(i))
                   for i, c in enumerate(clients)]
        records = [r for f in futures for r in f.result()]
    return records, time.perf_counter() - start


def _warm_up(clients: list[Client], targets: list, doc_paths: list[str], rounds: int) -> Counter:
    """``rounds`` untimed requests of every target per user; returns the non-200 outcomes seen."""
    def one(i_client):
        i, client = i_client
        rng = random.Random(1000 + i)
        out = []
        for _ in range(rounds):
            for name, path in targets:
                status, location, _ = client.request("GET", path or rng.choice(doc_paths))
                out.append((name, _outcome(status, location)))
        return out

    with ThreadPoolExecutor(len(clients)) as pool:
        results = [r for rs in pool.map(one, enumerate(clients)) for r in rs]
    bad = Counter(f"{name}: {outcome}" for name, outcome in results if outcome != "ok")
    if any("redirect_to_login" in k for k in bad):
        raise BenchError(f"signed-in sessions were redirected to /login during warm-up: {dict(bad)}")
    return bad


# --- figures -------------------------------------------------------------------------------------------------

def percentiles(values: list[float]) -> tuple[float, float]:
    """(p50, p95) in ms."""
    if not values:
        return float("nan"), float("nan")
    if len(values) == 1:
        return values[0], values[0]
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[94]


def summarise(name: str, path: str, records: list, elapsed: float) -> dict:
    mine = [(outcome, ms) for n, outcome, ms in records if n == name]
    ok = [ms for outcome, ms in mine if outcome == "ok"]
    p50, p95 = percentiles(ok)
    return {"page": name, "path": path, "requests": len(mine), "ok": len(ok),
            "non_200": dict(Counter(outcome for outcome, _ in mine if outcome != "ok")),
            "p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "req_per_s": round(len(ok) / elapsed, 1),
            "seconds": round(elapsed, 2)}


def _measure_pages(clients: list[Client], targets: list, seconds: float, doc_paths: list[str], mixed: bool):
    if mixed:
        records, elapsed = _phase(clients, targets, seconds * len(targets), doc_paths)
        return [summarise(name, path or "/documents/<id>", records, elapsed) for name, path in targets]
    rows = []
    for name, path in targets:
        records, elapsed = _phase(clients, [(name, path)], seconds, doc_paths)
        rows.append(summarise(name, path or "/documents/<id>", records, elapsed))
    return rows


def _targets(doc_paths: list[str]) -> list:
    return [(name, path) for name, path in PAGES if path or doc_paths]


def run_pages(instance: str, database_url: str, username: str, password: str, users: int = 20,
              seconds: float = 20, port: int = 8765, mixed: bool = False, warmup: int = 2) -> dict:
    """Start gunicorn, load every page with ``users`` signed-in users, stop gunicorn; the figures as a dict.

    ``{"config": {...}, "bare": row, "pages": [row, ...], "document_ids": [...], "warmup_non_200": {...}}``,
    a row being ``{"page", "path", "requests", "ok", "non_200": {outcome: count}, "p50_ms", "p95_ms",
    "req_per_s", "seconds", "p95_vs_bare"}``.
    """
    with gunicorn(instance, database_url, port):
        clients = [sign_in(port, username, password) for _ in range(users)]  # sequential: logins write
        try:
            doc_paths = document_paths(clients[0])
            targets = _targets(doc_paths)
            warm = _warm_up(clients, [*targets, BARE], doc_paths, warmup)
            records, elapsed = _phase(clients, [BARE], seconds, doc_paths)
            bare = summarise(BARE[0], BARE[1], records, elapsed)
            rows = _measure_pages(clients, targets, seconds, doc_paths, mixed)
        finally:
            for client in clients:
                client.close()
    for row in [bare, *rows]:
        row["p95_vs_bare"] = round(row["p95_ms"] / bare["p95_ms"], 1) if bare["p95_ms"] else None
    config = {"users": users, "seconds": seconds, "port": port, "gunicorn_workers": GUNICORN_WORKERS,
              "mode": "mixed" if mixed else "phases", "database": database_url.split("://", 1)[0],
              "cpus": os.cpu_count()}
    return {"config": config, "bare": bare, "pages": rows,
            "document_ids": [int(p.rsplit("/", 1)[1]) for p in doc_paths], "warmup_non_200": dict(warm)}


def print_report(result: dict) -> None:
    cfg = result["config"]
    print(f"\n## Pages under load — {cfg['users']} users, gunicorn {cfg['gunicorn_workers']} workers, "
          f"{cfg['mode']}, {cfg['seconds']} s per phase, {cfg['database']}, {cfg['cpus']} CPUs")
    print("| page | path | requests | non-200 | p50 ms | p95 ms | req/s | p95 ÷ bare p95 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in [*result["pages"], result["bare"]]:
        errors = sum(r["non_200"].values())
        print(f"| {r['page']} | {r['path']} | {r['requests']} | {errors} | {r['p50_ms']} | {r['p95_ms']} "
              f"| {r['req_per_s']} | {r['p95_vs_bare']} |")
    for r in [*result["pages"], result["bare"]]:
        if r["non_200"]:
            print(f"non-200 on {r['page']}: {r['non_200']}")
    if result["warmup_non_200"]:
        print(f"non-200 during warm-up: {result['warmup_non_200']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__.splitlines()[0])
    ap.add_argument("--instance", required=True, help="CMSFLOW_INSTANCE_DIR of the instance to serve")
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--username", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20, help="duration of each phase (default 20)")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--mixed", action="store_true", help="one phase in which every user loops over all pages")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    try:
        result = run_pages(args.instance, args.database_url, args.username, args.password, users=args.users,
                           seconds=args.seconds, port=args.port, mixed=args.mixed)
    except BenchError as exc:
        print(f"bench.pages: {exc}", file=sys.stderr)
        return 2
    print_report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, ensure_ascii=False, indent=2))
    failed = any(r["non_200"] for r in [*result["pages"], result["bare"]])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
