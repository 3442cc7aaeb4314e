"""Pure logic of the brain: no rclpy here, unit-tested alone."""
