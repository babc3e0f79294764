"""Electronic signatures bound to the audit trail (21 CFR Part 11 §11.70 signature/record linking; §11.10(e)
audit trail; EU GMP Annex 11 §9).

A signature row can be edited by whoever may write the table; the hash-chained history cannot be edited without
``verify-history`` noticing. So the history entry of every signed step repeats the signature (:func:`binding`) and
:func:`verify_signatures` compares each signature row with the entry it is bound to.

``signed_sha256`` — the hash of what was signed:

* a document: the SHA-256 of the file of the version under approval, i.e. the stored file the signer could open
  (``DocumentVersion.file_sha256`` of the document's ``current_version``);
* any other subject whose ``subject_type`` is a table name: SHA-256 of the row's canonical JSON
  (``{column: value}``, sorted keys, no ASCII escaping, datetimes as UTC ISO 8601 with microseconds, other
  non-JSON values as ``str``) as it stands when the signature is made (after the step's form was applied);
* otherwise: SHA-256 of the canonical JSON ``{"type": subject_type, "id": subject_id}``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, select

from cmsflow.history.models import ActivityEntry
from cmsflow.workflow.models import Signature

LEGACY_ACTION = "history_digest_upgraded"  # the migration's entry listing signatures made before the binding
FIELDS = {"signer_id": "user_id", "signer_name": "signer_name", "role": "signer_role", "meaning": "meaning",
          "decision": "decision", "signed_at": "signed_at", "signed_sha256": "signed_sha256"}


def iso(value) -> str | None:
    """A datetime (or ISO string) as UTC ISO 8601 with microseconds; naive values are taken as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _canonical(data) -> bytes:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=lambda v: iso(v) if isinstance(v, datetime) else str(v)).encode()


def signed_content_hash(session: Session, subject_type: str, subject_id: int) -> str:
    """SHA-256 (hex) of what a signature on (subject_type, subject_id) signs — see the module docstring."""
    if subject_type == "document":
        from cmsflow.documents.models import Document, DocumentVersion

        doc = session.get(Document, subject_id)
        if doc is not None:
            version = session.exec(select(DocumentVersion).where(DocumentVersion.document_id == doc.id,
                                                                 DocumentVersion.number == doc.current_version)).first()
            if version is not None:
                return version.file_sha256
    table = SQLModel.metadata.tables.get(subject_type)
    if table is not None and "id" in table.c:
        row = session.execute(sa_select(table).where(table.c.id == subject_id)).mappings().first()
        if row is not None:
            return hashlib.sha256(_canonical(dict(row))).hexdigest()
    return hashlib.sha256(_canonical({"type": subject_type, "id": subject_id})).hexdigest()


def binding(sig: Signature) -> dict:
    """What the history entry of the signed step records of ``sig`` (details key ``signed``)."""
    return {"signature_id": sig.id, "signer_id": sig.user_id, "signer_name": sig.signer_name,
            "role": sig.signer_role, "meaning": sig.meaning, "decision": sig.decision,
            "signed_at": iso(sig.signed_at), "signed_sha256": sig.signed_sha256}


@dataclass
class SignatureProblem:
    """A signature row that does not match the audit trail: ``signature_id`` and a Chinese ``message``."""

    signature_id: int
    message: str


def _legacy_ids(session: Session) -> set[int]:
    ids: set[int] = set()
    for entry in session.exec(select(ActivityEntry).where(ActivityEntry.action == LEGACY_ACTION)):
        ids.update(int(i) for i in entry.details.get("legacy_signatures", []))
    return ids


def verify_signatures(session: Session) -> tuple[list[SignatureProblem], int]:
    """Compare every signature row with its bound history entry; returns (problems, number of legacy signatures).

    Reported: a signature bound to no entry (unless the migration listed it as made before the binding), bound to
    an entry that is missing or records another signature, a field (signer, name, role, meaning, decision,
    signed_at, signed_sha256, subject) that differs from the entry, and an entry recording a signature whose row
    is gone. Checking the entries themselves is :func:`cmsflow.history.service.verify_chain`'s job."""
    problems: list[SignatureProblem] = []
    legacy = _legacy_ids(session)
    legacy_seen = 0
    seen: set[int] = set()
    for sig in session.exec(select(Signature).order_by(Signature.id)):
        seen.add(sig.id)
        if sig.activity_entry_id is None:
            if sig.id in legacy:
                legacy_seen += 1
            else:
                problems.append(SignatureProblem(sig.id, f"电子签名 {sig.id} 未绑定审计日志条目"))
            continue
        entry = session.get(ActivityEntry, sig.activity_entry_id)
        bound = entry.details.get("signed") if entry is not None else None
        if not isinstance(bound, dict) or bound.get("signature_id") != sig.id:
            problems.append(SignatureProblem(sig.id, f"电子签名 {sig.id} 绑定的审计日志条目 {sig.activity_entry_id} "
                                                     "不存在或记录的不是该签名"))
            continue
        mine = binding(sig)
        changed = [name for name in FIELDS if bound.get(name) != mine[name]]
        if (entry.subject_type, entry.subject_id) != (sig.subject_type, sig.subject_id):
            changed.append("subject")
        if changed:
            problems.append(SignatureProblem(sig.id, f"电子签名 {sig.id} 与审计日志条目 {entry.id} 不一致"
                                                     f"（{'、'.join(changed)} 被改动）"))
    for entry in session.exec(select(ActivityEntry).where(ActivityEntry.action.startswith("task_"))
                              .order_by(ActivityEntry.id)):
        bound = entry.details.get("signed")
        if isinstance(bound, dict) and bound.get("signature_id") not in seen:
            sid = bound.get("signature_id")
            problems.append(SignatureProblem(sid, f"审计日志条目 {entry.id} 记录的电子签名 {sid} 已不存在"))
    return problems, legacy_seen


def _agrees(sig: Signature, entry: ActivityEntry | None) -> bool:
    bound = entry.details.get("signed") if entry is not None else None
    return (isinstance(bound, dict) and all(bound.get(name) == value for name, value in binding(sig).items())
            and (entry.subject_type, entry.subject_id) == (sig.subject_type, sig.subject_id))


def mismatched(session: Session, signatures: list[Signature]) -> set[int]:
    """Ids of those ``signatures`` that do not agree with their bound history entry (legacy signatures listed by
    the migration agree) — for pages; two queries whatever the number of signatures."""
    ids = [s.activity_entry_id for s in signatures if s.activity_entry_id is not None]
    entries = {e.id: e for e in session.exec(select(ActivityEntry).where(ActivityEntry.id.in_(ids)))} if ids else {}
    legacy = _legacy_ids(session) if len(ids) < len(signatures) else set()
    return {s.id for s in signatures
            if not (s.id in legacy if s.activity_entry_id is None else _agrees(s, entries.get(s.activity_entry_id)))}
