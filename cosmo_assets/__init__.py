"""cosmo-assets."""
