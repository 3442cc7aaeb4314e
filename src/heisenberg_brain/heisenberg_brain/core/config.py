"""The brain's configuration: frozen, validated dataclasses.

The node declares one ROS parameter per field (``llm.endpoint``, ``llm.temperature``, ...)
with the field's description, and builds these once at start-up; a bad value stops the
node with a message naming the parameter.
"""

from __future__ import annotations

import dataclasses
from heisenberg_common.described import describe
from urllib.parse import urlparse

from .api_key import DEFAULT_KEY_ENV

PROMPT_FORMATS = ('plain', 'chatml', 'llama2', 'server')
MAX_FOLLOW_UP = 30.0  # s; a longer window would take the room's talk for questions
PERSONALITIES = ('concise', 'friendly', 'professional', 'technical', 'robot')
LANGUAGES = ('en', 'fr')            # the languages replies can be in (prompts, sentences, voices)
LANGUAGE_MODES = LANGUAGES + ('auto',)


@dataclasses.dataclass(frozen=True)
class LLMConfig:
    """How to talk to llama-server and what to ask of it (the seed's defaults)."""

    endpoint: str = dataclasses.field(
        default='http://localhost:8080/completion',
        metadata=describe("llama-server's native /completion URL (streamed as SSE); on another host, "
                          'give the server\'s API key with api_key_file or api_key_env'))
    api_key_file: str = dataclasses.field(default='', metadata=describe(
        "file holding llama-server's API key (its first non-comment line), sent as Authorization: "
        'Bearer; empty = the variable named by api_key_env'))
    api_key_env: str = dataclasses.field(default=DEFAULT_KEY_ENV, metadata=describe(
        'environment variable holding the API key when api_key_file is empty (unset or empty = none)'))
    slot_id: int = dataclasses.field(default=-1, metadata=describe(
        "llama-server slot for this brain's requests (id_slot), so a robot sharing a server with "
        "-np N keeps its prompt cache in a slot of its own: give each robot another of 0..N-1. "
        '-1 = the server picks an idle slot, preferring the one whose cache matches the prompt best'))
    temperature: float = dataclasses.field(default=0.7, metadata=describe(
        'sampling temperature, 0 = greedy', dynamic=True))
    max_tokens: int = dataclasses.field(default=512, metadata=describe(
        'default n_predict for a reply (a Respond goal may ask for fewer or more)', dynamic=True))
    seed: int = dataclasses.field(default=-1, metadata=describe('sampling seed; -1 = random'))
    max_history_turns: int = dataclasses.field(default=5, metadata=describe(
        'turns (user + assistant) kept per session; on overflow the oldest fold into a summary until '
        'half remain (in steps, so the prompt cache serves the turns between)'))
    max_sessions: int = dataclasses.field(default=100, metadata=describe(
        'sessions whose history is kept; beyond this the least recently used is forgotten'))
    prompt_format: str = dataclasses.field(default='chatml', metadata=describe(
        "plain | chatml | llama2 | server (the model's own chat template, applied by llama-server)"))
    personality: str = dataclasses.field(default='concise', metadata=describe(
        'default personality: ' + ' | '.join(PERSONALITIES), dynamic=True))
    system_prompt: str = dataclasses.field(default='', metadata=describe(
        "custom system prompt; empty = the personality's"))
    stop: tuple[str, ...] = dataclasses.field(default=(), metadata=describe(
        'extra stop strings (the prompt format adds its own)'))
    connect_timeout: float = dataclasses.field(default=2.0, metadata=describe(
        'seconds to open the TCP connection to llama-server'))
    first_token_timeout: float = dataclasses.field(default=20.0, metadata=describe(
        'seconds from request to first token (covers prompt processing)'))
    token_timeout: float = dataclasses.field(default=5.0, metadata=describe(
        'seconds allowed between two tokens before the stream counts as stalled'))
    total_timeout: float = dataclasses.field(default=120.0, metadata=describe(
        'seconds for a whole reply'))
    tools: bool = dataclasses.field(default=False, metadata=describe(
        "offer the skills marked llm: true to the LLM as tools (/v1/chat/completions; llama-server needs "
        "--jinja: the llama_server node's jinja parameter): what no sentence matched may then run one. "
        'Checked at start-up: with a model that cannot call tools this stays off and the log says so'))
    retries: int = dataclasses.field(default=2, metadata=describe(
        'retries on connection errors, only before the first token'))
    retry_backoff: float = dataclasses.field(default=0.25, metadata=describe(
        'first retry delay in seconds, doubled each retry'))

    def __post_init__(self):
        url = urlparse(self.endpoint)
        if url.scheme not in ('http', 'https') or not url.netloc:
            raise ValueError(f'llm.endpoint must be an http(s) URL, got {self.endpoint!r}')
        if not 0.0 <= self.temperature <= 5.0:
            raise ValueError(f'llm.temperature must be in [0, 5], got {self.temperature}')
        if self.max_tokens < 1:
            raise ValueError(f'llm.max_tokens must be >= 1, got {self.max_tokens}')
        if self.max_history_turns < 0:
            raise ValueError(f'llm.max_history_turns must be >= 0, got {self.max_history_turns}')
        if self.max_sessions < 1:
            raise ValueError(f'llm.max_sessions must be >= 1, got {self.max_sessions}')
        if self.prompt_format not in PROMPT_FORMATS:
            raise ValueError(f'llm.prompt_format must be one of {PROMPT_FORMATS}, got {self.prompt_format!r}')
        if self.personality not in PERSONALITIES:
            raise ValueError(f'llm.personality must be one of {PERSONALITIES}, got {self.personality!r}')
        for name in ('connect_timeout', 'first_token_timeout', 'token_timeout', 'total_timeout'):
            if getattr(self, name) <= 0:
                raise ValueError(f'llm.{name} must be > 0, got {getattr(self, name)}')
        if self.slot_id < -1:
            raise ValueError(f'llm.slot_id must be -1 (any) or a slot number >= 0, got {self.slot_id}')
        if self.retries < 0 or self.retry_backoff < 0:
            raise ValueError('llm.retries and llm.retry_backoff must be >= 0')

    @property
    def base_url(self) -> str:
        """The server root (scheme://host:port) derived from the endpoint."""
        url = urlparse(self.endpoint)
        return f'{url.scheme}://{url.netloc}'


@dataclasses.dataclass(frozen=True)
class BrainConfig:
    """The brain node's parameters (``llm.*`` nested)."""

    llm: LLMConfig = dataclasses.field(default_factory=LLMConfig)
    skills_file: str = dataclasses.field(default='', metadata=describe(
        "skills.yaml: which built-in skills are on and the robot's own (docs/skills.md); what a skill "
        'takes never reaches the LLM. Empty = every built-in (time, date, timers, stop, help), no ROS skill'))
    skills_namespace: str = dataclasses.field(default='/', metadata=describe(
        "namespace that the skills' relative action, service and topic names resolve under: '/' = the "
        "global one (the robot's own interfaces are rarely under the assistant's namespace)"))
    language: str = dataclasses.field(default='en', metadata=describe(
        "language of the replies: en | fr | auto (the language stt heard, per turn: a conversation may "
        "switch; en for a language without prompts). A Respond goal may name its own; auto gives en"))
    voice_session_id: str = dataclasses.field(default='voice', metadata=describe(
        'history session of spoken turns (Respond goals name their own)'))
    apology: str = dataclasses.field(default='', metadata=describe(
        'spoken when a voice reply fails (server down, timeout); empty = the one of the reply\'s language '
        '(heisenberg_brain/core/phrases.py); a text here is said in every language'))
    stream_speech: bool = dataclasses.field(default=True, metadata=describe(
        'send each sentence to tts as soon as it closes; false = wait for the whole reply (for comparison)'))
    first_clause_min_chars: int = dataclasses.field(default=24, metadata=describe(
        'speak the first clause (at , ; :) once it has this many characters; 0 = wait for a sentence'))
    first_chunk_max_chars: int = dataclasses.field(default=32, metadata=describe(
        'a longer first sentence is spoken in two parts, cut at a clause mark or a word boundary, so '
        'the voice starts before the whole sentence is generated; 0 = never cut it'))
    max_clause_chars: int = dataclasses.field(default=160, metadata=describe(
        'longest chunk sent to tts; longer sentences are cut at a clause boundary'))
    follow_up_seconds: float = dataclasses.field(default=5.0, metadata=describe(
        'after a spoken reply has played to its end, listen this many seconds for a follow-up question '
        'or "stop" without the wake word (state LISTENING, cause FOLLOW_UP; stt opens the turn at the '
        "speech onset, its echo gate keeps the robot's own voice out); 0 = off", dynamic=True))
    max_spoken_tokens: int = dataclasses.field(default=128, metadata=describe(
        'most tokens of a reply spoken aloud (a voice turn, a Respond goal with speak): about 30 s of '
        "speech; a goal's own max_tokens may only lower it. Silent goals keep llm.max_tokens", dynamic=True))
    max_speech_seconds: float = dataclasses.field(default=30.0, metadata=describe(
        'seconds of audio after which a spoken reply is stopped: generation ends, the rest is not said, '
        "the turn ends with finish_reason 'length'", dynamic=True))
    listen_timeout: float = dataclasses.field(default=25.0, metadata=describe(
        'seconds in LISTENING without a transcript before giving up (stt normally answers first)'))
    think_timeout: float = dataclasses.field(default=40.0, metadata=describe(
        'seconds in THINKING without any token or audio before the reply is abandoned'))
    speak_stall_timeout: float = dataclasses.field(default=20.0, metadata=describe(
        'seconds in SPEAKING without any token or audio before the reply is abandoned'))
    error_hold: float = dataclasses.field(default=6.0, metadata=describe(
        'longest stay in ERROR (while the apology is spoken)'))
    health_period: float = dataclasses.field(default=5.0, metadata=describe(
        'seconds between llama-server health checks for /diagnostics'))

    def reply_language(self, heard: str = '') -> str:
        """The language of a reply to something heard in `heard` ('' = not known, e.g. a typed goal)."""
        if self.language != 'auto':
            return self.language
        return heard if heard in LANGUAGES else 'en'

    def __post_init__(self):
        for name in ('listen_timeout', 'think_timeout', 'speak_stall_timeout', 'error_hold',
                     'health_period'):
            if getattr(self, name) <= 0:
                raise ValueError(f'{name} must be > 0, got {getattr(self, name)}')
        if not 0.0 <= self.follow_up_seconds <= MAX_FOLLOW_UP:
            raise ValueError(f'follow_up_seconds must be in [0, {MAX_FOLLOW_UP:g}] (0 = off), '
                             f'got {self.follow_up_seconds}')
        if self.max_spoken_tokens < 1 or self.max_speech_seconds <= 0:
            raise ValueError(f'max_spoken_tokens must be >= 1 and max_speech_seconds > 0, got '
                             f'{self.max_spoken_tokens} and {self.max_speech_seconds}')
        if self.first_clause_min_chars < 0 or self.max_clause_chars < 8:
            raise ValueError('first_clause_min_chars must be >= 0 and max_clause_chars >= 8')
        if self.first_chunk_max_chars and not 16 <= self.first_chunk_max_chars <= self.max_clause_chars:
            raise ValueError(f'first_chunk_max_chars must be 0 or in [16, max_clause_chars], '
                             f'got {self.first_chunk_max_chars}')
        if self.language not in LANGUAGE_MODES:
            raise ValueError(f'language must be one of {LANGUAGE_MODES}, got {self.language!r}')
        if not self.voice_session_id:
            raise ValueError('voice_session_id must not be empty')
        if not self.skills_namespace.startswith('/'):
            raise ValueError(f"skills_namespace must be absolute (start with '/'), "
                             f'got {self.skills_namespace!r}')
