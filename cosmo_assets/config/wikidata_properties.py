"""configs/wikidata_properties.yaml: readable names of the Wikidata properties seeds keep."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from cosmo_assets.config.base import StrictModel, WikidataId


class WikidataVocabulary(StrictModel):
    """configs/wikidata_properties.yaml: readable names of the properties (and units) seeds keep."""

    properties: dict[Annotated[str, Field(pattern=r"^P[1-9][0-9]*$")], dict[str, str]] = Field(min_length=1)
    units: dict[WikidataId, dict[str, str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _english_names(self) -> WikidataVocabulary:
        for kind, table in (("properties", self.properties), ("units", self.units)):
            missing = [k for k, names in table.items() if "en" not in names]
            if missing:
                raise ValueError(f"{kind}: every entry needs an 'en' name, missing for {missing}")
        return self

    @property
    def canonical_names(self) -> dict[str, str]:
        """Any language's property name (lower case) -> its English name, so outline rules are written once."""
        return {name.lower(): names["en"] for names in self.properties.values() for name in names.values()}
