"""Stable ids: the same inputs give the same id on every run and every machine."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_hash(*parts: Any, length: int = 16) -> str:
    payload = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:length]


def stable_id(prefix: str, *parts: Any) -> str:
    return f"{prefix}_{content_hash(*parts)}"
