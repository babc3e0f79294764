"""Write the effective (stamped, controlled) .docx of a demo procedure to the path given.

Seeds the demo organisation into a throw-away SQLite instance, so the file comes through the real
template → approval workflow → publication path. Used by .ci/run for the LibreOffice check.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from sqlmodel import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cmsflow import create_app  # noqa: E402
from cmsflow.cli import migrate_to_head  # noqa: E402
from cmsflow.core.db import session_scope  # noqa: E402
from cmsflow.demo.seed import seed_demo  # noqa: E402
from cmsflow.documents import service as documents  # noqa: E402
from cmsflow.documents.models import Document  # noqa: E402


def main(target: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"INSTANCE_DIR": tmp, "DATABASE_URL": f"sqlite:///{tmp}/ci.db", "SECRET_KEY": "ci"})
        with app.app_context():
            migrate_to_head()
            with session_scope() as s:
                seed_demo(s)
            with session_scope() as s:
                doc = s.exec(select(Document).where(Document.title == "温室气体排放管理程序")).one()
                _row, data = documents.read_file(s, doc, doc.effective_version)
        Path(target).write_bytes(data)
        print(f"{doc.code} V{doc.effective_version} → {target}")


if __name__ == "__main__":
    main(sys.argv[1])
