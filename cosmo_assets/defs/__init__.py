"""The Dagster layer: thin assets, checks, schedules and resources over the plain stage modules."""
