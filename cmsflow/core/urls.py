"""The one check for a redirect target taken from the request (``?next=``, a form's ``next``): OWASP ASVS 4.0.3
V5.1.5 (redirects only to allowed destinations)."""
from __future__ import annotations

from urllib.parse import urlsplit

# Browsers drop tabs and newlines from a URL and read a backslash as a slash, so "/\t/evil.example" and
# "/\\evil.example" both lead off-site; any control character, whitespace or backslash refuses the target.
_REFUSED = frozenset(chr(c) for c in range(0x21)) | {"\\", "\x7f"}


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site ("/…", not "//…", no scheme or host, no control character,
    whitespace or backslash anywhere); otherwise ``default``. Never raises."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return default
    if any(ch in _REFUSED for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
