"""The skills in French, as case tables.

The phrasings a French speaker uses -> skill and slots; the French wording; French turns through
SkillSource (a timer rings in the language it was set in); a YAML skill's ``fr:`` block (the
README's example); the phrase tables (every language has every sentence).

The phrasings are written the way Whisper base writes French (capitals, « ? » after a space,
hyphens in « est-il », digits or number words, the wake word in front).
"""

from __future__ import annotations

import asyncio
import datetime
import re
import string
from pathlib import Path

import pytest

from heisenberg_brain.core.phrases import MONTHS, PHRASES, UNITS, WEEKDAYS, phrase
from heisenberg_brain.core.replier import ReplyOutcome, ReplyRequest
from heisenberg_brain.core.skills import GoalResult, SkillEffectError, SkillSource, SkillSpecError, \
    skills_from_yaml
from heisenberg_brain.core.skills.builtins import Timers, date_sentence, duration_words, help_sentence, \
    time_sentence, timer_label
from skills_support import FakeClock, example_yaml

SKILLS = skills_from_yaml(example_yaml(), 'skills.yaml (example)')
README = Path(__file__).resolve().parents[3] / 'README.md'

# (text, 'skill' or 'skill.request', slots) -- skill None: no skill takes it, it goes to the LLM.
CASES = [
    # the time and the date
    ('Quelle heure est-il ?', 'time', {}),
    ('Hey Jarvis, quelle heure est-il ?', 'time', {}),
    ('Quelle heure est-il maintenant ?', 'time', {}),
    ('Il est quelle heure ?', 'time', {}),
    ("Tu as l'heure ?", 'time', {}),
    ("Peux-tu me donner l'heure, s'il te plaît ?", 'time', {}),
    ("Dis-moi l'heure.", 'time', {}),
    ('Quel jour sommes-nous ?', 'date', {}),
    ("Quel jour sommes-nous aujourd'hui ?", 'date', {}),
    ('On est quel jour ?', 'date', {}),
    ("Quelle est la date d'aujourd'hui ?", 'date', {}),
    ('On est le combien ?', 'date', {}),
    # timers: set, with digits and number words
    ('Mets un minuteur de cinq minutes.', 'timer.set', {'duration': 300}),
    ('Mets un minuteur de 5 minutes.', 'timer.set', {'duration': 300}),
    ('Hey Jarvis, lance un minuteur de trois secondes.', 'timer.set', {'duration': 3}),
    ('Lance un minuteur de vingt et une minutes.', 'timer.set', {'duration': 1260}),
    ('Mets un minuteur de vingt-cinq minutes.', 'timer.set', {'duration': 1500}),
    ('Mets un minuteur de quatre-vingt-dix secondes.', 'timer.set', {'duration': 90}),
    ("Mets un minuteur d'une minute.", 'timer.set', {'duration': 60}),
    ('Mets un minuteur de 2 minutes et 30 secondes.', 'timer.set', {'duration': 150}),
    ("Mets un minuteur d'une heure trente.", 'timer.set', {'duration': 5400}),
    ("Mets un minuteur d'une demi-heure.", 'timer.set', {'duration': 1800}),
    ("Mets un minuteur d'un quart d'heure.", 'timer.set', {'duration': 900}),
    ("Règle un minuteur d'une heure et demie.", 'timer.set', {'duration': 5400}),
    ("Un minuteur de dix secondes, s'il te plaît.", 'timer.set', {'duration': 10}),
    ('Est-ce que tu peux mettre un minuteur de trois minutes ?', 'timer.set', {'duration': 180}),
    # timers: how long is left, cancel
    ('Combien de temps reste-t-il ?', 'timer.left', {}),
    ('Combien de temps reste-t-il sur le minuteur ?', 'timer.left', {}),
    ('Il reste combien de temps ?', 'timer.left', {}),
    ('Où en est le minuteur ?', 'timer.left', {}),
    ('Annule le minuteur.', 'timer.cancel', {}),
    ('Arrête le minuteur.', 'timer.cancel', {}),
    ('Annule tous les minuteurs.', 'timer.cancel', {}),
    ('Annule le minuteur de cinq minutes.', 'timer.cancel', {'duration': 300}),
    # stop
    ('Arrête.', 'stop', {}),
    ('Arrête !', 'stop', {}),
    ('Hey Jarvis, arrête.', 'stop', {}),
    ('Stop.', 'stop', {}),
    ('Tais-toi.', 'stop', {}),
    ('Laisse tomber.', 'stop', {}),
    ('Ça suffit.', 'stop', {}),
    # help
    ("Qu'est-ce que tu sais faire ?", 'help', {}),
    ('Que sais-tu faire ?', 'help', {}),
    ("Qu'est-ce que tu peux faire pour moi ?", 'help', {}),
    ('Aide-moi.', 'help', {}),
    # the person's name
    ("Je m'appelle Alice.", 'name.tell', {'name': 'Alice'}),
    ("Hey Jarvis, je m'appelle Alice.", 'name.tell', {'name': 'Alice'}),
    ("Je m\u2019appelle Jean-Luc.", 'name.tell', {'name': 'Jean-Luc'}),
    ('Mon nom est Alice.', 'name.tell', {'name': 'Alice'}),
    ("Mon prénom, c'est Alice.", 'name.tell', {'name': 'Alice'}),
    ('Appelle-moi Alice.', 'name.tell', {'name': 'Alice'}),
    ('Appelez-moi Alice Martin.', 'name.tell', {'name': 'Alice Martin'}),
    ("Comment je m'appelle ?", 'name.ask', {}),
    ("Je m'appelle comment ?", 'name.ask', {}),
    ('Quel est mon nom ?', 'name.ask', {}),
    ('Quel est mon prénom ?', 'name.ask', {}),
    ("Tu sais comment je m'appelle ?", 'name.ask', {}),
    ('Qui suis-je ?', 'name.ask', {}),
    # the LLM's: questions that only contain a command's words
    ('Quelle est la capitale de la France ?', None, {}),
    ('Pourquoi les gens arrêtent-ils de fumer ?', None, {}),
    ('Quelle heure est-il à Tokyo ?', None, {}),
    ("Comment fabrique-t-on un minuteur ?", None, {}),
    ('Arrête de dire des bêtises et explique-moi la photosynthèse.', None, {}),
    ("Je m'appelle comme mon grand-père.", None, {}),
    ('Appelle-moi demain.', None, {}),
    ('Mon nom est difficile à prononcer.', None, {}),
    ("Comment s'appelle le président ?", None, {}),
]


@pytest.mark.parametrize('text, expected, slots', CASES, ids=[case[0] for case in CASES])
def test_a_french_phrasing_asks_for(text, expected, slots):
    match = SKILLS.match(text, 'fr')
    if expected is None:
        assert match is None
        return
    assert match is not None, f'no skill took {text!r}'
    assert (f'{match.skill}.{match.intent}' if match.intent else match.skill) == expected
    assert dict(match.slots) == slots
    assert match.language == 'fr'


def test_the_turns_language_is_tried_first_then_the_others():
    english = SKILLS.match('What time is it?', 'fr')   # a French conversation, an English question
    assert (english.skill, english.language) == ('time', 'en')
    french = SKILLS.match('Quelle heure est-il ?', 'en')
    assert (french.skill, french.language) == ('time', 'fr')
    assert SKILLS.match('Set a timer for five minutes.', 'fr').slots == {'duration': 300}


# ---------------------------------------------------------------- wording

@pytest.mark.parametrize('seconds, words', [
    (1, '1 seconde'), (0.2, '1 seconde'), (42, '42 secondes'), (59.2, '1 minute'), (60, '1 minute'),
    (61, '1 minute et 1 seconde'), (150, '2 minutes et 30 secondes'), (252, '4 minutes et 12 secondes'),
    (3600, '1 heure'), (3725, '1 heure et 3 minutes'), (7200, '2 heures'), (5400, '1 heure et 30 minutes'),
])
def test_duration_words_in_french(seconds, words):
    assert duration_words(seconds, 'fr') == words


@pytest.mark.parametrize('seconds, label', [(300, '5 minutes'), (90, '1 minute 30 secondes'),
                                            (3600, '1 heure'), (1, '1 seconde')])
def test_timer_label_in_french(seconds, label):
    assert timer_label(seconds, 'fr') == label


@pytest.mark.parametrize('hour, minute, sentence', [
    (14, 5, 'Il est 14 h 05.'), (9, 0, 'Il est 9 h.'), (12, 0, 'Il est midi.'), (0, 0, 'Il est minuit.'),
    (0, 30, 'Il est 0 h 30.'), (12, 15, 'Il est 12 h 15.'), (23, 59, 'Il est 23 h 59.'),
])
def test_the_time_in_french(hour, minute, sentence):
    assert time_sentence(datetime.datetime(2026, 12, 6, hour, minute), 'fr') == sentence


@pytest.mark.parametrize('day, sentence', [
    (datetime.date(2026, 12, 6), 'Nous sommes le dimanche 6 décembre 2026.'),
    (datetime.date(2026, 12, 1), 'Nous sommes le mardi 1er décembre 2026.'),
    (datetime.date(2025, 8, 15), 'Nous sommes le vendredi 15 août 2025.'),
    (datetime.date(2025, 2, 3), 'Nous sommes le lundi 3 février 2025.'),
])
def test_the_date_in_french(day, sentence):
    assert date_sentence(datetime.datetime.combine(day, datetime.time(8)), 'fr') == sentence


def test_help_in_french_joins_with_et():
    assert help_sentence(["donner l'heure", 'gérer des minuteurs', 'aller à un endroit'], 'fr') == \
        "Je sais donner l'heure, gérer des minuteurs et aller à un endroit. " \
        "Pour le reste, j'essaierai de répondre."


def test_french_timers_on_a_fake_clock():
    clock, said = FakeClock(), []
    timers = Timers(clock, lambda text, language: said.append((text, language)))
    assert timers.left('fr') == "Il n'y a aucun minuteur en cours."
    assert timers.set(300, 'fr') == 'Minuteur de 5 minutes lancé.'
    clock.advance(48)
    assert timers.left('fr') == 'Il reste 4 minutes et 12 secondes sur votre minuteur de 5 minutes.'
    assert timers.set(10, 'en') == 'Timer set for 10 seconds.'
    assert timers.left('fr') == ('Vous avez 2 minuteurs. Il reste 10 secondes au minuteur de 10 secondes. '
                                 'Il reste 4 minutes et 12 secondes au minuteur de 5 minutes.')
    clock.advance(10)   # each rings in the language it was set in
    assert said == [("Time's up! Your 10 second timer is done.", 'en')]
    clock.advance(242)
    assert said[1] == ("C'est l'heure ! Votre minuteur de 5 minutes est terminé.", 'fr')
    assert timers.cancel(language='fr') == "Il n'y a aucun minuteur à annuler."
    timers.set(60, 'fr')
    timers.set(120, 'fr')
    assert timers.cancel(300, 'fr') == "Il n'y a pas de minuteur de 5 minutes."
    assert timers.cancel(60, 'fr') == 'Minuteur de 1 minute annulé.'
    assert timers.cancel(language='fr') == 'Minuteur annulé.'
    timers.set(60, 'fr')
    timers.set(120, 'fr')
    assert timers.cancel(language='fr') == 'Les 2 minuteurs sont annulés.'
    assert timers.set(0, 'fr') == 'Un minuteur dure au moins une seconde.'
    assert timers.set(25 * 3600, 'fr') == 'Je ne règle que des minuteurs de 24 heures au plus.'


# ---------------------------------------------------------------- French turns through SkillSource

class Rig:
    """A SkillSource on a fake clock (Tuesday 4 March 2025, 15:05), with what it announced."""

    def __init__(self, skills=SKILLS):
        self.clock = FakeClock()
        self.announced: list[tuple[str, str]] = []
        self.source = SkillSource(skills, None, lambda *said: self.announced.append(said), clock=self.clock)

    async def say(self, text: str, language: str = 'fr') -> str:
        sentences: list[str] = []
        outcome = await self.source.reply(ReplyRequest(prompt=text, language=language), ReplyOutcome(),
                                          on_sentence=sentences.append)
        assert outcome.finish_reason == 'stop' and ' '.join(sentences) == outcome.text
        return outcome.text


def run(scenario):
    asyncio.run(asyncio.wait_for(scenario(), 10))


async def settle():
    """Let the goal tasks run what is ready."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_french_turns_are_answered_in_french():
    async def scenario():
        rig = Rig()
        assert await rig.say('Quelle heure est-il ?') == 'Il est 15 h 05.'
        assert await rig.say('Quel jour sommes-nous ?') == 'Nous sommes le mardi 4 mars 2025.'
        assert await rig.say('Mets un minuteur de cinq minutes.') == 'Minuteur de 5 minutes lancé.'
        rig.clock.advance(48)
        assert await rig.say('Combien de temps reste-t-il ?') == \
            'Il reste 4 minutes et 12 secondes sur votre minuteur de 5 minutes.'
        assert await rig.say('How long is left?', 'en') == \
            '4 minutes and 12 seconds left on your 5 minute timer.'
        rig.clock.advance(252)
        assert rig.announced == [("C'est l'heure ! Votre minuteur de 5 minutes est terminé.", 'fr')]
        rig.source.timers.set(60)
        assert await rig.say('Annule le minuteur.') == 'Minuteur annulé.'
        assert await rig.say('Arrête.') == ''   # nothing ran: nothing to say
        # the turn's language chooses the words, whatever language the sentence matched in (5 min later)
        assert await rig.say('What time is it?', 'fr') == 'Il est 15 h 10.'
        assert await rig.say('Quelle heure est-il ?', 'en') == "It's 3:10 PM."
    run(scenario)


def test_help_in_french_reads_the_french_descriptions():
    async def scenario():
        rig = Rig(skills_from_yaml(readme_skill()))
        assert await rig.say("Qu'est-ce que tu sais faire ?") == (
            "Je sais donner l'heure, donner la date, gérer des minuteurs, retenir votre nom, arrêter ce que "
            "je fais et aller dans une pièce nommée. Pour le reste, j'essaierai de répondre.")
        assert await rig.say('What can you do?', 'en') == (
            "I can tell the time, tell the date, run timers, remember your name, stop what I'm doing and go "
            "to a named room. Anything else, I'll try to answer.")
    run(scenario)


# ---------------------------------------------------------------- a YAML skill's fr: block

def readme_skill() -> str:
    """The README's skill with French phrasings (its ```yaml block under the Skills section)."""
    text = README.read_text(encoding='utf-8')
    blocks = re.findall(r'```yaml\n(.*?)```', text[text.index('### Skills'):], re.S)
    found = [block for block in blocks if '\n    fr:' in block]
    assert found, 'README.md: the Skills section has no ```yaml example with a fr: block'
    return found[0]


class FakeHandle:
    """An accepted goal; it ends when the test (or a cancel) sets its result."""

    def __init__(self):
        self.done = asyncio.get_running_loop().create_future()

    async def result(self):
        return await self.done

    def cancel(self):
        if not self.done.done():
            self.done.set_result(GoalResult('canceled'))


class FakeEffects:
    """Accepts every goal at once, or raises send_error (the ROS side is covered by test_skill_effects)."""

    def __init__(self):
        self.goals: list[dict] = []
        self.handles: list[FakeHandle] = []
        self.send_error: Exception | None = None

    async def send_goal(self, action_type, action_name, goal, on_feedback, timeout):
        if self.send_error is not None:
            raise self.send_error
        self.goals.append(goal)
        self.handles.append(FakeHandle())
        return self.handles[-1]


def test_a_yaml_skill_said_in_french_is_answered_with_its_french_replies():
    async def scenario():
        skills = skills_from_yaml(readme_skill(), 'README.md')
        effects = FakeEffects()
        announced: list[tuple[str, str]] = []
        source = SkillSource(skills, effects, lambda text, language: announced.append((text, language)),
                             clock=FakeClock())

        async def say(text, language):
            outcome = await source.reply(ReplyRequest(prompt=text, language=language), ReplyOutcome())
            return outcome.text

        assert skills.match('Va dans la cuisine.', 'fr').slots == {'room': 'cuisine'}
        assert await say('Va dans la cuisine.', 'fr') == 'Je vais dans la cuisine.'
        assert effects.goals[-1]['pose']['pose']['position'] == {'x': 1.0, 'y': 2.0}
        effects.handles[-1].done.set_result(GoalResult('succeeded'))
        await settle()
        assert announced == [('Je suis dans la cuisine.', 'fr')]   # its end, in its turn's language
        assert await say('Go to the kitchen.', 'en') == 'Going to the kitchen.'
        assert effects.goals[-1]['pose']['pose']['position'] == {'x': 1.0, 'y': 2.0}   # the same place
        assert await say('Rends-toi dans la cuisine.', 'fr') == 'Je vais dans la cuisine.'   # replaces it
        await settle()
        assert await say('Arrête.', 'fr') == "J'ai arrêté d'aller dans la cuisine."
        await settle()
        assert announced == [('Je suis dans la cuisine.', 'fr')]   # a replaced or stopped goal: no word
    run(scenario)


@pytest.mark.parametrize('error, english, french', [
    (SkillEffectError(key='goal_rejected', name='navigate to pose'),
     'the navigate to pose action server rejected the goal',
     "le serveur d'action navigate to pose a refusé l'objectif"),
    (SkillEffectError(key='goal_not_accepted', name='navigate to pose', seconds=0.5),
     'the navigate to pose action server did not accept the goal within 0.5 seconds',
     "le serveur d'action navigate to pose n'a pas accepté l'objectif en 0,5 seconde"),
    (SkillEffectError(key='no_message', name='battery state', seconds=3.0),
     'no message came on battery state within 3 seconds',
     "aucun message n'est arrivé sur battery state en 3 secondes"),
    (SkillEffectError(key='misfit.goal', field='plase', type='go to'),
     'the field plase does not fit the go to goal', "le champ plase ne convient pas à l'objectif go to"),
    (SkillEffectError('nothing publishes battery_state'),   # a plain message is said as it is
     'nothing publishes battery_state', 'nothing publishes battery_state'),
], ids=['rejected', 'not accepted in time', 'no message', 'field misfit', 'plain message'])
def test_a_failure_s_reason_is_said_in_the_turn_s_language(error, english, french):
    assert str(error) == english == error.reason('en')
    assert error.reason('fr') == french


def test_a_ros_skill_that_fails_says_why_in_french():
    async def scenario():
        skills = skills_from_yaml(readme_skill(), 'README.md')
        effects = FakeEffects()
        source = SkillSource(skills, effects, lambda *said: None, clock=FakeClock())

        async def say(text, language):
            return (await source.reply(ReplyRequest(prompt=text, language=language), ReplyOutcome())).text

        effects.send_error = SkillEffectError(key='goal_rejected', name='navigate to pose')
        assert await say('Va dans la cuisine.', 'fr') == \
            "Je n'ai pas pu aller dans la cuisine : le serveur d'action navigate to pose a refusé l'objectif."
        assert await say('Go to the kitchen.', 'en') == \
            "I couldn't get to the kitchen: the navigate to pose action server rejected the goal."
        offline = SkillSource(skills, None, lambda *said: None, clock=FakeClock())
        outcome = await offline.reply(ReplyRequest(prompt='Va dans la cuisine.', language='fr'),
                                      ReplyOutcome())
        assert outcome.text == \
            "Je n'ai pas pu aller dans la cuisine : je n'ai pas de connexion avec le robot."
    run(scenario)


def test_a_french_block_may_leave_out_replies_and_description():
    skills = skills_from_yaml('''
skills:
  - name: dock
    description: go to my dock
    sentences: ["dock"]
    fr: {sentences: ["(va|retourne) à [ta] base"]}
    publish: {type: std_msgs/msg/Empty, topic: dock}
    replies: {succeeded: Docking., failed: "I can't: {reason}."}
''')
    spec = skills.get('dock')
    assert skills.match('Retourne à ta base.', 'fr').skill == 'dock'
    assert spec.reply('succeeded', 'fr').render({}) == 'Docking.'
    assert spec.describe('fr') == 'go to my dock'
    assert 'retourne à [ta] base' not in spec.sentences   # English stays English
    assert [info.sentences for info in skills.listing() if info.name == 'dock'] == \
        [('dock', '(va|retourne) à [ta] base')]


DOCK = '''
skills:
  - name: dock
    description: go to my dock
    sentences: ["dock"]
    publish: {type: std_msgs/msg/Empty, topic: dock}
    replies: {succeeded: Docking., failed: "I can't: {reason}."}
'''


@pytest.mark.parametrize('block, message', [
    ('    fr: {description: aller à la base}\n',
     "skill 'dock': fr.sentences: must be a non-empty list of sentence templates"),
    ('    fr: [va à la base]\n', "skill 'dock': fr: must be a mapping with description, sentences, replies"),
    ('    fr: {sentences: [base], reply: {succeeded: Ok.}}\n',
     "skill 'dock': fr.reply: unknown field (a language block has description, sentences, replies)"),
    ('    fr: {sentences: ["va à la {place}"]}\n',
     "skill 'dock': fr.sentences[0]: slot 'place' is not declared"),
    ('    fr: {sentences: [base], replies: {succeeded: "À {place}."}}\n',
     "skill 'dock': fr.replies.succeeded: {place}: slot 'place' is not declared"),
    ('    fr: {sentences: [base], replies: {accepted: "Oui."}}\n',
     "skill 'dock': fr.replies.accepted: unknown reply for a publish"),
    ('    de: {sentences: [Basis]}\n', "skill 'dock': de: unknown field"),
], ids=['no sentences', 'not a mapping', 'unknown key', 'undeclared slot', 'reply placeholder',
        'reply the effect lacks', 'a language without prompts'])
def test_a_mistake_in_a_french_block_is_named(block, message):
    with pytest.raises(SkillSpecError) as error:
        skills_from_yaml(DOCK + block, 'robot.yaml')
    assert message in str(error.value)


# ---------------------------------------------------------------- the phrase tables

def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize('language', [language for language in PHRASES if language != 'en'])
def test_every_language_has_every_sentence_with_the_same_placeholders(language):
    assert PHRASES[language].keys() == PHRASES['en'].keys()
    for key, english in PHRASES['en'].items():
        assert _fields(PHRASES[language][key]) == _fields(english), key
    assert UNITS[language].keys() == UNITS['en'].keys()
    assert len(WEEKDAYS[language]) == 7 and len(MONTHS[language]) == 12


def test_a_phrase_in_a_language_without_a_table_is_refused():
    assert phrase('apology', 'fr') == 'Désolé, je ne peux pas répondre pour le moment.'
    with pytest.raises(ValueError, match="language must be one of"):
        phrase('apology', 'de')
