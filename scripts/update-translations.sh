#!/usr/bin/env bash
# Refresh the interface's message catalogs (README.md, "Translations").
#
# 1. extract every marked string of annotator/ into annotator/translations/messages.pot;
# 2. merge it into each language's messages.po (new strings come in untranslated, changed
#    ones marked fuzzy: translate them, drop the fuzzy mark, and run this again);
# 3. compile each messages.po into the messages.mo the application reads (committed).
#
# tests/test_i18n.py fails while a marked string is missing from the catalogs or is
# untranslated, and repeats the keywords below: keep both in step.
set -euo pipefail

cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
CATALOGS=annotator/translations

"$PYBABEL" extract \
    --mapping-file=babel.cfg \
    --keywords=_l \
    --keywords=lazy_pgettext:1c,2 \
    --keywords=Message \
    --add-comments=NOTE: \
    --project=annotator \
    --version="$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)" \
    --output-file="$CATALOGS/messages.pot" \
    .
"$PYBABEL" update \
    --input-file="$CATALOGS/messages.pot" \
    --output-dir="$CATALOGS" \
    --ignore-obsolete
"$PYBABEL" compile --directory="$CATALOGS" --statistics
