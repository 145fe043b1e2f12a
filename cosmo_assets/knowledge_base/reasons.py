"""Why a row was quarantined, and the clipped copy of it kept; no settings, so scan workers import it cheaply."""

from __future__ import annotations

# Why a row was quarantined; the seed_quarantine table's reason column holds one of these.
MALFORMED_JSON = "malformed_json"
BAD_ENCODING = "bad_encoding"
MISSING_TITLE = "missing_title"
OVERSIZED_FIELD = "oversized_field"
UNKNOWN_TOPIC_TYPE = "unknown_topic_type"
INVALID_ROW = "invalid_row"
DUPLICATE_ID = "duplicate_id"
REASONS = (MALFORMED_JSON, BAD_ENCODING, MISSING_TITLE, OVERSIZED_FIELD, UNKNOWN_TOPIC_TYPE, INVALID_ROW, DUPLICATE_ID)

_RAW_CHARS = 500  # enough of a bad row to recognise it, without copying a multi-MB line into DuckDB


def clip_raw(raw: str | bytes | None) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw[: _RAW_CHARS * 4].decode("utf-8", errors="backslashreplace")
    return raw if len(raw) <= _RAW_CHARS else raw[:_RAW_CHARS] + "..."
