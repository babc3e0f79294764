"""Third-party verification (核查) of a year's emissions (DB44/T 1944 A.4.2.4, T/CECA-G §9.6.1 e)).

An engagement names the verifier, the period and the scope; its result is the final verified emissions,
per source where the verifier reports them, and the report file. Our accounting (the current results of
``cmsflow.carbon``) is compared with the verified figure source by source. A finding of the verifier can
raise a nonconformity (source ``verification``).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import delete
from sqlmodel import Session, select

from cmsflow.assets import values as v
from cmsflow.assets.models import Verification, VerificationFinding, VerificationLine
from cmsflow.auth.models import User
from cmsflow.carbon import service as carbon
from cmsflow.core import signals
from cmsflow.core.attachments import store_attachment
from cmsflow.core.db import utcnow
from cmsflow.core.errors import Conflict, NotFound, ValidationError
from cmsflow.history import service as history
from cmsflow.nonconformities.models import SEVERITIES
from cmsflow.registers.models import EmissionSource

SUBJECT = "asset_verification"


def get(session: Session, ver_id: int) -> Verification:
    """A verification by id; NotFound otherwise."""
    ver = session.get(Verification, ver_id)
    if ver is None:
        raise NotFound("核查记录不存在")
    return ver


def completed_for(session: Session, year: int) -> Verification | None:
    """The latest completed verification of compliance year ``year``."""
    return session.exec(select(Verification).where(Verification.compliance_year == year,
                                                   Verification.status == "completed")
                        .order_by(Verification.completed_on.desc(), Verification.id.desc())).first()


def _changed(session: Session, ver: Verification) -> None:
    ver.updated_at = utcnow()
    session.flush()
    signals.subject_changed.send(SUBJECT, subject_id=ver.id, session=session)


def create_verification(session: Session, actor: User, *, compliance_year, scope, verifier, period_start=None,
                        period_end=None, lead_verifier=None) -> Verification:
    """Record an engagement of ``verifier`` for ``compliance_year`` (period default: that calendar year).
    Raises PermissionDenied (MR/admin) and ValidationError with ``details.fields``."""
    v.require_manager(actor, "登记第三方核查")
    errors: dict[str, str] = {}
    year = v.integer(compliance_year, "compliance_year", "核查年度", errors, bounds=v.YEARS)
    start = v.day(period_start, "period_start", errors, default=date(year, 1, 1) if year else None)
    end = v.day(period_end, "period_end", errors, default=date(year, 12, 31) if year else None)
    scope = v.text(scope, "scope", "核查范围", errors)
    verifier = v.text(verifier, "verifier", "核查机构", errors, limit=200)
    if start and end and end < start:
        errors["period_end"] = "结束日期早于开始日期"
    v.refuse(errors, "核查信息不完整", "invalid_verification")
    ver = Verification(code=v.next_code(session, "HC", year), compliance_year=year, period_start=start,
                       period_end=end, scope=scope, verifier=verifier,
                       lead_verifier=str(lead_verifier or "").strip() or None, created_by_id=actor.id)
    session.add(ver)
    session.flush()
    history.record(session, actor, "verification_created", SUBJECT, ver.id, code=ver.code, verifier=verifier)
    _changed(session, ver)
    return ver


def accounted_by_source(session: Session, ver: Verification) -> dict[int, Decimal]:
    """Our current accounting results of the verified period, tCO2e per emission source id."""
    res = carbon.totals(session, ver.period_start.replace(day=1), ver.period_end, "source")
    return {int(g["key"]): Decimal(g["tco2e"]) for g in res["groups"]}


def _lines(session: Session, raw_lines, accounted: dict[int, Decimal], errors: dict) -> list[VerificationLine]:
    out = []
    if not isinstance(raw_lines, list):
        errors["lines"] = "lines 须为数组 [{emission_source, verified, note}]"
        return out
    for i, raw in enumerate(raw_lines):
        raw = raw if isinstance(raw, dict) else {}
        try:
            src = carbon.source_by_ref(session, raw.get("emission_source"))
        except ValidationError:
            errors[f"lines[{i}].emission_source"] = f"第 {i + 1} 行排放源不存在"
            continue
        verified = v.number(raw.get("verified"), f"lines[{i}].verified", f"第 {i + 1} 行核查值", errors)
        if verified is not None:
            out.append(VerificationLine(emission_source_id=src.id, accounted=accounted.get(src.id, Decimal(0)),
                                        verified=verified, note=str(raw.get("note") or "").strip() or None))
    if len({line.emission_source_id for line in out}) != len(out):
        errors["lines"] = "同一排放源只能有一行"
    return out


def record_result(session: Session, actor: User, ver: Verification, *, conclusion, verified_emissions=None,
                  lines=None, lock_version=None) -> Verification:
    """The verifier's result: ``verified_emissions`` (tCO2e; default the sum of ``lines``), ``lines`` =
    [{emission_source (id or name), verified, note}], ``conclusion``. Our accounting of the period is stored
    beside it (over the sources of ``lines`` when given: the verified boundary). Needs the ``lock_version``
    read (Conflict ``stale_edit`` otherwise)."""
    v.require_manager(actor, "录入核查结果")
    errors: dict[str, str] = {}
    accounted = accounted_by_source(session, ver)
    rows = _lines(session, lines or [], accounted, errors)
    total = v.number(verified_emissions, "verified_emissions", "核查排放量", errors, required=not rows)
    conclusion = v.text(conclusion, "conclusion", "核查结论", errors)
    v.refuse(errors, "核查结果不完整", "invalid_verification")
    v.check_lock(ver, lock_version)
    session.exec(delete(VerificationLine).where(VerificationLine.verification_id == ver.id))
    for row in rows:
        row.verification_id = ver.id
        session.add(row)
    ver.verified_emissions = total if total is not None else sum((r.verified for r in rows), Decimal(0))
    # with lines, the verified boundary is their sources; our figure is compared over the same sources
    ver.accounting_emissions = sum((r.accounted for r in rows) if rows else accounted.values(), Decimal(0))
    ver.conclusion, ver.status, ver.completed_on = conclusion, "completed", date.today()
    history.record(session, actor, "verification_completed", SUBJECT, ver.id, verified=str(ver.verified_emissions),
                   accounted=str(ver.accounting_emissions))
    _changed(session, ver)
    return ver


def attach_report(session: Session, actor: User, ver: Verification, filename: str, data: bytes) -> Verification:
    """Store the verification report (PDF, Word, image)."""
    v.require_manager(actor, "上传核查报告")
    ver.report_sha256, ver.report_filename = store_attachment(session, filename, data, "核查报告")
    history.record(session, actor, "verification_report_attached", SUBJECT, ver.id, filename=ver.report_filename)
    _changed(session, ver)
    return ver


def differences(session: Session, ver: Verification) -> list[dict]:
    """Per source our accounting and the verified figure: ``{source_id, source, accounted, verified,
    difference, percent}``; verified is None for a source the verifier did not report separately."""
    accounted = accounted_by_source(session, ver)
    lines = {line.emission_source_id: line for line in session.exec(
        select(VerificationLine).where(VerificationLine.verification_id == ver.id))}
    accounted.update({sid: line.accounted for sid, line in lines.items()})  # as accounted when verified
    names = {s.id: s.name for s in session.exec(select(EmissionSource))}
    out = []
    for sid in sorted(accounted, key=lambda i: names.get(i, "")):
        line, ours = lines.get(sid), accounted[sid]
        diff = (line.verified - ours).quantize(Decimal("0.01")) + 0 if line else None  # + 0: no "-0.00"
        out.append({"source_id": sid, "source": names.get(sid, str(sid)), "accounted": ours, "difference": diff,
                    "verified": line.verified if line else None, "note": line.note if line else None,
                    "percent": (diff / ours * 100).quantize(Decimal("0.01")) if line and ours else None})
    return out


def findings(session: Session, ver: Verification) -> list[VerificationFinding]:
    """The verification's findings in order."""
    return list(session.exec(select(VerificationFinding).where(VerificationFinding.verification_id == ver.id)
                             .order_by(VerificationFinding.seq)))


def add_finding(session: Session, actor: User, ver: Verification, *, description, severity="minor",
                emission_source=None) -> VerificationFinding:
    """Record a finding of the verifier (minor or major, optionally about one emission source)."""
    v.require_manager(actor, "登记核查发现")
    errors: dict[str, str] = {}
    description = v.text(description, "description", "核查发现", errors)
    if severity not in SEVERITIES:
        errors["severity"] = "严重程度须为 minor 或 major"
    src = None
    if emission_source not in (None, ""):
        try:
            src = carbon.source_by_ref(session, emission_source)
        except ValidationError:
            errors["emission_source"] = "排放源不存在"
    v.refuse(errors, "核查发现不完整", "invalid_finding")
    row = VerificationFinding(verification_id=ver.id, seq=len(findings(session, ver)) + 1, description=description,
                              severity=severity, emission_source_id=src.id if src else None)
    session.add(row)
    session.flush()
    history.record(session, actor, "verification_finding_recorded", SUBJECT, ver.id, seq=row.seq)
    _changed(session, ver)
    return row


def raise_nonconformity(session: Session, actor: User, finding_id: int, department) -> VerificationFinding:
    """Raise a nonconformity of ``department`` (code) from a finding; Conflict when one was raised already."""
    from cmsflow.nonconformities import service as nonconformities

    finding = session.get(VerificationFinding, finding_id)
    if finding is None:
        raise NotFound("核查发现不存在")
    if finding.nonconformity_id:
        raise Conflict("该核查发现已提出不符合项", code="already_raised")
    ver = get(session, finding.verification_id)
    nc = nonconformities.raise_nonconformity(
        session, actor, title=f"核查发现：{finding.description}"[:200],
        description=f"{ver.verifier}对 {ver.compliance_year} 年度排放的核查（{ver.code}）提出：{finding.description}",
        evidence=ver.conclusion or "", source="verification", department=department, severity=finding.severity,
        clauses=["DB44T1944:A.4.2.4"], source_ref=f"verification_finding:{finding.id}")
    finding.nonconformity_id = nc.id
    history.record(session, actor, "verification_nonconformity_raised", SUBJECT, ver.id, finding=finding.seq,
                   nonconformity=nc.code)
    _changed(session, ver)
    return finding
