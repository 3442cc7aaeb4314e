"""heisenberg_audio."""
