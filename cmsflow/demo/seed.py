"""The demo organisation: a cement company with departments, one user per role, its manual, policy,
procedures and rules (from ``content.yaml`` through the real approval workflow) and external
regulations. Most documents end effective; some wait in inboxes so the demo is not empty."""
from __future__ import annotations

from pathlib import Path

import yaml
from sqlmodel import Session

from cmsflow.auth.models import User
from cmsflow.auth.service import create_department, create_user
from cmsflow.documents import service as documents
from cmsflow.documents.external import law_to_docx
from cmsflow.registers import service as registers
from cmsflow.registers import specs as register_specs
from cmsflow.standards import service as standards
from cmsflow.workflow import service as workflow

HERE = Path(__file__).parent
DEMO_PASSWORD = "cmsflow-demo"
DEPARTMENTS = [
    ("MGT", "综合管理部"), ("PRD", "生产部"), ("ENE", "能源管理部"),
    ("QHS", "质量安全环保部"), ("PUR", "采购部"), ("FIN", "财务部"),
]
# username, full name, role, department
DEMO_USERS = [
    ("admin", "系统管理员", "admin", None),
    ("zhang.zong", "张建国", "top_management", "MGT"),
    ("li.daibiao", "李文华", "management_representative", "MGT"),
    ("wang.neishen", "王晓敏", "internal_auditor", "QHS"),
    ("wu.zonghe", "吴志强", "department_head", "MGT"),
    ("zhao.shengchan", "赵卫东", "department_head", "PRD"),
    ("chen.nengyuan", "陈立新", "department_head", "ENE"),
    ("liu.anhuan", "刘春梅", "department_head", "QHS"),
    ("sun.caigou", "孙海涛", "department_head", "PUR"),
    ("zhou.caiwu", "周丽娟", "department_head", "FIN"),
    ("feng.wenyuan", "冯雪", "staff", "MGT"),
    ("zheng.gongyi", "郑浩", "staff", "PRD"),
    ("qian.jiliang", "钱晓峰", "staff", "ENE"),
    ("he.tanpai", "何静", "staff", "ENE"),
    ("xu.huanbao", "徐磊", "staff", "QHS"),
    ("ma.caigou", "马丽", "staff", "PUR"),
    ("hu.kuaiji", "胡敏", "staff", "FIN"),
]
EXTERNAL_CLAUSES = ["TCECAG:8.2", "DB44T1944:7.5"]
APPLICABLE_STANDARDS = ["DB44T1944", "TCECAG"]


def _users(session: Session) -> dict[str, User]:
    out = {}
    for username, name, role, dept in DEMO_USERS:
        out[username] = create_user(session, username, DEMO_PASSWORD, role, dept, name)
    return out


def _author_for(users: dict[str, User], dept_code: str, session: Session) -> User:
    for username, _n, role, dept in DEMO_USERS:
        if dept == dept_code and role == "staff":
            return users[username]
    return users["li.daibiao"]


def _complete(session: Session, user: User, doc_id: int, name: str) -> None:
    for task in workflow.tasks_for_subject(session, "document", doc_id, status="open"):
        if task.name == name:
            workflow.complete_task(session, task.id, user, decision="approve", comment="同意。",
                                   password=DEMO_PASSWORD)
            return
    raise RuntimeError(f"demo: no open task {name} for document {doc_id}")


def _head_of(users: dict[str, User], dept_code: str) -> User:
    for username, _n, role, dept in DEMO_USERS:
        if dept == dept_code and role == "department_head":
            return users[username]
    raise KeyError(dept_code)


def _approve_through(session: Session, users: dict[str, User], doc, dept_code: str, stop: str) -> None:
    """Drive the document through the real workflow up to ``stop`` (awaiting_review/awaiting_mr/effective)."""
    documents.submit(session, session.get(User, doc.author_id), doc)
    if stop == "awaiting_review":
        return
    _complete(session, _head_of(users, dept_code), doc.id, "review")
    if stop == "awaiting_mr":
        return
    _complete(session, users["li.daibiao"], doc.id, "mr_approval")
    if doc.doc_type in ("manual", "policy"):
        _complete(session, users["zhang.zong"], doc.id, "top_approval")


def _acknowledge_all(session: Session, doc_id: int) -> None:
    for task in workflow.tasks_for_subject(session, "document", doc_id, status="open"):
        if task.name == "read_acknowledgement":
            workflow.complete_task(session, task.id, session.get(User, task.assignee_id), comment="已阅读")


def _seed_registers(session: Session, actor: User) -> None:
    """The cement company's registers (``registers.yaml``), validated like any user input."""
    data = yaml.safe_load((HERE / "registers.yaml").read_text(encoding="utf-8"))
    for name, rows in data.items():
        spec = register_specs.spec(name)
        for row in rows:
            registers.create(session, actor, spec, row)


def seed_demo(session: Session) -> None:
    """Create the demo organisation in an empty database (the caller commits)."""
    for code, name in DEPARTMENTS:
        create_department(session, code, name)
    users = _users(session)
    standards.set_applicable(session, users["admin"], APPLICABLE_STANDARDS)
    content = yaml.safe_load((HERE / "content.yaml").read_text(encoding="utf-8"))
    effective = []
    for item in content["documents"]:
        author = _author_for(users, item["department"], session)
        doc = documents.create_document(session, author, title=item["title"], doc_type=item["doc_type"],
                                        department=item["department"], template=item["template"],
                                        fields=item["fields"], clauses=item.get("clauses", []))
        state = item.get("state", "effective")
        if state != "draft":
            _approve_through(session, users, doc, item["department"], state)
        if state == "effective":
            effective.append(doc.id)
    for doc_id in effective[:-2]:  # the two newest keep their read-acknowledgement tasks open
        _acknowledge_all(session, doc_id)
    _seed_registers(session, users["li.daibiao"])
    for path in sorted((HERE / "laws").glob("*.md")):
        title, data = law_to_docx(path.read_text(encoding="utf-8"))
        doc = documents.create_document(session, users["feng.wenyuan"], title=title, doc_type="external",
                                        department="MGT", clauses=EXTERNAL_CLAUSES,
                                        upload=(f"{title}.docx", data))
        _approve_through(session, users, doc, "MGT", "effective")
        _acknowledge_all(session, doc.id)
    from cmsflow.demo.improvement import seed_improvement  # here: improvement imports DEMO_PASSWORD from us

    seed_improvement(session, users)
    from cmsflow.demo.carbon import seed_carbon, seed_maturity
    from cmsflow.demo.reviews import seed_reviews

    seed_carbon(session, users)  # before the reviews: this year's review gathers the carbon figures too
    from cmsflow.demo.assets import seed_assets

    seed_assets(session, users)  # after the carbon data: the 2025 verification compares with its results

    seed_reviews(session, users)
    seed_maturity(session, users)  # last: its evidence and intensity come from everything above
