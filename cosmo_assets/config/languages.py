"""configs/languages.yaml: the languages articles are written in."""

from __future__ import annotations

from pydantic import Field, model_validator

from cosmo_assets.config.base import StrictModel


class Language(StrictModel):
    code: str = Field(pattern=r"^[a-z]{2,3}$")
    name: str
    enabled: bool = False


class LanguagesFile(StrictModel):
    languages: list[Language]

    @model_validator(mode="after")
    def _checks(self) -> LanguagesFile:
        codes = [lang.code for lang in self.languages]
        if len(set(codes)) != len(codes):
            raise ValueError(f"language codes must be unique, got {codes}")
        if not any(lang.enabled for lang in self.languages):
            raise ValueError("at least one language must have enabled: true")
        return self
