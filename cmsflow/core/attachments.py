"""Evidence files attached to records (audit findings, activity data): checked as uploads, then stored."""
from __future__ import annotations

from sqlmodel import Session

from cmsflow.core.errors import ValidationError
from cmsflow.core.runtime import file_store
from cmsflow.core.uploads import KINDS, check_upload

ATTACHMENT_TYPES = KINDS["attachment"].types


def store_attachment(session: Session, filename: str, data: bytes, what: str = "附件") -> tuple[str, str]:
    """Store an evidence file (PDF, image, Word, Excel); returns (sha256, clean file name).

    The shared upload checks run first (:func:`cmsflow.core.uploads.check_upload`, kind ``attachment``: name,
    size over MAX_UPLOAD_BYTES, content matching the extension, zip bombs, macros, XML entities); their
    ValidationError (codes ``attachment_type``, ``file_too_large``, ``unsafe_filename``, ...) names ``what``.
    Nothing is stored when it raises.
    """
    try:
        name, content_type = check_upload(filename, data, "attachment")
    except ValidationError as exc:
        exc.message = f"{what}：{exc.message}"
        raise
    return file_store().put(session, data, content_type), name
