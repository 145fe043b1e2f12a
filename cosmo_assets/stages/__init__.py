"""The stages as plain functions on polars frames; the Dagster layer in defs/ calls them."""
