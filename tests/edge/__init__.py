"""Tests of the edge agent (the decoders have their own package below)."""
