"""The demo's internal audits and nonconformities (``cmsflow/demo/improvement.yaml``) reach the stages
the demo promises, driven through the real services by ``seed_demo``."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlmodel import select

from cmsflow.assets.models import AssetLot
from cmsflow.audits import programmes
from cmsflow.audits import service as audits
from cmsflow.audits.models import Audit, AuditProgramme
from cmsflow.carbon.models import Deviation, EmissionResult, MaturityEvaluation
from cmsflow.compliance.models import ComplianceEvaluation
from cmsflow.core.db import session_scope
from cmsflow.core.runtime import file_store
from cmsflow.demo.seed import seed_demo
from cmsflow.nonconformities import service as nonconformities
from cmsflow.nonconformities.models import Nonconformity
from cmsflow.reviews.models import ManagementReview, ReviewAction


def test_demo_has_an_approved_programme_audits_and_nonconformities_at_their_stages(ctx):
    with session_scope() as s:
        seed_demo(s)
    with session_scope() as s:
        (prog,) = s.exec(select(AuditProgramme)).all()
        assert prog.status == "approved" and prog.approved_by_id is not None
        cov = programmes.coverage(s, prog)
        assert cov.uncovered_departments == []
        assert not [ref for ref in cov.uncovered_clauses if ref in {f"DB44T1944:{n}" for n in range(4, 11)}]

        by_status = {}
        for audit in s.exec(select(Audit)):
            by_status.setdefault(audit.status, []).append(audit)
        (closed,) = by_status["closed"]
        assert closed.record_sha256 and file_store().get(closed.record_sha256)
        assert closed.report_approved_by_id is not None
        (on_site,) = by_status["on_site"]
        assert audits.open_task(s, on_site).name == "record_findings"
        results = [line.result for line in audits.findings_of(s, on_site)]
        assert None in results and any(results)  # some lines recorded, some still open

        ncs = s.exec(select(Nonconformity)).all()
        assert any(nc.status == "closed" and nc.verification_note for nc in ncs)
        assert [nc.status for nc in ncs].count("withdrawn") == 1
        assert [nc.status for nc in nonconformities.query(s, {"overdue": "1"})] == ["raised"]
        (from_audit,) = [nc for nc in ncs if nc.source == "internal_audit"]
        finding = [line for line in audits.findings_of(s, closed) if line.nonconformity_id == from_audit.id]
        assert len(finding) == 1 and from_audit.source_ref == f"audit_finding:{finding[0].id}"
        assert from_audit.status in ("correction", "cause_analysis")

        # Management reviews and compliance evaluations (cmsflow/demo/reviews.yaml)
        last, current = s.exec(select(ManagementReview).order_by(ManagementReview.planned_on)).all()
        assert last.status == "closed" and last.record_sha256 and last.signed_by_id is not None
        actions = s.exec(select(ReviewAction).where(ReviewAction.review_id == last.id)).all()
        assert {a.status for a in actions} == {"open", "done"} and all(a.owner_id for a in actions)
        assert current.trigger == "scheduled" and current.status == "preparing"
        assert current.period_start == last.period_end + timedelta(days=1)
        sections = {sec["key"]: sec for sec in current.inputs["sections"]}
        assert sections["previous_actions"]["data"]["total"] == len(actions)
        assert sections["nonconformities"]["data"]["total"] == len(ncs)  # the demo's cases fall in this period
        evaluations = s.exec(select(ComplianceEvaluation)).all()
        assert sorted(e.result or "open" for e in evaluations) == ["compliant", "compliant", "non_compliant", "open"]
        (non_compliant,) = [e for e in evaluations if e.result == "non_compliant"]
        nc = s.get(Nonconformity, non_compliant.nonconformity_id)
        assert nc.source == "compliance_evaluation" and nc.status == "raised"

        # Carbon data and the maturity evaluation (cmsflow/demo/carbon.yaml, maturity.yaml)
        (dev,) = s.exec(select(Deviation)).all()
        assert dev.period.isoformat() == "2026-03-01" and dev.deviation_percent > 5
        assert s.get(Nonconformity, dev.nonconformity_id).source == "monitoring"
        assert len(s.exec(select(EmissionResult)).all()) == 8 * 24  # eight sources, 24 months, all accounted
        assert sections["carbon_performance"]["data"]["emissions_tco2e"] > 0  # the review sees the carbon data
        (ev,) = s.exec(select(MaturityEvaluation)).all()
        assert ev.status == "issued" and ev.record_sha256 and ev.rating in ("two_star", "three_star")
        assert ev.quant_method == "historical" and ev.intensity is not None

        # Carbon assets (cmsflow/demo/assets.yaml): allowances of two years, one CCER purchase, a completed and an
        # open compliance cycle, a verification with one finding, a neutrality statement
        from cmsflow.assets import compliance, ledger, neutrality, valuation, verification
        from cmsflow.assets.models import AssetTransaction, ComplianceCycle, Verification

        assert [c.compliance_year for c in s.exec(select(AssetLot).where(AssetLot.asset_type == "cea")
                                                   .order_by(AssetLot.compliance_year))] == [2024, 2025]
        assert [t.kind for t in s.exec(select(AssetTransaction).join(AssetLot).where(
            AssetLot.asset_type == "ccer", AssetTransaction.kind == "purchase"))] == ["purchase"]
        done, running = s.exec(select(ComplianceCycle).order_by(ComplianceCycle.compliance_year)).all()
        assert done.status == "closed" and done.nonconformity_id is None and done.evidence_sha256
        assert compliance.position(s, done)["met_by_deadline"] and compliance.position(s, done)["outstanding"] == 0
        assert running.status == "executing" and running.approved_by_id is not None
        assert compliance.position(s, running)["position"] == Decimal("-7733.69")  # 1 180 760 + 3 000 − 1 191 493.69
        (with_finding,) = [v for v in s.exec(select(Verification)) if verification.findings(s, v)]
        assert with_finding.compliance_year == 2025 and len(verification.findings(s, with_finding)) == 1
        assert any(d["difference"] for d in verification.differences(s, with_finding))
        (stmt,) = neutrality.statements(s)
        assert stmt.status == "neutral" and len(neutrality.claimed_units(s, stmt)) == 1
        held = {r["lot"].code: r["held"] for r in valuation.holdings(s) if r["account"].code == "REG"}
        assert held["CCER-OW-2024"] == 30000 - 20000 - 2400 and ledger.balance(
            s, ledger.account(s, "REG").id, ledger.lot(s, "CEA-2024").id) == 64
