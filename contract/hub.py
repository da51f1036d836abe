"""The Hugging Face model id ("org/name"): one definition for the form, the resolver and the
board."""

from __future__ import annotations

import re

# each part starts with an ASCII letter or digit, then letters, digits and "._-" (the hub's rule)
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
HUB_PART_MAX_CHARS = 96  # the hub's limit on an organisation or repository name


def is_hub_id(text: str) -> bool:
    """True when `text` has the form of a hub model id: "org/name", ASCII, each part at most
    96 characters, no ".." or "--" (the hub refuses both)."""
    if not HUB_ID.match(text) or ".." in text or "--" in text:
        return False
    return all(len(part) <= HUB_PART_MAX_CHARS for part in text.split("/"))
