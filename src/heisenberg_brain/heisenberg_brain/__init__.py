"""heisenberg_brain."""
