"""Configuration from the environment (DATABASE_URL, SECRET_KEY, CMSFLOW_INSTANCE_DIR, ...)."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_CODE_PREFIXES = {
    "manual": "CEMS-M",
    "policy": "CEMS-P",
    "procedure": "CEMS-PR",
    "rule": "CEMS-R",
    "work_instruction": "CEMS-WI",
    "record_form": "CEMS-F",
    "external": "CEMS-EXT",
}


def _instance_dir() -> Path:
    return Path(os.environ.get("CMSFLOW_INSTANCE_DIR", PROJECT_ROOT / "instance")).resolve()


def _secret_key(instance: Path) -> str:
    """SECRET_KEY from the environment, else a random key kept in the instance folder."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _code_prefixes() -> dict:
    """Per-type code prefixes; ``CMSFLOW_DOC_CODE_PREFIXES='{"procedure": "JZ-CX"}'`` overrides some."""
    prefixes = dict(DEFAULT_CODE_PREFIXES)
    raw = os.environ.get("CMSFLOW_DOC_CODE_PREFIXES")
    if raw:
        extra = json.loads(raw)
        unknown = set(extra) - set(prefixes)
        if unknown:
            raise ValueError(f"CMSFLOW_DOC_CODE_PREFIXES: unknown document types {sorted(unknown)}")
        prefixes.update(extra)
    return prefixes


def load_config(overrides: dict | None = None) -> dict:
    """Build the Flask config dict; ``overrides`` (tests) win over the environment."""
    overrides = overrides or {}
    instance = Path(overrides.get("INSTANCE_DIR") or _instance_dir())
    instance.mkdir(parents=True, exist_ok=True)
    cfg = {
        "INSTANCE_DIR": str(instance),
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{instance / 'cmsflow.db'}"),
        "FILES_DIR": str(instance / "files"),
        "INDEX_DIR": str(instance / "search-index"),
        "WORKFLOWS_DIR": str(PROJECT_ROOT / "workflows"),
        "DOC_TEMPLATES_DIR": str(PROJECT_ROOT / "doc_templates"),
        "ORGANISATION_NAME": os.environ.get("CMSFLOW_ORGANISATION", "华北建材集团冀中水泥有限公司"),
        "DOC_CODE_PREFIXES": _code_prefixes(),
        "DOC_CODE_DIGITS": 3,
        "MAX_UPLOAD_BYTES": int(os.environ.get("CMSFLOW_MAX_UPLOAD_MB", "20")) * 1024 * 1024,
        # Uploads (cmsflow/core/uploads.py): register/activity imports have their own limit; an Office file
        # (.docx/.xlsx) is refused as a zip bomb over this uncompressed size, member count or compression ratio.
        "MAX_IMPORT_BYTES": int(os.environ.get("CMSFLOW_MAX_IMPORT_MB", "10")) * 1024 * 1024,
        "UPLOAD_MAX_UNCOMPRESSED_BYTES": int(os.environ.get("CMSFLOW_UPLOAD_MAX_UNCOMPRESSED_MB", "100")) * 1024 * 1024,
        "UPLOAD_MAX_ZIP_MEMBERS": int(os.environ.get("CMSFLOW_UPLOAD_MAX_ZIP_MEMBERS", "5000")),
        "UPLOAD_MAX_ZIP_RATIO": int(os.environ.get("CMSFLOW_UPLOAD_MAX_ZIP_RATIO", "100")),
        # Imports (cmsflow/core/imports.py): at most this many data rows and columns per file, counted while reading.
        "IMPORT_MAX_ROWS": int(os.environ.get("CMSFLOW_IMPORT_MAX_ROWS", "5000")),
        "IMPORT_MAX_COLUMNS": int(os.environ.get("CMSFLOW_IMPORT_MAX_COLUMNS", "60")),
        # ISO 8601 durations used by the BPMN timers
        "REVIEW_REMINDER_AFTER": os.environ.get("CMSFLOW_REVIEW_REMINDER_AFTER", "P3D"),
        # Segregation of duties on signed steps (cmsflow/workflow/segregation.py): nobody signs a step of a version
        # they authored or two steps of the same version. A very small organisation may relax it (0); each use is
        # then recorded in the history.
        "SEGREGATION_OF_DUTIES": os.environ.get("CMSFLOW_SEGREGATION_OF_DUTIES", "1") not in ("0", "false", "no"),
        "TASK_DUE_AFTER_DAYS": int(os.environ.get("CMSFLOW_TASK_DUE_AFTER_DAYS", "5")),
        # Corrective actions: each step is due after STEP_DUE days (then reminded) and escalated to the
        # management representative after STEP_ESCALATION days; effectiveness is verified no earlier
        # than VERIFICATION_WAIT days after implementation.
        "CA_STEP_DUE_DAYS": int(os.environ.get("CMSFLOW_CA_STEP_DUE_DAYS", "7")),
        "CA_STEP_ESCALATION_DAYS": int(os.environ.get("CMSFLOW_CA_STEP_ESCALATION_DAYS", "14")),
        "CA_VERIFICATION_WAIT_DAYS": int(os.environ.get("CMSFLOW_CA_VERIFICATION_WAIT_DAYS", "30")),
        # Internal audits: preparation starts this many days before the audit's planned month.
        "AUDIT_PREPARATION_DAYS": int(os.environ.get("CMSFLOW_AUDIT_PREPARATION_DAYS", "14")),
        # Management reviews: default interval of the review cycle, and how long before the planned
        # date the management representative starts preparing (inputs are gathered then).
        "REVIEW_INTERVAL_MONTHS": int(os.environ.get("CMSFLOW_REVIEW_INTERVAL_MONTHS", "12")),
        "REVIEW_PREPARATION_DAYS": int(os.environ.get("CMSFLOW_REVIEW_PREPARATION_DAYS", "30")),
        "REVIEW_STEP_DUE_DAYS": int(os.environ.get("CMSFLOW_REVIEW_STEP_DUE_DAYS", "10")),
        # Compliance evaluations: each step is due after this many days, escalated after twice that.
        "COMPLIANCE_STEP_DUE_DAYS": int(os.environ.get("CMSFLOW_COMPLIANCE_STEP_DUE_DAYS", "14")),
        # Global warming potentials for non-CO2 gases (tCO2e per t gas). Default: the values used by
        # China's enterprise GHG accounting guidelines (IPCC SAR); set JSON to use AR5/AR6 values.
        "CARBON_GWP": json.loads(os.environ.get("CMSFLOW_CARBON_GWP", '{"CO2": 1, "CH4": 21, "N2O": 310}')),
        # Maturity evaluation: another scoring scheme file (same shape as cmsflow/carbon/data/maturity_scheme.yaml),
        # and how many days before a result expires (3 years after approval) management is reminded.
        "MATURITY_SCHEME": os.environ.get("CMSFLOW_MATURITY_SCHEME", ""),
        "MATURITY_EXPIRY_REMINDER_DAYS": int(os.environ.get("CMSFLOW_MATURITY_EXPIRY_REMINDER_DAYS", "90")),
        # Carbon assets and allowance compliance (履约). Offsets (CCER) may cover at most this share of the
        # verified emissions of a compliance period (national market rule: 5 %), only these asset types count
        # as offsets there; the surrender deadline is reminded / escalated this many days before it; the
        # department that keeps the registry and trading accounts records transactions and owns cycles.
        "CARBON_OFFSET_LIMIT": os.environ.get("CMSFLOW_CARBON_OFFSET_LIMIT", "0.05"),
        "CARBON_OFFSET_TYPES": json.loads(os.environ.get("CMSFLOW_CARBON_OFFSET_TYPES", '["ccer"]')),
        "SURRENDER_REMINDER_DAYS": int(os.environ.get("CMSFLOW_SURRENDER_REMINDER_DAYS", "30")),
        "SURRENDER_ESCALATION_DAYS": int(os.environ.get("CMSFLOW_SURRENDER_ESCALATION_DAYS", "7")),
        "CARBON_ASSET_DEPARTMENT": os.environ.get("CMSFLOW_CARBON_ASSET_DEPARTMENT", "FIN"),
        # Carbon neutrality: net emissions up to this share of the emissions count as near-neutral; the asset
        # types whose retired units may be claimed as offsets (allowances only where the organisation allows it).
        "NEUTRALITY_TOLERANCE": os.environ.get("CMSFLOW_NEUTRALITY_TOLERANCE", "0.05"),
        "NEUTRALITY_OFFSET_TYPES": json.loads(os.environ.get("CMSFLOW_NEUTRALITY_OFFSET_TYPES",
                                                             '["ccer", "other_credit", "sink", "cea"]')),
        "API_TOKEN_TTL_HOURS": 12,
        # Sessions and accounts (README "Security"): cookies are HttpOnly + SameSite=Lax, Secure behind HTTPS
        # (CMSFLOW_SECURE_COOKIES=1, which also sends HSTS); LOGIN_MAX_FAILURES wrong passwords in a row lock an
        # account name for LOGIN_LOCKOUT_MINUTES; POST /login and /api/v1/auth/token are limited per client
        # address (Flask-Limiter; RATELIMIT_STORAGE_URI e.g. redis://127.0.0.1:6379 for several workers).
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("CMSFLOW_SECURE_COOKIES", "0") == "1",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": os.environ.get("CMSFLOW_SECURE_COOKIES", "0") == "1",
        "REMEMBER_COOKIE_DURATION": 14 * 24 * 3600,
        # werkzeug's method for new password hashes; the tests use a cheap one ("pbkdf2:sha256:1000") for speed.
        "PASSWORD_HASH_METHOD": os.environ.get("CMSFLOW_PASSWORD_HASH_METHOD", "scrypt"),
        "LOGIN_MAX_FAILURES": int(os.environ.get("CMSFLOW_LOGIN_MAX_FAILURES", "5")),
        "LOGIN_LOCKOUT_MINUTES": int(os.environ.get("CMSFLOW_LOGIN_LOCKOUT_MINUTES", "15")),
        "LOGIN_RATE_LIMIT": os.environ.get("CMSFLOW_LOGIN_RATE_LIMIT", "30 per minute"),
        "LOGIN_RATE_LIMIT_ENABLED": os.environ.get("CMSFLOW_LOGIN_RATE_LIMIT_ENABLED", "1") == "1",
        # One process (``make run``) may count in memory; several (gunicorn workers, hosts) must count in one
        # place: gunicorn.conf.py refuses to start more than one worker on memory://.
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI") or os.environ.get("CMSFLOW_REDIS_URL")
        or "memory://",
        "RATELIMIT_KEY_PREFIX": os.environ.get("CMSFLOW_RATELIMIT_KEY_PREFIX", "cmsflow"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
        "LANGUAGES": ["zh_CN", "en"],
        "TIMEZONE": os.environ.get("CMSFLOW_TIMEZONE", "Asia/Shanghai"),
        # HMAC key of the history checkpoint and of backup manifests; unset: SECRET_KEY (cmsflow.history.checkpoint)
        "HISTORY_HMAC_KEY": os.environ.get("CMSFLOW_HISTORY_HMAC_KEY") or None,
    }
    cfg["MAX_CONTENT_LENGTH"] = cfg["MAX_UPLOAD_BYTES"] + 1024 * 1024
    cfg.update(overrides)
    if "SECRET_KEY" not in cfg:
        cfg["SECRET_KEY"] = _secret_key(instance)
    return cfg
