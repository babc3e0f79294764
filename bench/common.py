"""Shared helpers of the benchmarks: a throw-away app on a given database, timing and reporting."""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = ("S", "M", "L")


def make_app(database_url: str | None = None, instance: str | None = None):
    """A cmsflow app on ``database_url`` (default: SQLite in a fresh temp instance), migrated to head."""
    from cmsflow import create_app
    from cmsflow.cli import migrate_to_head

    instance = instance or tempfile.mkdtemp(prefix="cmsflow-bench-")
    url = database_url or f"sqlite:///{instance}/bench.db"
    app = create_app({"INSTANCE_DIR": instance, "DATABASE_URL": url, "SECRET_KEY": "bench",
                      "FILES_DIR": f"{instance}/files", "INDEX_DIR": f"{instance}/index"})
    with app.app_context():
        migrate_to_head(url)
    return app


def reset_postgres(url: str) -> None:
    """Empty the PostgreSQL database (drop and recreate schema public)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def timed(fn: Callable[[], object], repeat: int, warmup: int = 2) -> list[float]:
    """Milliseconds of ``repeat`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def p50(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def row(name: str, values: list[float], base: list[float] | None = None) -> dict:
    out = {"name": name, "n": len(values), "p50_ms": round(p50(values), 2), "p95_ms": round(p95(values), 2)}
    if base:
        out["ratio_p50"] = round(p50(values) / p50(base), 2)
        out["ratio_p95"] = round(p95(values) / p95(base), 2)
    return out


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n## {title}")
    if not rows:
        return
    keys = list(dict.fromkeys(k for r in rows for k in r))
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")


def env_flag(name: str) -> str | None:
    return os.environ.get(name) or None
