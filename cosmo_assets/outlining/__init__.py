"""Outline building blocks: section plans from facts, quota-based mix assignment, model-proposed outlines."""
