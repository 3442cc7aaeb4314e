"""Helpers shared by the tests: speech synthesis, node processes."""
