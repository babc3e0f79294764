"""English is complete (the UI is Chinese first, English via Flask-Babel): every message the code and templates
mark for translation has an English text in cmsflow/translations/en, and none is a garbled repeat."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]


def test_every_marked_message_has_an_english_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "extract", "-F", "babel.cfg",
                    "-k", "_l", "-k", "lazy_gettext", "-k", "N_", "-o", str(pot), "."], cwd=ROOT, check=True,
                   capture_output=True)
    with pot.open("rb") as fh:
        template = read_po(fh)
    with (ROOT / "cmsflow/translations/en/LC_MESSAGES/messages.po").open("rb") as fh:
        english = read_po(fh)
    missing = [m.id for m in template if m.id and not (english.get(m.id) and english.get(m.id).string)]
    assert missing == [], "no English for:\n" + "\n".join(map(str, missing))


def test_no_translation_repeats_itself():
    with (ROOT / "cmsflow/translations/en/LC_MESSAGES/messages.po").open("rb") as fh:
        english = read_po(fh)
    for m in english:
        text = m.string if isinstance(m.string, str) else ""
        half = len(text) // 2
        assert not (len(text) > 40 and text[:half] == text[half:]), m.id
