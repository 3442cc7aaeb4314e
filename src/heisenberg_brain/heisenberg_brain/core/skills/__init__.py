"""Skills: what a person asks that the robot does or knows, answered without the LLM (no ROS here).

Every final transcript and every Respond prompt is matched against the skills first; only
what no skill takes goes to the LLM. A skill is a built-in (the time, the date, timers,
the person's name, stop, "what can you do?") or declared in skills.yaml with one ROS effect (send an action
goal, call a service, publish a message, say a field of a topic's latest message); the
schema is in docs/skills.md.

The API the brain node uses::

    skills = load_skills(path)                    # Skills; SkillSpecError names file, skill, field
    match = skills.match(text, language)          # Match | None (None: the LLM's); language's sentences first
    source = SkillSource(skills, effects, announce, fallback=replier, clock=None, log=...,
                         sessions=replier.sessions)   # the name is kept, and its turns stored, there
    coordinator = ReplyCoordinator(config, source, ...)   # source.reply(...) is a ReplySource
    source.stop_all()                             # -> tuple[GoalInfo, ...]: every goal cancelled
    source.running()                              # -> tuple[GoalInfo, ...]
    skills.listing()                              # -> tuple[SkillInfo, ...] for a `skills` topic
    source.close()                                # goals cancelled, timers dropped (shutdown)

- ``SkillSource.reply(request, outcome, on_token, on_sentence) -> ReplyOutcome`` matches
  ``request.prompt``: a skill answers, anything else goes to ``fallback`` (the Replier). A
  skill's words fill the outcome like an LLM's (finish_reason 'stop', also for a spoken
  failure). ``answer(match, ...)`` runs a match already made.
- ``announce(text, language)`` (given to SkillSource) is speech nobody asked for just then: a
  timer that rings, a goal that ended, a goal's feedback, in the language of the turn that
  started it. It is called on the asyncio loop.
- Languages: a request is matched against its language's sentences first (the built-ins have
  English and French ones; a YAML skill's ``fr:`` block gives its French ones) and answered in
  its language; every fixed sentence is core/phrases.py's.
- ``effects`` implements ``SkillEffects`` with rclpy (``send_goal``, ``call_service``,
  ``publish``, ``read_field``; types resolved by name); a clear failure raises
  ``SkillEffectError`` with a speakable reason. None: ROS skills say they cannot reach the robot.
- ``Match.kind`` is ``MatchKind.STOP`` for "stop", "never mind", "be quiet"...: never the
  LLM's. Run as a turn it cancels every goal and says their cancelled replies (or nothing);
  the node may also call ``stop_all()`` itself, e.g. on a STOP heard while a turn runs.
- ``SkillSpec.llm`` says whether the LLM may call a skill as a tool: ``source.llm_tools =
  tools.decide_tools(...)``'s list turns the tool path on (core/skills/tools.py, docs/skills.md).
"""

from heisenberg_brain.core.skills.builtins import Clock, SystemClock
from heisenberg_brain.core.skills.catalog import SkillInfo, Skills, load_skills, skills_from_yaml
from heisenberg_brain.core.skills.matcher import Match, MatchKind
from heisenberg_brain.core.skills.source import GoalHandle, GoalInfo, GoalResult, SkillEffectError, \
    SkillEffects, SkillSource
from heisenberg_brain.core.skills.spec import SkillSpec, SkillSpecError

__all__ = ['Clock', 'GoalHandle', 'GoalInfo', 'GoalResult', 'Match', 'MatchKind', 'SkillEffectError',
           'SkillEffects', 'SkillInfo', 'SkillSource', 'SkillSpec', 'SkillSpecError', 'Skills', 'SystemClock',
           'load_skills', 'skills_from_yaml']
