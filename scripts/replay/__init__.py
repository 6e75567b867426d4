"""Operator tools that replay events safely: `python -m scripts.replay --help`."""
