"""The assistant's nodes, in start order: one table for the launch file and the graph runner.

llama-server first (the brain checks it), tts before the brain (its Speak server).
"""

from __future__ import annotations

from typing import NamedTuple


class NodeEntry(NamedTuple):
    package: str
    executable: str     # console script; its module is <package>.nodes.<executable>
    selected_by: str    # the start_* launch argument that turns it on

    @property
    def module(self) -> str:
        return f'{self.package}.nodes.{self.executable}'


NODES: dict[str, NodeEntry] = {
    'llama_server': NodeEntry('heisenberg_brain', 'llama_server', 'start_llama_server'),
    'tts': NodeEntry('heisenberg_audio', 'tts', 'start_audio'),
    'capture': NodeEntry('heisenberg_audio', 'capture', 'start_audio'),
    'wake_word': NodeEntry('heisenberg_audio', 'wake_word', 'start_audio'),
    'stt': NodeEntry('heisenberg_audio', 'stt', 'start_audio'),
    'brain': NodeEntry('heisenberg_brain', 'brain', 'start_brain'),
}
