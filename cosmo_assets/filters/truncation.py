"""A draft that stops mid-sentence: the model hit max_tokens, or the text ends where no sentence can."""

from __future__ import annotations

# Closing marks that may follow a sentence's end: quotes, brackets, emphasis.
_TRAILING = "\"'”’»)]*_` \t\n"
_ENDS = ".!?…。！？"


def ends_mid_sentence(text: str | None) -> bool:
    """True when the last character that is not a closing mark does not end a sentence."""
    body = (text or "").rstrip()
    if not body:
        return False
    stripped = body.rstrip(_TRAILING)
    return not stripped or stripped[-1] not in _ENDS


def truncated(text: str | None, finish_reason: str | None) -> bool:
    """Stopped by the length limit (`finish_reason` 'length'), or ending mid-sentence."""
    return finish_reason == "length" or ends_mid_sentence(text)
