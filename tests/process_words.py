"""Words about how the project was made, which users have no use for: the one list of them.

``tests/unit/test_process_words.py`` greps README.md, docs/, the code and the tests for these
patterns. Say what the code does and why, for a user; not which issue, branch or commit it came from.
"""

from __future__ import annotations

import re

PATTERNS: dict[str, re.Pattern[str]] = {
    "an issue number": re.compile(r"\bissues? #?\d+", re.IGNORECASE),
    "a commit hash": re.compile(r"\bcommit [0-9a-f]{7,40}\b", re.IGNORECASE),
    "this branch": re.compile(r"\b(?:this|that|the other|another) branch\b", re.IGNORECASE),
    "a placeholder": re.compile(r"\bsections? to come\b", re.IGNORECASE),
    "a finding number": re.compile(r"\bfindings? #?\d+", re.IGNORECASE),
    "an issue's target": re.compile(
        r"\b(?:this|the|an?) issues?(?:'s)? (?:target|asks|says)\b|\bissue target", re.IGNORECASE
    ),
}

# Each pattern must catch its example (and only its own): the test checks it.
EXAMPLES = {
    "an issue number": "as issue 12 asks",
    "a commit hash": "before commit 91644ad",
    "this branch": "measured on this branch",
    "a placeholder": "(Section to come: the calls)",
    "a finding number": "see finding 3",
    "an issue's target": "issue target met?",
}
