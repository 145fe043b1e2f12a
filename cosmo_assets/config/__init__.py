"""The project's settings: one module per file under configs/ and the one loader (`load_config`).

Everything is re-exported here, so `from cosmo_assets.config import FilterSettings` reads the same
wherever a setting lives.
"""

from cosmo_assets.config.balance import (
    QUOTA_DIMENSIONS,
    BalanceSettings,
    ExportSettings,
    QuotaSettings,
    RealTextCorpus,
    RealTextSettings,
    ReviewSettings,
    ShareTarget,
)
from cosmo_assets.config.base import DEFAULT_CONFIG_DIR, PROJECT_ROOT, TOPIC_TYPES, ConfigError, StrictModel, TopicType, WikidataId
from cosmo_assets.config.domains import (
    SOURCE_SETTINGS,
    ColumnMapping,
    CuratedJsonlSource,
    Domain,
    DomainFilters,
    Source,
    SourceSettings,
    TabularSource,
    WikidataSource,
)
from cosmo_assets.config.filters import BenchmarkFile, DecontaminationSettings, DedupSettings, FilterSettings, JudgeSettings, ShapeRule
from cosmo_assets.config.languages import Language, LanguagesFile
from cosmo_assets.config.loader import CosmoConfig, load_config
from cosmo_assets.config.model import (
    AdaptiveSettings,
    BatchSettings,
    BudgetLimits,
    BudgetSettings,
    CacheSettings,
    EmbeddedModelSettings,
    EndpointSettings,
    ModelSettings,
    PriceSettings,
)
from cosmo_assets.config.outlines import Audience, ContentType, ModelOutlineSettings, OutlineSection, OutlineSettings, Style
from cosmo_assets.config.project import ProjectSettings, RunSettings, ScheduleSettings, StorageSettings
from cosmo_assets.config.seeds import DocumentSettings, SeedLimits, SeedSettings, WikidataSettings
from cosmo_assets.config.wikidata_properties import WikidataVocabulary

__all__ = [
    "DEFAULT_CONFIG_DIR", "PROJECT_ROOT", "QUOTA_DIMENSIONS", "SOURCE_SETTINGS", "TOPIC_TYPES",
    "AdaptiveSettings", "Audience", "BalanceSettings", "BatchSettings", "BenchmarkFile", "BudgetLimits", "BudgetSettings",
    "CacheSettings",
    "ColumnMapping", "ConfigError", "ContentType", "CosmoConfig", "CuratedJsonlSource", "DecontaminationSettings",
    "DedupSettings", "Domain", "DomainFilters", "EmbeddedModelSettings", "EndpointSettings", "ExportSettings",
    "FilterSettings", "JudgeSettings", "Language", "LanguagesFile", "ModelOutlineSettings", "ModelSettings",
    "OutlineSection", "OutlineSettings", "PriceSettings", "ProjectSettings", "QuotaSettings", "RealTextCorpus", "RealTextSettings",
    "DocumentSettings", "ReviewSettings", "RunSettings", "ScheduleSettings", "SeedLimits", "SeedSettings", "ShapeRule", "ShareTarget",
    "Source", "SourceSettings", "StorageSettings", "StrictModel", "Style", "TabularSource", "TopicType", "WikidataId",
    "WikidataSettings", "WikidataSource", "WikidataVocabulary", "load_config",
]
