"""Thin rclpy shells around heisenberg_audio.core."""
