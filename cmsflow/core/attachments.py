"""Evidence files attached to records (audit findings, activity data): type and size checked, then stored."""
from __future__ import annotations

from sqlmodel import Session

from cmsflow.core.errors import ValidationError
from cmsflow.core.runtime import config, file_store

ATTACHMENT_TYPES = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def store_attachment(session: Session, filename: str, data: bytes, what: str = "附件") -> tuple[str, str]:
    """Store an evidence file (PDF, image, Word, Excel); returns (sha256, file name without path).

    Raises ValidationError ``attachment_type`` or ``attachment_size`` (empty or over MAX_UPLOAD_BYTES),
    the message naming ``what`` is refused.
    """
    name = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in ATTACHMENT_TYPES:
        raise ValidationError(f"{what}只接受 PDF、图片（JPG/PNG）、Word 或 Excel 文件", code="attachment_type")
    if not data or len(data) > config()["MAX_UPLOAD_BYTES"]:
        raise ValidationError(f"{what}为空或超过大小上限", code="attachment_size")
    return file_store().put(session, data, ATTACHMENT_TYPES[ext]), name[:200]
