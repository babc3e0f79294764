"""Command line and the demo organisation."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import func, select

from cmsflow.core.db import session_scope
from cmsflow.documents.models import Document
from cmsflow.history import guard
from cmsflow.history.models import ActivityEntry
from cmsflow.workflow.models import HumanTask


def test_create_department_and_user_and_bad_arguments(app):
    run = app.test_cli_runner().invoke
    assert run(args=["cmsflow", "create-department", "ENE", "能源管理部"]).exit_code == 0
    res = run(args=["cmsflow", "create-department", "ENE", "重复"])
    assert res.exit_code != 0 and "已存在" in res.output
    ok = run(args=["cmsflow", "create-user", "qian", "--password", "long-enough-7", "--role", "staff",
                   "--department", "ENE"])
    assert ok.exit_code == 0, ok.output
    bad = run(args=["cmsflow", "create-user", "x", "--password", "long-enough-7", "--role", "king"])
    assert bad.exit_code != 0 and "未知角色" in bad.output and len(bad.output.strip().splitlines()) == 1
    bad = run(args=["cmsflow", "create-user", "y", "--password", "long-enough-7", "--role", "staff",
                    "--department", "NOPE"])
    assert bad.exit_code != 0 and "NOPE" in bad.output


def test_seed_demo_builds_an_organisation_with_effective_documents_and_open_tasks(app):
    run = app.test_cli_runner().invoke
    res = run(args=["cmsflow", "seed-demo", "--if-empty"])
    assert res.exit_code == 0, res.output
    with app.app_context(), session_scope() as s:
        docs = s.exec(select(Document)).all()
        effective = [d for d in docs if d.effective_version]
        assert len([d for d in docs if d.doc_type == "procedure"]) >= 8
        assert {"碳排放管理手册", "温室气体排放管理程序"} <= {d.title for d in effective}
        assert len(effective) >= 10 and any(d.status == "in_review" for d in docs)
        open_tasks = s.exec(select(func.count()).select_from(HumanTask).where(HumanTask.status == "open")).one()
        assert open_tasks > 0
        from cmsflow.registers.specs import SPECS
        for spec in SPECS.values():
            assert s.exec(select(func.count()).select_from(spec.model)).one() >= 2, spec.name
        from cmsflow.standards.service import coverage, coverage_summary
        summary = coverage_summary(coverage(s, "DB44T1944"))
        assert summary["covered"] >= summary["requiring_documented_information"] - 4
    assert "跳过" in run(args=["cmsflow", "seed-demo", "--if-empty"]).output
    assert run(args=["cmsflow", "verify-history"]).exit_code == 0


def test_history_refuses_updates_and_deletes_in_the_database(app, api, new_procedure):
    new_procedure()
    engine = app.extensions["cmsflow_engine"]
    for statement in ("UPDATE activity_entry SET details = '{}'", "DELETE FROM activity_entry"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with app.app_context(), session_scope() as s:
        assert s.exec(select(ActivityEntry)).first().details != {}


def test_history_chain_detects_tampering(app, api, new_procedure):
    """Someone with the rights to lift the triggers edits an entry: the chain shows where."""
    new_procedure()
    run = app.test_cli_runner().invoke
    assert run(args=["cmsflow", "verify-history"]).exit_code == 0
    with app.app_context(), session_scope() as s:
        guard.remove(s.connection())
        entry = s.exec(select(ActivityEntry).order_by(ActivityEntry.id)).first()
        entry.details = {**entry.details, "title": "篡改"}
        s.flush()
        guard.install(s.connection())
    res = run(args=["cmsflow", "verify-history"])
    assert res.exit_code != 0 and "断裂" in res.output


def test_worker_once_runs_a_pass(app, org):
    res = app.test_cli_runner().invoke(args=["cmsflow", "worker", "--once"])
    assert res.exit_code == 0 and "timers=0" in res.output
