"""Run the benchmark suite and print every figure with its ratio to the baseline of the same run.

    python -m bench.run                      # size S, SQLite and PostgreSQL, pages included
    python -m bench.run --sizes S,L          # also L, and the L/S growth of the pages
    python -m bench.run --databases sqlite   # skip PostgreSQL

PostgreSQL: ``CMSFLOW_BENCH_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``; the schema is
emptied first). Results also go to ``bench/results-<sizes>.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from bench.common import make_app, print_table, reset_postgres
from bench.generate import BENCH_PASSWORD, generate

PG = os.environ.get("CMSFLOW_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _prepare(size: str, database: str):
    url = None
    if database == "postgresql":
        reset_postgres(PG)
        url = PG
    app = make_app(url)
    info = generate(app, size)
    return app, info


def run_size(size: str, databases: list[str], pages: bool, results: dict) -> None:
    from bench.core import bench_docgen, bench_search, bench_workflow

    for database in databases:
        app, info = _prepare(size, database)
        print(f"\n# size {size} on {database}: generated in {info['seconds']} s")
        wf = bench_workflow(app, repeat=40)
        print_table(f"Workflow step, {size}, {database}", wf)
        results[f"workflow_{size}_{database}"] = wf
        dg = bench_docgen(app)
        print_table(f"Document generation, {size}, {database}", dg)
        results[f"docgen_{size}_{database}"] = dg
        if database == "sqlite":
            rows, extra = bench_search(app)
            print_table(f"Search, {size}", rows)
            print(extra)
            results[f"search_{size}"] = {"rows": rows, **extra}
            if pages:
                from bench.pages import run_pages

                figures = run_pages(app.config["INSTANCE_DIR"], app.config["DATABASE_URL"], "bench.mr",
                                    BENCH_PASSWORD)
                results[f"pages_{size}"] = figures
                print_table(f"Pages under load, {size} (20 users, gunicorn 2 workers)", [
                    {k: r.get(k) for k in ("page", "requests", "p50_ms", "p95_ms", "req_per_s", "p95_vs_bare")}
                    for r in [*figures["pages"], {**figures["bare"], "page": "bare Flask route"}]])
        app.extensions["cmsflow_engine"].dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description="cmsflow benchmarks")
    ap.add_argument("--sizes", default="S")
    ap.add_argument("--databases", default="sqlite,postgresql")
    ap.add_argument("--no-pages", action="store_true")
    args = ap.parse_args()
    sizes, databases = args.sizes.split(","), args.databases.split(",")
    t0 = time.perf_counter()
    results: dict = {"machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, "
                                f"Python {platform.python_version()}"}
    for size in sizes:
        run_size(size, databases, not args.no_pages, results)
    if "pages_S" in results and "pages_L" in results:
        _growth(results)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(__file__).with_name(f"results-{'-'.join(sizes)}.json")
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    print(f"\nall figures in {out} ({results['seconds']} s)")


def _growth(results: dict) -> None:
    """L/S ratio of each page's p95 (how a page slows down as the data grows)."""
    small = {r["page"]: r for r in results["pages_S"]["pages"]}
    large = {r["page"]: r for r in results["pages_L"]["pages"]}
    rows = []
    for page, s_fig in small.items():
        l_fig = large.get(page)
        if l_fig and s_fig.get("p95_ms"):
            rows.append({"page": page, "p95_S": s_fig["p95_ms"], "p95_L": l_fig["p95_ms"],
                         "L/S": round(l_fig["p95_ms"] / s_fig["p95_ms"], 2)})
    print_table("Pages: growth with data (p95 L / p95 S)", rows)
    results["pages_growth"] = rows


if __name__ == "__main__":
    main()
