"""The whole audit-trail check behind ``cmsflow verify-history``: the hash chain, every electronic signature against
its bound history entry, and the table against the HMAC-signed checkpoint (21 CFR Part 11 §11.10(e), §11.70;
EU GMP Annex 11 §9)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, func, select

from cmsflow.history import checkpoint
from cmsflow.history.models import ActivityEntry
from cmsflow.history.service import verify_chain


@dataclass
class AuditReport:
    """Result of :func:`verify_history`.

    ``entries`` in the table; ``broken_at`` the first entry whose hash does not verify (None: chain intact);
    ``signature_problems`` (:class:`cmsflow.workflow.signing.SignatureProblem`, each naming the signature id);
    ``legacy_signatures`` made before signatures were bound; ``checkpoint`` (None: none written yet, a warning);
    ``checkpoint_problems`` (Chinese): the table was truncated or rewritten after the checkpoint, or the checkpoint
    file itself is invalid. ``ok`` when none of these is found."""

    entries: int
    broken_at: int | None
    signature_problems: list = field(default_factory=list)
    legacy_signatures: int = 0
    checkpoint: checkpoint.Checkpoint | None = None
    checkpoint_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.broken_at is None and not self.signature_problems and not self.checkpoint_problems


def verify_history(session: Session, path: Path | None = None, key: bytes | None = None) -> AuditReport:
    """Check chain, signatures and checkpoint (path/key default to the app's, see :mod:`checkpoint`); never raises
    for what it finds — everything is in the report."""
    from cmsflow.workflow.signing import verify_signatures

    ok, broken = verify_chain(session)
    entries = session.exec(select(func.count()).select_from(ActivityEntry)).one()
    problems, legacy = verify_signatures(session)
    report = AuditReport(entries=entries, broken_at=None if ok else broken, signature_problems=problems,
                         legacy_signatures=legacy)
    try:
        report.checkpoint = checkpoint.read(path, key)
    except checkpoint.CheckpointError as exc:
        report.checkpoint_problems.append(exc.message)
    if report.checkpoint is not None:
        report.checkpoint_problems += checkpoint.compare(session, report.checkpoint)
    return report
