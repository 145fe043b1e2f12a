"""Text cut to fit where it is shown: a UI description, a table cell, a run tag."""


def clip(text: str, limit: int) -> str:
    """`text` at most `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
