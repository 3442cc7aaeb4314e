"""The robot's own voice in the microphone: cancelled (AEC3), gated, or simulated for tests."""
