"""The name built-in: "My name is Alice." ... "What is my name?", per session, in English and French.

The default LLM cannot carry a name (test_replier's strict xfail), so a skill does; its turns go
into the session's history so that the LLM's later answers see the exchange. The last two cases
run the real llama-server behind the skills, as the brain does (SkillSource with the Replier as
its fallback); the client only records the prompts it sends.
"""

from __future__ import annotations

import asyncio

from heisenberg_brain.core.config import LLMConfig
from heisenberg_brain.core.history import SessionStore, history_key
from heisenberg_brain.core.llm_client import LlamaClient
from heisenberg_brain.core.replier import Replier, ReplyOutcome, ReplyRequest
from heisenberg_brain.core.skills import SkillSource, skills_from_yaml
from test_skills_source import Fallback

SKILLS = skills_from_yaml('')   # the built-ins alone


class Talk:
    """A SkillSource on a shared SessionStore; each turn's text, and what reached the LLM's place."""

    def __init__(self, fallback=None, sessions: SessionStore | None = None):
        self.sessions = sessions if sessions is not None else SessionStore(5)
        self.fallback = fallback or Fallback()
        self.source = SkillSource(SKILLS, None, lambda text, language: None, fallback=self.fallback,
                                  sessions=self.sessions)

    async def say(self, text: str, session_id: str = '', language: str = 'en') -> str:
        outcome = await self.source.reply(ReplyRequest(prompt=text, session_id=session_id, language=language,
                                                       max_tokens=40), ReplyOutcome())
        assert outcome.finish_reason == 'stop' and outcome.text.strip()
        return outcome.text


def run(scenario):
    return asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_name_told_is_said_back_when_asked():
    async def scenario():
        talk = Talk()
        assert await talk.say('What is my name?') == "You haven't told me your name yet."
        assert await talk.say('Hey Jarvis, my name is Alice.') == 'Nice to meet you, Alice.'
        assert await talk.say("What's my name?") == 'Your name is Alice.'
        assert await talk.say('Call me Bob.') == 'Nice to meet you, Bob.'
        assert await talk.say('Who am I?') == 'Your name is Bob.'
        assert talk.fallback.prompts == []
    run(scenario)


def test_in_french():
    async def scenario():
        talk = Talk()
        assert await talk.say("Comment je m'appelle ?", language='fr') == \
            "Vous ne m'avez pas encore dit votre nom."
        assert await talk.say("Je m'appelle Alice.", language='fr') == 'Enchanté, Alice.'
        assert await talk.say('Quel est mon nom ?', language='fr') == 'Vous vous appelez Alice.'
    run(scenario)


def test_the_name_belongs_to_the_session_whatever_its_language():
    async def scenario():
        talk = Talk()
        await talk.say('My name is Alice.', session_id='kitchen')
        assert await talk.say('What is my name?', session_id='hall') == "You haven't told me your name yet."
        assert await talk.say('What is my name?') == "You haven't told me your name yet."   # the voice's
        assert await talk.say("Comment je m'appelle ?", 'kitchen', 'fr') == 'Vous vous appelez Alice.'
    run(scenario)


def test_clearing_the_session_forgets_the_name():
    async def scenario():
        talk = Talk()
        await talk.say('My name is Alice.', session_id='s')
        talk.sessions.clear('s')
        assert await talk.say('What is my name?', session_id='s') == "You haven't told me your name yet."
    run(scenario)


def test_the_exchange_is_a_turn_of_the_sessions_history_and_other_skills_turns_are_not():
    async def scenario():
        talk = Talk()
        await talk.say('My name is Alice.', session_id='s')
        await talk.say('What time is it?', session_id='s')
        await talk.say('What is my name?', session_id='s')
        await talk.say("Je m'appelle Alice.", 's', 'fr')
        turns = [(turn.user, turn.assistant, turn.language) for turn in talk.sessions.turns('s')]
        assert turns == [('My name is Alice.', 'Nice to meet you, Alice.', 'en'),
                         ('What is my name?', 'Your name is Alice.', 'en')]
        french = talk.sessions.turns(history_key('s', 'fr'))
        assert [(turn.user, turn.assistant) for turn in french] == [
            ("Je m'appelle Alice.", 'Enchanté, Alice.')]
    run(scenario)


def test_the_name_is_kept_with_the_history_off():
    async def scenario():
        talk = Talk(sessions=SessionStore(0))
        await talk.say('My name is Alice.')
        assert await talk.say('What is my name?') == 'Your name is Alice.'
        assert talk.sessions.turns('') == []
    run(scenario)


def test_what_is_not_a_name_goes_to_the_llm():
    async def scenario():
        talk = Talk()
        assert await talk.say("I'm hungry.") == 'Paris.'   # the Fallback's answer
        assert await talk.say('Call me later.') == 'Paris.'
        assert talk.fallback.prompts == ["I'm hungry.", 'Call me later.']
        assert await talk.say('What is my name?') == "You haven't told me your name yet."
    run(scenario)


# ---------------------------------------------------------------- with the real llama-server

class RecordingClient(LlamaClient):
    """The real client; it keeps each prompt it streams a completion for."""

    prompts: list[str]

    def stream(self, prompt, **kwargs):
        self.prompts.append(prompt)
        return super().stream(prompt, **kwargs)


def conversation(llama_server, turns: list[tuple[str, str]], language: str) -> tuple[list[str], list[str]]:
    """The replies to turns ((what is said, the skill expected or '' for the LLM)), and the LLM's prompts."""
    config = LLMConfig(endpoint=llama_server.completion_url, temperature=0.0, seed=42)
    sessions = SessionStore(5)

    async def scenario():
        async with RecordingClient(config) as client:
            client.prompts = []
            talk = Talk(Replier(config, client, sessions), sessions)
            replies = []
            for text, skill in turns:
                outcome = await talk.source.reply(
                    ReplyRequest(prompt=text, session_id='robot-1', language=language, max_tokens=40),
                    ReplyOutcome())
                assert outcome.finish_reason in ('stop', 'length') and outcome.text.strip()
                assert outcome.skill == skill
                replies.append(outcome.text)
            return replies, client.prompts

    return run(scenario)


def test_the_name_is_remembered_and_the_llm_is_shown_the_exchange(llama_server):
    replies, prompts = conversation(llama_server, [
        ('My name is Alice.', 'name.tell'), ('What is the capital of France?', ''),
        ('What is my name?', 'name.ask'), ('Say hello to me.', '')], 'en')
    print(replies)
    assert replies[0] == 'Nice to meet you, Alice.' and replies[2] == 'Your name is Alice.'
    assert len(prompts) == 2   # the LLM answered the two others only
    france, hello = prompts
    assert france.index('My name is Alice.') < france.index('Nice to meet you, Alice.') \
        < france.index('What is the capital of France?')
    assert hello.index('My name is Alice.') < hello.index('Nice to meet you, Alice.') \
        < hello.index('What is my name?') < hello.index('Your name is Alice.') \
        < hello.index('Say hello to me.')


def test_the_name_is_remembered_in_french_and_the_llm_is_shown_the_exchange(llama_server):
    replies, prompts = conversation(llama_server, [
        ("Je m'appelle Alice.", 'name.tell'), ("Comment je m'appelle ?", 'name.ask'),
        ('Dis-moi bonjour.', '')], 'fr')
    print(replies)
    assert replies[:2] == ['Enchanté, Alice.', 'Vous vous appelez Alice.']
    assert len(prompts) == 1
    prompt = prompts[0]
    assert prompt.index("Je m'appelle Alice.") < prompt.index('Enchanté, Alice.') \
        < prompt.index("Comment je m'appelle ?") < prompt.index('Vous vous appelez Alice.') \
        < prompt.index('Dis-moi bonjour.')
