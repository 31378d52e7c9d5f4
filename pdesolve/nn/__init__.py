"""Reusable network layers, kept apart from the models that use them."""
