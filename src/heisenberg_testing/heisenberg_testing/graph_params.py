"""Parameter overrides for the whole graph in tests: its own llama-server port, greedy answers."""

from __future__ import annotations

# Greedy decoding so the answers are stable; generous timeouts on a shared CPU (speed lives in bench/).
# No follow-up window: every scenario starts its turns with the wake word (or a Respond goal) and
# checks the states up to the reply's end; the follow-up scenario opens the window itself.
TEST_BRAIN = {'llm.temperature': 0.0, 'llm.seed': 42, 'llm.max_tokens': 64, 'llm.first_token_timeout': 60.0,
              'llm.token_timeout': 30.0, 'think_timeout': 90.0, 'follow_up_seconds': 0.0}
# Tests that need the robot to talk for a while ask with this personality: 'concise' (the default)
# keeps even a story to a sentence or two.
STORYTELLER = 'friendly'


def graph_overrides(port: int, capture: dict, *, brain: dict | None = None, tts: dict | None = None,
                    llama_server: dict | None = None) -> dict:
    """Overrides for heisenberg_bringup.graph.Graph: llama-server on port, the brain pointed at it."""
    overrides = {
        'llama_server': {'port': port, **(llama_server or {})},
        'brain': {'llm.endpoint': f'http://127.0.0.1:{port}/completion', **TEST_BRAIN, **(brain or {})},
        'capture': capture,
    }
    if tts:
        overrides['tts'] = tts
    return overrides
