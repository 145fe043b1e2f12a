"""What every config module shares: project paths, the strict base model, the error type."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_CONFIG_DIR = PROJECT_ROOT / "configs"
SQL_DIR = PROJECT_ROOT / "dbt_like_sql"  # the release's SQL models (stages/balancing.py); fingerprinted as an input

TopicType = Literal["person", "concept", "event", "place", "organisation", "creative_work"]
TOPIC_TYPES: tuple[str, ...] = get_args(TopicType)


class ConfigError(ValueError):
    """A config file is missing or invalid. The message names the file, the field and what was expected."""


class StrictModel(BaseModel):
    # Unknown keys are typos until proven otherwise.
    model_config = ConfigDict(extra="forbid", frozen=True)


WikidataId = Annotated[str, Field(pattern=r"^Q[1-9][0-9]*$")]
