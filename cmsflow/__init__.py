"""cmsflow: a platform for an organisation's carbon emission management system (碳排放管理体系)."""
from __future__ import annotations

import importlib

from flask import Flask

from cmsflow.config import load_config

# Domain packages with a ``views.py`` exposing ``blueprint``; models are imported for their tables.
DOMAINS = ("auth", "documents", "workflow", "search", "standards", "registers", "nonconformities", "audits",
           "reviews", "compliance", "carbon", "assets", "api", "web")
MODEL_MODULES = ("core.models", "core.storage", "auth.models", "history.models", "workflow.models",
                 "documents.models", "search.models", "standards.models", "registers.models",
                 "nonconformities.models", "audits.models", "compliance.models", "reviews.models",
                 "carbon.models", "assets.models")


def import_models() -> None:
    """Import every models module so SQLModel.metadata knows all tables (Alembic uses this)."""
    for name in MODEL_MODULES:
        importlib.import_module(f"cmsflow.{name}")


def create_app(config: dict | None = None) -> Flask:
    """Application factory; ``config`` overrides values from the environment (used by tests)."""
    app = Flask(__name__, instance_path=load_config(config)["INSTANCE_DIR"])
    app.config.update(load_config(config))
    import_models()
    from cmsflow.auth.models import PASSWORD_HASH_METHOD

    PASSWORD_HASH_METHOD["method"] = app.config["PASSWORD_HASH_METHOD"]
    configure_database(app)
    configure_services(app)
    configure_web(app)
    configure_blueprints(app)
    configure_cli(app)
    return app


def configure_database(app: Flask) -> None:
    from cmsflow.core.db import close_session, make_engine

    app.extensions["cmsflow_engine"] = make_engine(app.config["DATABASE_URL"])
    app.teardown_appcontext(close_session)


def configure_services(app: Flask) -> None:
    """File store, Word template catalog, BPMN definitions (a broken file stops start-up), search."""
    from cmsflow.assets import presenters as _assets  # noqa: F401 - task forms, services, search, coverage
    from cmsflow.audits import presenters as _audits  # noqa: F401 - task forms, services, search
    from cmsflow.carbon import evaluation as _maturity  # noqa: F401 - task forms, services
    from cmsflow.compliance import presenters as _compliance  # noqa: F401 - task forms, services, search
    from cmsflow.core.storage import FileStore
    from cmsflow.documents import coverage as _doc_coverage  # noqa: F401 - registers the evidence provider
    from cmsflow.documents import search as _doc_search  # noqa: F401 - registers the provider
    from cmsflow.documents import service as _doc_service  # noqa: F401 - registers BPMN services
    from cmsflow.documents.templating import load_catalog
    from cmsflow.nonconformities import presenters as _nc  # noqa: F401 - task forms, services, search
    from cmsflow.registers import integration as _registers  # noqa: F401 - search, coverage, reminders
    from cmsflow.reviews import presenters as _reviews  # noqa: F401 - task forms, services, search
    from cmsflow.search.backend import WhooshBackend
    from cmsflow.standards.library import load_library
    from cmsflow.workflow import reminders as _reminders  # noqa: F401 - registers BPMN services
    from cmsflow.workflow.engine import load_definitions

    app.extensions["cmsflow_files"] = FileStore(app.config["FILES_DIR"])
    app.extensions["cmsflow_clause_library"] = load_library()
    app.extensions["cmsflow_doc_templates"] = load_catalog(app.config["DOC_TEMPLATES_DIR"])
    app.extensions["cmsflow_workflows"] = load_definitions(app.config["WORKFLOWS_DIR"])
    app.extensions["cmsflow_search"] = WhooshBackend(app.config["INDEX_DIR"])


def configure_web(app: Flask) -> None:
    from cmsflow.web.setup import setup_web

    setup_web(app)


def configure_blueprints(app: Flask) -> None:
    for domain in DOMAINS:
        module = importlib.import_module(f"cmsflow.{domain}.views")
        app.register_blueprint(module.blueprint)


def configure_cli(app: Flask) -> None:
    from cmsflow.cli import cli

    app.cli.add_command(cli)
