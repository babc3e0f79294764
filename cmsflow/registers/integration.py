"""How register records appear elsewhere: search entries, coverage evidence, calibration reminders."""
from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, func, select

from cmsflow.auth.service import users_in_role
from cmsflow.registers.models import Instrument, RegisterClause
from cmsflow.registers.specs import SPECS, RegisterSpec
from cmsflow.registers.values import display
from cmsflow.search.backend import Entry
from cmsflow.search.service import register_provider
from cmsflow.standards.service import Evidence, Found, register_evidence_provider
from cmsflow.workflow.models import Notification

CALIBRATION_WARNING_DAYS = 30


def _entry_provider(spec: RegisterSpec):
    def provide(session: Session, record_id: int) -> Entry | None:
        row = session.get(spec.model, record_id)
        if row is None:
            return None
        body = " ".join(display(session, f, getattr(row, f.column)) for f in spec.fields)
        return Entry(key=f"reg:{spec.name}:{row.id}", type=spec.name, id=row.id,
                     title=f"{spec.title}：{getattr(row, spec.title_field)}", code="", body=body,
                     url=f"/registers/{spec.name}/{row.id}", visibility="all")

    def ids(session: Session):
        return session.exec(select(spec.model.id)).all()
    return provide, ids


for _spec in SPECS.values():
    register_provider(f"reg:{_spec.name}", *_entry_provider(_spec))


def register_evidence(session: Session, refs: set[str], limit: int) -> dict[str, Found]:
    """Per clause reference: how many register records are linked, and the first ``limit`` links (by register,
    then record) with their records: one count, one query per linked clause, one per register."""
    out = {ref: Found(total) for ref, total in session.exec(
        select(RegisterClause.clause, func.count()).where(RegisterClause.clause.in_(refs))
        .group_by(RegisterClause.clause))}
    links = []
    for ref in out:  # one small query per clause that has records, not per record
        links += session.exec(select(RegisterClause.clause, RegisterClause.register_name, RegisterClause.record_id)
                              .where(RegisterClause.clause == ref)
                              .order_by(RegisterClause.register_name, RegisterClause.record_id).limit(limit)).all()
    by_register: dict[str, set[int]] = {}
    for _ref, name, record_id in links:
        by_register.setdefault(name, set()).add(record_id)
    records = {}
    for name, ids in by_register.items():
        spec = SPECS.get(name)
        if spec is not None:
            for row in session.exec(select(spec.model).where(spec.model.id.in_(ids))):
                records[(name, row.id)] = (spec, row)
    for ref, name, record_id in links:
        if (name, record_id) in records:
            spec, row = records[(name, record_id)]
            out[ref].items.append(Evidence(spec.name, row.id, f"{spec.title}：{getattr(row, spec.title_field)}",
                                           f"/registers/{spec.name}/{row.id}"))
    return out


register_evidence_provider(register_evidence)


def remind_calibrations(session: Session, today: date | None = None) -> int:
    """Notify the owning department's head (or the MR) once per due date of instruments that are
    overdue or due within 30 days; returns instruments reminded."""
    today = today or date.today()
    horizon = today + timedelta(days=CALIBRATION_WARNING_DAYS)
    rows = session.exec(select(Instrument).where(Instrument.status != "retired", Instrument.next_due.is_not(None),
                                                 Instrument.next_due <= horizon))
    count = 0
    for inst in rows.all():
        if inst.reminded_for == inst.next_due:
            continue
        heads = users_in_role(session, "department_head", inst.department_id) if inst.department_id else []
        recipients = heads or users_in_role(session, "management_representative")
        state = "已逾期" if inst.next_due < today else "即将到期"
        for user in recipients:
            session.add(Notification(user_id=user.id, kind="calibration",
                                     message=f"计量器具 {inst.code} {inst.name} 检定/校准{state}（{inst.next_due}）",
                                     subject_type="reg:instrument", subject_id=inst.id))
        inst.reminded_for = inst.next_due
        count += 1
    return count
