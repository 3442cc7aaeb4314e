"""The assistant's nodes, in start order: one table for the launch file and the graph runner.

llama-server first (the brain checks it), tts before the brain (its Speak server).
"""

from __future__ import annotations

from typing import Callable, NamedTuple


class NodeEntry(NamedTuple):
    package: str
    executable: str     # console script; its module is <package>.nodes.<executable>
    selected_by: str    # the start_* launch argument that turns it on
    follows: str = ''   # the argument whose value an empty selected_by takes

    @property
    def module(self) -> str:
        return f'{self.package}.nodes.{self.executable}'

    def selected(self, value_of: Callable[[str], str]) -> bool:
        """Whether the launch starts this node, given the launch arguments' values ('true'/'false')."""
        value = value_of(self.selected_by)
        if value == '' and self.follows:
            name, value = self.follows, value_of(self.follows)
        else:
            name = self.selected_by
        if value.lower() not in ('true', 'false'):
            raise ValueError(f'{name}:={value}: expected true or false')
        return value.lower() == 'true'


NODES: dict[str, NodeEntry] = {
    'llama_server': NodeEntry('heisenberg_brain', 'llama_server', 'start_llama_server'),
    'tts': NodeEntry('heisenberg_audio', 'tts', 'start_audio'),
    'capture': NodeEntry('heisenberg_audio', 'capture', 'start_audio'),
    'wake_word': NodeEntry('heisenberg_audio', 'wake_word', 'start_audio'),
    # On a server in a robot/server split (server.launch.py), beside the brain; else with the audio.
    'stt': NodeEntry('heisenberg_audio', 'stt', 'start_stt', follows='start_audio'),
    'brain': NodeEntry('heisenberg_brain', 'brain', 'start_brain'),
}
