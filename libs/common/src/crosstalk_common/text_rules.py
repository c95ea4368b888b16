"""What text the services accept, and how identities are spelled before they are compared.

Pure Python, so domain code may use it. Free text may hold tab, line feed and
carriage return (CR LF is how many channels end lines); every other C0
control character, DEL and the C1 controls are refused: they are invisible,
they make two spellings of one identity look alike, and PostgreSQL cannot
store NUL in text at all.
"""

from __future__ import annotations

import re
import unicodedata

# C0 controls except \t \n \r, then DEL and the C1 block.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def control_character_problem(text: str) -> str | None:
    """Why ``text`` is refused, naming the first control character, or None when it is fine."""
    found = _CONTROL.search(text)
    if found is None:
        return None
    return (
        f"must not contain control characters (U+{ord(found.group()):04X} at "
        f"position {found.start()}); only tab, line feed and carriage return are allowed"
    )


def normalized_identity(text: str) -> str:
    """An identifier as it is compared and stored: Unicode NFC, without surrounding blanks.

    ``"jose\\u0301@b.co "`` and ``"josé@b.co"`` are one identity. Case is left
    alone: whether it matters depends on the channel (e-mail lower-cases it).
    """
    return unicodedata.normalize("NFC", text).strip()
