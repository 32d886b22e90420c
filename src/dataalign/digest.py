"""Content digests: an output is named by a hash of what decides it, so experiments that need the
same one share it and an edited option gets a new name. A leaf module, so any layer may name its
outputs the same way (the plan's records, a selection's chosen rows)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_digest(value: Any) -> str:
    """A short stable hash of a JSON-able value: the content part of an output's name."""
    encoded = json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:10]
