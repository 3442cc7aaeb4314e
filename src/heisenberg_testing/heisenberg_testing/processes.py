"""Start ROS nodes as real processes, as launch would (the graph runner's own classes)."""

from __future__ import annotations

from heisenberg_bringup import graph

NodeProcess = graph.NodeProcess
write_params = graph.write_params
