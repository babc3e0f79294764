"""Generate a large group's data (deterministic, realistic Chinese content) straight into the tables.

Sizes (L is the issue's target volume; S and M scale it down):

| size | depts | users | documents ×3 versions | register records | NCs | processes running / done | sources × months |
|---|---|---|---|---|---|---|---|
| S | 4 | 40 | 200 | 2,000 | 100 | 40 / 400 | 12 × 24 |
| M | 10 | 150 | 2,000 | 20,000 | 1,000 | 400 / 4,000 | 60 × 60 |
| L | 20 | 500 | 10,000 | 100,000 | 5,000 | 2,000 / 20,000 | 300 × 60 |

Rows are bulk-inserted (no services, no activity log) so L is generated in minutes; the running
processes are copies of one real ``corrective_action`` instance waiting at its first step, so their
tasks can be completed through the API like any other. Every user's password is ``BENCH_PASSWORD``.

    python -m bench.generate --size S [--database-url URL] [--instance DIR]
"""
from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert
from sqlmodel import Session, select
from werkzeug.security import generate_password_hash

BENCH_PASSWORD = "bench-pass-9"
SIZES = {
    "S": {"departments": 4, "users": 40, "documents": 200, "records": 2000, "ncs": 100, "running": 40,
          "finished": 400, "sources": 12, "months": 24},
    "M": {"departments": 10, "users": 150, "documents": 2000, "records": 20000, "ncs": 1000, "running": 400,
          "finished": 4000, "sources": 60, "months": 60},
    "L": {"departments": 20, "users": 500, "documents": 10000, "records": 100000, "ncs": 5000, "running": 2000,
          "finished": 20000, "sources": 300, "months": 60},
}
SITES = ["冀中", "唐山", "邯郸", "邢台", "保定", "石家庄", "承德", "张家口", "沧州", "衡水", "廊坊", "秦皇岛",
         "太原", "大同", "阳泉", "长治", "晋城", "朔州", "晋中", "运城"]
UNITS = ["生产部", "能源管理部", "质量安全环保部", "采购部", "财务部", "综合管理部", "设备部", "销售部"]
TOPICS = ["温室气体排放监测", "能源计量器具", "碳排放数据质量控制", "合规义务识别与评价", "内部审核", "管理评审",
          "不符合与纠正措施", "文件控制", "培训与能力", "信息交流", "采购低碳控制", "余热发电运行", "窑系统运行",
          "生料制备", "煤粉制备", "碳资产管理", "排放报告编制", "目标指标管理", "风险和机遇应对", "应急准备"]
DOC_TYPES = [("procedure", "PR", "程序"), ("rule", "RU", "管理制度"), ("work_instruction", "WI", "作业指导书"),
             ("record_form", "F", "记录表"), ("manual", "MA", "手册"), ("policy", "PO", "方针")]
CLAUSES = ["TCECAG:8.2", "TCECAG:7.8", "TCECAG:10.1.3", "DB44T1944:7.5", "DB44T1944:9.1", "DB44T1944:6.2.2"]
BATCH = 2000


def _bulk(session: Session, model, rows: list[dict]) -> None:
    for i in range(0, len(rows), BATCH):
        session.execute(insert(model.__table__), rows[i:i + BATCH])


def _ids(session: Session, model) -> list[int]:
    return list(session.exec(select(model.id).order_by(model.id)))


def generate(app, size: str, seed: int = 7) -> dict:
    """Fill an empty, migrated database with the data of ``size``; returns what was created and how long."""
    from cmsflow.core.db import session_scope

    spec, rnd, t0 = SIZES[size], random.Random(seed), time.perf_counter()
    with app.app_context():
        with session_scope() as s:
            users = _org(s, spec, rnd)
        with session_scope() as s:
            _documents(s, spec, rnd, users)
        with session_scope() as s:
            _registers(s, spec, rnd, users)
        with session_scope() as s:
            _nonconformities(s, spec, rnd, users)
        with session_scope() as s:
            _carbon(s, spec, rnd, users)
    return {"size": size, **spec, "seconds": round(time.perf_counter() - t0, 1)}


def _org(s: Session, spec: dict, rnd: random.Random) -> dict:
    from cmsflow.auth.models import Department, User

    depts = [{"code": f"D{i:02d}", "name": f"{SITES[i % len(SITES)]}{UNITS[i % len(UNITS)]}"}
             for i in range(spec["departments"])]
    _bulk(s, Department, depts)
    dept_ids = _ids(s, Department)
    pw = generate_password_hash(BENCH_PASSWORD)
    rows = [{"username": "bench.mr", "full_name": "李代表", "role": "management_representative", "department_id": None},
            {"username": "bench.top", "full_name": "张总", "role": "top_management", "department_id": None},
            {"username": "bench.auditor", "full_name": "王内审", "role": "internal_auditor",
             "department_id": dept_ids[0]}]
    for i, d in enumerate(dept_ids):
        rows.append({"username": f"head.{i:02d}", "full_name": f"部门负责人{i:02d}", "role": "department_head",
                     "department_id": d})
    i = 0
    while len(rows) < spec["users"]:
        rows.append({"username": f"staff.{i:04d}", "full_name": f"员工{i:04d}", "role": "staff",
                     "department_id": dept_ids[i % len(dept_ids)]})
        i += 1
    now = datetime.now(UTC)
    _bulk(s, User, [{**r, "password_hash": pw, "active": True, "created_at": now} for r in rows])
    by_name = {u.username: u for u in s.exec(select(User))}
    return {"depts": dept_ids, "mr": by_name["bench.mr"].id, "heads": [by_name[f"head.{i:02d}"].id
                                                                        for i in range(len(dept_ids))],
            "staff": [u.id for u in by_name.values() if u.role == "staff"]}


def _documents(s: Session, spec: dict, rnd: random.Random, users: dict) -> None:
    from cmsflow.core.runtime import file_store, template_catalog
    from cmsflow.documents import templating
    from cmsflow.documents.models import Document, DocumentClause, DocumentVersion

    tpl = template_catalog()["procedure"]
    data = templating.render(tpl, {"purpose": "规范温室气体排放的识别、监测、核算与报告。", "scope": "适用于全厂。",
                                   "responsibilities": ["能源管理部负责数据汇总"], "steps": ["按月收集活动数据"],
                                   "organisation": "华北建材集团", "code": "CEMS-PR-00000", "title": "基准文件",
                                   "version": 1, "department": "综合管理部", "author": "李代表",
                                   "date": "2026-01-01", "clauses": []})
    sha = file_store().put(s, data, templating.DOCX_MIME)
    now = datetime.now(UTC)
    docs = []
    for i in range(spec["documents"]):
        doc_type, prefix, noun = DOC_TYPES[i % len(DOC_TYPES)]
        dept = users["depts"][i % len(users["depts"])]
        effective = rnd.random() < 0.9
        docs.append({"code": f"CEMS-{prefix}-{i:05d}", "title": f"{SITES[i % len(SITES)]}{rnd.choice(TOPICS)}{noun}",
                     "doc_type": doc_type, "department_id": dept, "status": "effective" if effective else "draft",
                     "current_version": 3, "effective_version": 3 if effective else 2, "author_id": users["mr"],
                     "lock_version": 1, "created_at": now, "updated_at": now})
    _bulk(s, Document, docs)
    doc_ids = _ids(s, Document)
    versions, clauses = [], []
    for n, doc_id in enumerate(doc_ids):
        effective = docs[n]["status"] == "effective"
        for v in (1, 2, 3):
            status = "superseded" if v < 2 or (v == 2 and effective) else ("effective" if v == 2 or effective
                                                                           else "draft")
            versions.append({"document_id": doc_id, "number": v, "status": status, "source": "template",
                             "template": "procedure", "fields": {}, "draft_sha256": sha,
                             "effective_sha256": sha if status != "draft" else None,
                             "effective_date": date(2022 + v, 1, 1) if status != "draft" else None,
                             "created_by_id": users["mr"], "created_at": now})
        clauses += [{"document_id": doc_id, "clause": c} for c in rnd.sample(CLAUSES, 2)]
    _bulk(s, DocumentVersion, versions)
    _bulk(s, DocumentClause, clauses)


def _registers(s: Session, spec: dict, rnd: random.Random, users: dict) -> None:
    from cmsflow.registers import models as m

    n, depts, now = spec["records"], users["depts"], datetime.now(UTC)
    base = {"created_at": now, "updated_at": now, "created_by_id": users["mr"], "lock_version": 1}
    _bulk(s, m.Training, [{**base, "person": f"员工{i:05d}", "department_id": depts[i % len(depts)],
                            "topic": f"{rnd.choice(TOPICS)}培训", "date": date(2022, 1, 1) + timedelta(days=i % 1500),
                            "hours": Decimal(rnd.choice([2, 4, 8])), "assessment": rnd.choice(["pass", "pass", "fail"])}
                           for i in range(int(n * 0.4))])
    _bulk(s, m.Communication, [{**base, "date": date(2022, 1, 1) + timedelta(days=i % 1500),
                                "direction": rnd.choice(["internal", "external"]), "party": rnd.choice(
                                    ["省生态环境厅", "市发改委", "集团公司", "核查机构", "社区"]),
                                "topic": f"{rnd.choice(TOPICS)}沟通", "department_id": depts[i % len(depts)]}
                               for i in range(int(n * 0.2))])
    _bulk(s, m.Risk, [{**base, "title": f"{rnd.choice(TOPICS)}风险{i}", "kind": rnd.choice(["risk", "opportunity"]),
                       "category": rnd.choice(["strategic", "operational", "financial", "market", "legal"]),
                       "likelihood": rnd.randint(1, 5), "impact": rnd.randint(1, 5), "status": "open",
                       "department_id": depts[i % len(depts)]} for i in range(int(n * 0.15))])
    _bulk(s, m.Instrument, [{**base, "code": f"JL-{i:06d}",
                             "name": rnd.choice(["皮带秤", "电能表", "流量计", "煤粉秤"]),
                             "status": "in_use", "department_id": depts[i % len(depts)],
                             "next_due": date(2027, 1, 1) + timedelta(days=i % 365)} for i in range(int(n * 0.1))])
    _bulk(s, m.ContextIssue, [{**base, "title": f"{rnd.choice(TOPICS)}问题{i}", "kind": "external",
                               "category": "policy_law", "department_id": depts[i % len(depts)]}
                              for i in range(int(n * 0.1))])
    _bulk(s, m.InterestedParty, [{**base, "name": f"相关方{i}", "party_type": "government",
                                  "requirements": "按时报送排放报告", "addressed": True,
                                  "department_id": depts[i % len(depts)]} for i in range(int(n * 0.05))])


def _nonconformities(s: Session, spec: dict, rnd: random.Random, users: dict) -> None:
    """NCs; the first ``running`` ones wait at their first step in a copy of one real process instance."""
    from cmsflow.auth.models import User
    from cmsflow.nonconformities import service as ncs
    from cmsflow.nonconformities.models import Nonconformity
    from cmsflow.workflow.models import HumanTask, ProcessInstance

    mr = s.get(User, users["mr"])
    template = ncs.raise_nonconformity(s, mr, title="模板不符合", description="用于复制的流程实例", source="other",
                                       department=users["depts"][0])
    s.flush()
    inst = s.get(ProcessInstance, template.instance_id)
    task = s.exec(select(HumanTask).where(HumanTask.instance_id == inst.id)).one()
    now = datetime.now(UTC)
    rows = []
    for i in range(spec["ncs"]):
        running = i < spec["running"]
        rows.append({"code": f"NC-B-{i:06d}", "title": f"{rnd.choice(TOPICS)}不符合{i}",
                     "description": "抽查发现记录不完整。",
                     "evidence": "", "source": rnd.choice(list(ncs.SOURCES)), "severity": "minor",
                     "department_id": users["depts"][i % len(users["depts"])], "raised_by_id": users["mr"],
                     "raised_on": date(2022, 1, 1) + timedelta(days=i % 1500),
                     "status": "raised" if running else rnd.choice(["closed", "closed", "withdrawn"]),
                     "whys": [], "cause_categories": [], "cycle": 1, "lock_version": 1, "created_at": now,
                     "updated_at": now})
    _bulk(s, Nonconformity, rows)
    ids = [i for i in _ids(s, Nonconformity) if i != template.id]
    instances = [{"process_id": inst.process_id, "spec_id": inst.spec_id, "subject_type": "nonconformity",
                  "subject_id": ids[i], "status": "running", "state": inst.state, "version": 1,
                  "next_timer_at": inst.next_timer_at, "created_at": now, "updated_at": now}
                 for i in range(spec["running"])]
    instances += [{"process_id": inst.process_id, "spec_id": inst.spec_id, "subject_type": "nonconformity",
                   "subject_id": ids[spec["running"] + i % max(1, len(ids) - spec["running"])], "status": "complete",
                   "state": "{}", "version": 3, "next_timer_at": None, "created_at": now, "updated_at": now}
                  for i in range(spec["finished"])]
    _bulk(s, ProcessInstance, instances)
    running = list(s.exec(select(ProcessInstance.id, ProcessInstance.subject_id).where(
        ProcessInstance.status == "running", ProcessInstance.id != inst.id)))
    nc_dept = {r.id: r.department_id for r in s.exec(select(Nonconformity))}
    _bulk(s, HumanTask, [{"instance_id": iid, "task_uuid": task.task_uuid, "name": task.name, "title": task.title,
                          "process_id": task.process_id, "lane": task.lane, "form": task.form,
                          "subject_type": "nonconformity", "subject_id": sid, "role": task.role,
                          "department_id": nc_dept[sid], "status": "open", "created_at": now,
                          "due_at": now + timedelta(days=7)} for iid, sid in running])
    for nc_id, iid in zip(ids, [r[0] for r in running], strict=False):
        s.get(Nonconformity, nc_id).instance_id = iid


def _carbon(s: Session, spec: dict, rnd: random.Random, users: dict) -> None:
    from cmsflow.carbon.models import AccountingMethod, ActivityData, EmissionFactor, EmissionResult, ProductionOutput
    from cmsflow.registers.models import EmissionSource

    now = datetime.now(UTC)
    s.add(EmissionFactor(code="ef.bench", year=2020, name="基准排放因子", kind="emission_factor",
                         value=Decimal("0.52"), unit="tCO2/t", source="bench", created_by_id=users["mr"]))
    _bulk(s, EmissionSource, [{"name": f"{SITES[i % len(SITES)]}排放源{i:04d}",
                               "facility": f"{SITES[i % len(SITES)]}熟料线",
                               "source_category": "process", "department_id": users["depts"][i % len(users["depts"])],
                               "created_at": now, "updated_at": now, "lock_version": 1}
                              for i in range(spec["sources"])])
    sources = _ids(s, EmissionSource)
    _bulk(s, AccountingMethod, [{"emission_source_id": sid, "method": "process", "unit": "t",
                                 "factors": {"emission_factor": "ef.bench"}} for sid in sources])
    months = [date(2026 - spec["months"] // 12, 1, 1) + timedelta(days=31 * k) for k in range(spec["months"])]
    months = sorted({m.replace(day=1) for m in months})
    acts = [{"emission_source_id": sid, "period": m, "quantity": Decimal(rnd.randint(1000, 20000)), "unit": "t",
             "data_source": "meter", "entered_by_id": users["mr"], "lock_version": 1, "created_at": now,
             "updated_at": now} for sid in sources for m in months]
    _bulk(s, ActivityData, acts)
    act_rows = list(s.exec(select(ActivityData.id, ActivityData.emission_source_id, ActivityData.period,
                                  ActivityData.quantity)))
    _bulk(s, EmissionResult, [{"activity_id": a, "emission_source_id": src, "period": p, "method": "process",
                               "tco2e": (q * Decimal("0.52")).quantize(Decimal("0.000001")),
                               "breakdown": {"method": "process", "steps": [f"E = {q} t × 0.52 tCO2/t"]},
                               "current": True, "calculated_at": now} for a, src, p, q in act_rows])
    _bulk(s, ProductionOutput, [{"product": "clinker", "product_name": "熟料", "period": m,
                                 "quantity": Decimal(rnd.randint(100000, 160000) * max(1, spec["sources"] // 10)),
                                 "unit": "t", "entered_by_id": users["mr"], "lock_version": 1, "created_at": now}
                                for m in months])


def main() -> None:
    from bench.common import make_app

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=list(SIZES), default="S")
    ap.add_argument("--database-url")
    ap.add_argument("--instance")
    args = ap.parse_args()
    app = make_app(args.database_url, args.instance)
    print(generate(app, args.size))
    print("instance:", app.config["INSTANCE_DIR"], "database:", app.config["DATABASE_URL"])


if __name__ == "__main__":
    main()
