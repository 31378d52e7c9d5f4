"""Engines: data caching, training, rollout, comparison against baselines and export. They work
through the common solver interface and never depend on a particular backend."""
