"""Access to app-wide services (config, file store, template catalog) for service modules."""
from __future__ import annotations

from flask import current_app

from cmsflow.core.storage import FileStore


def config() -> dict:
    return current_app.config


def file_store() -> FileStore:
    return current_app.extensions["cmsflow_files"]


def template_catalog() -> dict:
    return current_app.extensions["cmsflow_doc_templates"]
