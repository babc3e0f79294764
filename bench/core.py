"""Workflow step, search and document generation, each against its bare library in the same run.

- workflow: complete a user task through the HTTP API (token auth, lock, load, engine, inbox sync,
  activity log, search outbox, commit) vs the bare SpiffWorkflow step on the same BPMN and state
  (restore JSON → complete → engine steps → dump).
- search: indexing rate and query p50/p95 of cmsflow (index schema, highlights, permission filter)
  vs bare Whoosh + jieba on the same corpus (generated records + every regulation in
  ``../shared/corpus/laws``); known-item relevance: a phrase of an article finds its regulation.
- docgen: create a procedure from its template (render + store + index) vs bare docxtpl render.
"""
from __future__ import annotations

import random
import re
import shutil
import tempfile
import time

from bench.common import ROOT, row, timed

LAWS = ROOT.parent / "shared" / "corpus" / "laws"
QUERIES = ["排放", "温室气体", "碳排放 报告", "大气污染", "节约能源", "计量 器具", "排污许可", "环境 保护",
           "能源 统计", "清洁生产", "培训", "风险"]


def bench_workflow(app, repeat: int | None = None) -> list[dict]:
    """Median/p95 of completing the open ``accept`` tasks through the API, and of the bare engine step."""
    from sqlmodel import select

    from bench.generate import BENCH_PASSWORD
    from cmsflow.auth.models import User
    from cmsflow.core.db import session_scope
    from cmsflow.workflow import engine
    from cmsflow.workflow.models import HumanTask, ProcessInstance, ProcessSpec

    client = app.test_client()
    with app.app_context(), session_scope() as s:
        tasks = s.exec(select(HumanTask).where(HumanTask.status == "open", HumanTask.name == "accept")
                       .order_by(HumanTask.id)).all()[:repeat]
        heads = {u.department_id: u.username for u in s.exec(select(User).where(User.role == "department_head"))}
        jobs = [(t.id, heads[t.department_id]) for t in tasks]
        inst = s.get(ProcessInstance, tasks[0].instance_id)
        state, spec_json = inst.state, s.get(ProcessSpec, inst.spec_id).spec_json
        uuid = tasks[0].task_uuid
    tokens = {u: client.post("/api/v1/auth/token", json={"username": u, "password": BENCH_PASSWORD}).get_json()["token"]
              for u in set(h for _, h in jobs)}
    api = []
    for task_id, head in jobs:
        t0 = time.perf_counter()
        res = client.post(f"/api/v1/tasks/{task_id}/complete", json={"decision": "accept"},
                          headers={"Authorization": f"Bearer {tokens[head]}"})
        api.append((time.perf_counter() - t0) * 1000)
        assert res.status_code == 200, res.get_json()

    def bare():
        wf = engine.restore(state, spec_json)
        engine.complete_user_task(wf, uuid, {"accept_decision": "accept", "owner_id": 1})
        engine.dump(wf)

    with app.app_context():
        base = timed(bare, repeat=len(api))
    return [row("bare SpiffWorkflow step", base), row("complete task via API", api, base)]


def _law_entries() -> list:
    from cmsflow.search.backend import Entry

    out = []
    for i, path in enumerate(sorted(LAWS.rglob("*.md"))):
        text = path.read_text(encoding="utf-8")
        title = path.stem.split("(")[0]
        out.append(Entry(key=f"law:{i}", type="external", id=i, title=title, code="", body=text,
                         url=f"/laws/{i}", visibility="all"))
    return out


def _bare_index(entries, directory: str):
    from jieba.analyse import ChineseAnalyzer
    from whoosh import index
    from whoosh.fields import ID, TEXT, Schema

    ix = index.create_in(directory, Schema(key=ID(stored=True, unique=True), title=TEXT(stored=True,
                                           analyzer=ChineseAnalyzer()), body=TEXT(analyzer=ChineseAnalyzer())))
    writer = ix.writer()
    for e in entries:
        writer.add_document(key=e.key, title=e.title, body=e.body)
    writer.commit()
    return ix


def _phrases(entries, n: int, rnd: random.Random) -> list[tuple[str, str]]:
    """(phrase from an article, key of its regulation) for ``n`` regulations."""
    out = []
    for e in rnd.sample(entries, min(n, len(entries))):
        articles = [a for a in re.findall(r"第[一二三四五六七八九十百]+条\s*([^\n]{20,})", e.body)]
        if articles:
            text = rnd.choice(articles)
            start = rnd.randrange(0, max(1, len(text) - 14))
            out.append((text[start:start + 14], e.key))
    return out


RATE_SAMPLE = 3000  # generated entries (besides every regulation) indexed by both sides for the index rate


def bench_search(app, repeat: int = 30) -> tuple[list[dict], dict]:
    """Index rate and query latency vs bare Whoosh + jieba; known-item share found in the top 5.

    Index rate: cmsflow's rebuild vs a bare Whoosh + jieba index of the same sample (every regulation and
    ``RATE_SAMPLE`` generated records). Queries: cmsflow's search (permission filter, stored fields, snippets)
    on the full corpus vs a bare Whoosh query of the same index files (no filter, no stored fields)."""
    from sqlmodel import select
    from whoosh import index
    from whoosh.qparser import AndGroup, MultifieldParser

    from cmsflow.auth.models import User
    from cmsflow.core.db import session_scope
    from cmsflow.search import service

    t0 = time.perf_counter()
    with app.app_context(), session_scope() as s:
        records = [service._PROVIDERS[t](s, i) for t, lister in service._LISTERS.items() for i in lister(s)]
        user = s.exec(select(User).where(User.username == "bench.mr")).one()
    laws = _law_entries()
    entries = [e for e in records if e is not None] + laws
    loaded = time.perf_counter() - t0
    sample = [e for e in records if e is not None][:RATE_SAMPLE] + laws
    rate_dir = tempfile.mkdtemp(prefix="bench-rate-")
    with app.app_context():
        t0 = time.perf_counter()
        type(service.backend())(rate_dir).rebuild(sample)
        cms_rate = len(sample) / (time.perf_counter() - t0)
        bare_dir = tempfile.mkdtemp(prefix="bench-whoosh-")
        t0 = time.perf_counter()
        _bare_index(sample, bare_dir)
        bare_rate = len(sample) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        service.backend().rebuild(entries)
        full_build = time.perf_counter() - t0
    for d in (rate_dir, bare_dir):
        shutil.rmtree(d, ignore_errors=True)
    ix = index.open_dir(app.config["INDEX_DIR"])
    parser = MultifieldParser(["title", "body"], schema=ix.schema, group=AndGroup)  # cmsflow's first pass
    rnd = random.Random(3)
    queries = [rnd.choice(QUERIES) for _ in range(repeat)]
    it = iter(queries * 3)
    with ix.searcher() as searcher:
        base = timed(lambda: list(searcher.search(parser.parse(next(it)), limit=20)), repeat)
    it2 = iter(queries * 3)
    with app.app_context():
        cms = timed(lambda: service.search(user, next(it2)), repeat)
        phrases = _phrases(laws, 40, rnd)
        found = sum(1 for phrase, key in phrases
                    if key in [f"law:{h.id}" for h in service.search(user, phrase, 5) if h.type == "external"])
    rows = [row("bare Whoosh + jieba query", base), row("cmsflow search (filtered)", cms, base)]
    extra = {"entries": len(entries), "rate_sample": len(sample), "index_rate_cmsflow_per_s": round(cms_rate, 1),
             "index_rate_bare_per_s": round(bare_rate, 1), "index_rate_ratio": round(bare_rate / cms_rate, 2),
             "full_index_build_s": round(full_build, 1), "entries_loaded_s": round(loaded, 1),
             "known_item_top5": f"{found}/{len(phrases)}"}
    return rows, extra


def bench_docgen(app, repeat: int = 15) -> list[dict]:
    """Creating a procedure (render + store + index) vs bare docxtpl render of the same template."""
    import io

    from docxtpl import DocxTemplate
    from sqlmodel import select

    from cmsflow.auth.models import User
    from cmsflow.core.db import session_scope
    from cmsflow.core.runtime import template_catalog
    from cmsflow.documents import service as documents
    from cmsflow.search.service import process_outbox

    fields = {"purpose": "规范温室气体排放的识别、监测、核算与报告，确保排放数据真实、准确、完整。",
              "scope": "适用于熟料煅烧、燃料燃烧、外购电力相关的温室气体排放管理。",
              "responsibilities": ["能源管理部负责排放源识别与数据汇总", "生产部负责生产数据记录"],
              "steps": ["每月5日前完成上月活动数据收集", "按 GB/T 32150 核算排放量", "管理者代表审核排放报告"]}
    counter = iter(range(10**6))
    parts: dict[str, list[float]] = {"render_store": [], "index": []}

    def create():
        t0 = time.perf_counter()
        with session_scope() as s:
            author = s.exec(select(User).where(User.username == "staff.0000")).one()
            documents.create_document(s, author, title=f"排放监测程序{next(counter)}", doc_type="procedure",
                                      department="D00", template="procedure",
                                      fields=fields, clauses=["TCECAG:8.2"])
        t1 = time.perf_counter()
        with session_scope() as s:
            process_outbox(s)
        parts["render_store"].append((t1 - t0) * 1000)
        parts["index"].append((time.perf_counter() - t1) * 1000)

    with app.app_context():
        path = str(template_catalog()["procedure"].path)
        ctx = {**fields, "organisation": "华北建材集团", "title": "排放监测程序", "code": "CEMS-PR-99999", "version": 1,
               "department": "生产部", "author": "员工", "date": "2026-11-21", "clauses": ["T/CECA-G 8.2"]}

        def bare():
            tpl = DocxTemplate(path)
            tpl.render(ctx, autoescape=True)
            tpl.save(io.BytesIO())

        base = timed(bare, repeat)
        cms = timed(create, repeat)
    n = len(cms)  # the warm-up calls are the first ones of ``parts``
    return [row("bare docxtpl render", base), row("create document (render+store+index)", cms, base),
            row("  of which render + store (the request)", parts["render_store"][-n:], base),
            row("  of which index (outbox → Whoosh)", parts["index"][-n:], base)]

