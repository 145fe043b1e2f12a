"""Knowledge-base adapters: each reads one source format into entities, and bad rows with their reasons."""

from cosmo_assets.knowledge_base.records import REASONS, BadRow, Entity, EntityFilter, SeedFileError

__all__ = ["REASONS", "BadRow", "Entity", "EntityFilter", "SeedFileError"]
