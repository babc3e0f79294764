"""Hand out a stored file (records, reports, evidence) as a download, for pages and the API alike."""
from __future__ import annotations

import io

from flask import send_file

from cmsflow.core.db import db_session
from cmsflow.core.errors import NotFound
from cmsflow.core.runtime import file_store
from cmsflow.core.storage import StoredFile


def send_stored(sha256: str | None, download_name: str, missing: str = "该文件尚未生成"):
    """The file with its stored content type; NotFound(``missing``) when there is none yet."""
    if not sha256:
        raise NotFound(missing)
    stored = db_session().get(StoredFile, sha256)
    return send_file(io.BytesIO(file_store().get(sha256)), as_attachment=True, download_name=download_name,
                     mimetype=stored.content_type if stored else "application/octet-stream")
