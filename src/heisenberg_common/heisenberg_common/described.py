"""The metadata of a config dataclass field: its description, and whether it can change live.

Pure Python (no rclpy), for every package's core/; heisenberg_common.params reads it when
it declares the fields as ROS parameters.
"""

from __future__ import annotations


def describe(text: str, *, dynamic: bool = False) -> dict:
    """Field metadata: the parameter's description; dynamic=True makes it settable at run time."""
    return {'description': text, 'dynamic': True} if dynamic else {'description': text}
