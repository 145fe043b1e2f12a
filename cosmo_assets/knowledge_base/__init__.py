"""Knowledge-base adapters: each reads one source format into entities, and bad rows with their reasons.

The names below load on first use, so a Wikidata scan worker that imports only the scanner does not
load the settings models.
"""

from __future__ import annotations

import importlib

__all__ = ["REASONS", "BadRow", "Entity", "EntityFilter", "SeedFileError"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module("cosmo_assets.knowledge_base.records"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
