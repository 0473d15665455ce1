"""The CSV's words (hub/api/audit_words.py) and the phone app's (i18n.js) say the same things."""

from __future__ import annotations

import re
from pathlib import Path

from hub.api import audit_words

I18N = Path(__file__).resolve().parents[1] / "hub" / "web" / "static" / "i18n.js"
# The app's key prefix for each of the server's tables.
TABLES = {"_ACTIONS": "audit.", "_COUNTS": "audit.n.", "_OUTCOMES": "audit.out.", "_KINDS": "audit.kind."}


def _app_strings() -> dict[str, dict[str, str]]:
    text = I18N.read_text(encoding="utf-8")
    vi, en = text.split("\nconst en = {", 1)
    pair = re.compile(r'^\s*"(audit\.[^"]+)":\s*"((?:[^"\\]|\\.)*)",?$', re.M)
    return {"vi": dict(pair.findall(vi)), "en": dict(pair.findall(en))}


def test_every_word_the_csv_shares_with_the_app_is_the_same() -> None:
    app = _app_strings()
    compared = 0
    mismatches = []
    for table, prefix in TABLES.items():
        for key, (vi, en) in getattr(audit_words, table).items():
            for lang, ours in (("vi", vi), ("en", en)):
                theirs = app[lang].get(prefix + key)
                if theirs is None:
                    continue  # worded differently in the app (e.g. from the action's params)
                compared += 1
                if theirs != ours:
                    mismatches.append((lang, prefix + key, ours, theirs))
    assert not mismatches, mismatches
    assert compared >= 60  # the tables really were matched up, not skipped
