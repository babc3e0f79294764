"""Characters no database text column can store: NUL (PostgreSQL refuses it in text) and unpaired UTF-16
surrogates. Refused at the edge (JSON bodies, form fields, query strings) with a 400, so they never reach a
statement and turn into a 500 (OWASP ASVS 5.1.4)."""
from __future__ import annotations

import re

from cmsflow.core.errors import ValidationError

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MESSAGE = "请求中含有不允许的字符（NUL 或不成对的代理字符），未保存任何内容"


def unstorable(value) -> bool:
    """Whether any string in ``value`` (a str, or dicts and lists of them, keys too) holds such a character."""
    if isinstance(value, str):
        return bool(UNSTORABLE.search(value))
    if isinstance(value, dict):
        return any(unstorable(k) or unstorable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(unstorable(v) for v in value)
    return False


def check_fields(*multidicts) -> None:
    """Raise ValidationError ``invalid_characters`` when a field name or value of the given MultiDicts (query
    string, form) holds a character no text column can store."""
    for fields in multidicts:
        for key, values in fields.lists():
            if unstorable(key) or unstorable(values):
                raise ValidationError(MESSAGE, code="invalid_characters")
