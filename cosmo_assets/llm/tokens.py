"""One token unit for a release: every article's length counted the same way, synthetic or real.

Where litellm has the configured model's own tokenizer locally (OpenAI models: tiktoken, bundled
with litellm), lengths are that tokenizer's tokens. For every other model (the embedded SmolLM2,
Ollama or vLLM names litellm has no tokenizer for) a word-based estimate is used for every row:
ceil(words x 4/3), the usual rule of thumb of about 0.75 English words per token. The unit's name
goes into the dataset card, so a reader knows which it is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

# Providers whose models litellm counts with their real tokenizer (tiktoken) without a download.
_TIKTOKEN_PROVIDERS = ("openai", "azure", "text-completion-openai")
TOKENS_PER_WORD = 4 / 3


@dataclass(frozen=True)
class TokenUnit:
    model: str
    exact: bool  # True: the model's own tokenizer; False: the word-based estimate

    @property
    def name(self) -> str:
        if self.exact:
            return f"tokens ({self.model} tokenizer, through litellm)"
        return f"estimated tokens (words x {TOKENS_PER_WORD:.2f}; litellm has no tokenizer for {self.model})"

    @property
    def label(self) -> str:
        """Short enough for a chart axis."""
        return f"tokens ({self.model.split('/')[-1]} tokenizer)" if self.exact else f"estimated tokens (words x {TOKENS_PER_WORD:.2f})"

    def count(self, text: str | None) -> int:
        if not text:
            return 0
        if self.exact:
            from cosmo_assets.llm.litellm_setup import load_litellm

            return int(load_litellm().token_counter(model=self.model, text=text))
        return math.ceil(len(text.split()) * TOKENS_PER_WORD)

    def count_all(self, texts: Iterable[str | None]) -> list[int]:
        return [self.count(t) for t in texts]


def token_unit(model: str) -> TokenUnit:
    """The unit lengths are counted in for `model` (a litellm model string)."""
    if model.startswith("embedded/"):
        return TokenUnit(model, exact=False)
    from cosmo_assets.llm.litellm_setup import load_litellm

    litellm = load_litellm()
    try:
        provider = litellm.get_model_info(model).get("litellm_provider")
    except Exception:  # litellm raises several types for a model it does not know
        return TokenUnit(model, exact=False)
    return TokenUnit(model, exact=provider in _TIKTOKEN_PROVIDERS)
