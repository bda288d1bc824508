"""Patterns of strings, and what each means in words (for error messages).

They are written for Python's `re`, which msgspec uses to check them, and end in `\\Z`: Python's `$`
also matches before a final newline, so `^[a-z]+$` would let "sales\\n" through. The OpenAPI
document spells that `\\Z` as `$`, which means the same in ECMA 262, JSON Schema's dialect
(`brain.openapi`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

MAX_ID_CHARS = 64


def _ranges(codes: Iterable[int]) -> str:
    """A regex character-class body for these code points, as escapes both Python and ECMA 262
    read alike (BMP) or as the characters themselves (beyond the BMP, where no escape is common
    to both)."""

    def one(code: int) -> str:
        return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)

    spans: list[list[int]] = []
    for code in sorted(set(codes)):
        if spans and code == spans[-1][1] + 1:
            spans[-1][1] = code
        else:
            spans.append([code, code])
    return "".join(one(a) if a == b else f"{one(a)}-{one(b)}" for a, b in spans)


_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}
_PLANES = (range(0x20000), range(0xE0000, 0xE1000))
"""Where such characters are assigned: the basic and supplementary multilingual planes and the
special-purpose plane 14 (scanning only these takes 10 ms at import instead of 200)."""
INVISIBLE = _ranges(
    c for plane in _PLANES for c in plane if unicodedata.category(chr(c)) in _INVISIBLE_CATEGORIES
)
"""Control and format characters (bidi overrides, zero-width joiners...) and line or paragraph
separators: not allowed in tags, capabilities and labels. (Lone surrogates cannot reach a string:
a body that holds one is not JSON in UTF-8, a 400; listing them would make the pattern one that
regex engines other than Python's refuse.)"""
SPACE = _ranges(c for c in range(0x10000) if chr(c).isspace())

AGENT_ID_PATTERN = r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*\Z"
AGENT_ID_RULE = f"1-{MAX_ID_CHARS} characters of [A-Za-z0-9_.-], not only dots"
NO_NUL = r"^[^\u0000]*\Z"
"""Strings are stored in PostgreSQL, whose text and jsonb cannot hold U+0000."""
TAG_PATTERN = f"^[^{INVISIBLE}]*[^{INVISIBLE}{SPACE}][^{INVISIBLE}]*\\Z"
LABEL_PATTERN = f"^[^{INVISIBLE}]*\\Z"
TEXT_PATTERN = f"^[^\\u0000]*[^\\u0000{SPACE}][^\\u0000]*\\Z"

RULES = {
    AGENT_ID_PATTERN: AGENT_ID_RULE,
    NO_NUL: "text without U+0000 (NUL)",
    TAG_PATTERN: "visible text: no control or format characters, and not only spaces",
    LABEL_PATTERN: "text without control or format characters",
    TEXT_PATTERN: "text with a character other than a space, and without U+0000 (NUL)",
}
"""What a string matching each pattern is, in words ("must be ..." in error messages)."""
