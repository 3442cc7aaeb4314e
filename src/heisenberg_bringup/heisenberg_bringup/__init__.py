"""Python side of the bringup: the node graph without ros2 launch, and the demo runner."""
