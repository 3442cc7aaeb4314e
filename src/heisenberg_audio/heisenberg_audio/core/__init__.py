"""Pure logic of the audio nodes: no rclpy here, unit-tested alone."""
