#!/usr/bin/env bash
# Re-extract messages and merge them into the English catalog (Chinese is the source language).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k N_ -o cmsflow/translations/messages.pot .
.venv/bin/pybabel update -i cmsflow/translations/messages.pot -d cmsflow/translations -l en
