"""Thin rclpy shells around heisenberg_brain.core."""
