"""Skills as LLM tools: their JSON schemas, whether the served model can call them, and a call -> a Match.

Only skills marked ``llm: true`` are offered (a ``read`` skill is by default; an action,
service or publish skill only when its YAML says so, since a wrong guess may move a robot).
A slot with values becomes a string parameter with those spoken values as its ``enum``; a
number range an integer parameter with its bounds; every slot is required (a call without
one could not fill the goal).

Whether the served model can call tools (``tools_support``), from llama-server's /props:
its ``chat_template_caps.supports_tool_calls`` when the server reports it, else whether the
chat template mentions ``tools`` at all. The brain also has the server take one request with
the tools (a server started without --jinja refuses them).

A tool call is checked as strictly as a sentence (``match_tool_call``): a skill the model may
not call, an unknown argument, a value not in the slot's list or out of its range, or a
missing one is refused with ``ToolCallRefused``, whose message names it; nothing runs then.
The call comes from the Replier (llama-server's parsed ``tool_calls``, or a reply that is only
``{"name": ..., "arguments": ...}``: see Replier.reply_with_tools).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from heisenberg_brain.core.llm_client import ToolCall
from heisenberg_brain.core.llm_errors import LLMError
from heisenberg_brain.core.skills.catalog import Skills
from heisenberg_brain.core.skills.matcher import Match, MatchKind
from heisenberg_brain.core.skills.spec import SkillSpec


class ToolCallRefused(LLMError):
    """The model asked for a call that is not allowed or not well formed; nothing was run."""


def llm_skills(skills: Skills) -> tuple[SkillSpec, ...]:
    """The YAML skills the LLM may call, in file order."""
    return tuple(skill for skill in skills.spec.skills if skill.llm)


def tool_schemas(skills: Skills) -> list[dict]:
    """The OpenAI-style ``tools`` list for /v1/chat/completions (module docstring)."""
    tools = []
    for skill in llm_skills(skills):
        properties = {}
        for slot in skill.slots:
            if slot.range is not None:
                low, high = slot.range
                properties[slot.name] = {'type': 'integer', 'minimum': low, 'maximum': high}
            else:
                properties[slot.name] = {'type': 'string', 'enum': [spoken for spoken, _ in slot.values]}
        tools.append({'type': 'function', 'function': {
            'name': skill.name, 'description': skill.description,
            'parameters': {'type': 'object', 'properties': properties,
                           'required': [slot.name for slot in skill.slots]}}})
    return tools


def tools_support(props: Mapping[str, Any]) -> tuple[bool, str]:
    """(whether the served model can call tools, why) from llama-server's /props (module docstring)."""
    caps = props.get('chat_template_caps')
    if isinstance(caps, Mapping) and 'supports_tool_calls' in caps:
        if caps['supports_tool_calls']:
            return True, "its chat template supports tool calls (llama-server's chat_template_caps)"
        return False, "its chat template does not support tool calls (llama-server's chat_template_caps)"
    template = props.get('chat_template') or ''
    if 'tools' in template:
        return True, 'its chat template mentions tools'
    return False, 'its chat template does not mention tools'


def match_tool_call(skills: Skills, call: ToolCall, text: str) -> Match:
    """The Match a tool call asks for, as if its sentence had been said; ToolCallRefused if it may not run."""
    allowed = {skill.name: skill for skill in llm_skills(skills)}
    skill = allowed.get(call.name)
    if skill is None:
        offered = ', '.join(allowed) or 'none'
        raise ToolCallRefused(f'the model asked for the tool {call.name!r}, which it may not call '
                              f'(offered: {offered})')
    arguments = call.arguments
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or '{}')
        except ValueError:
            raise ToolCallRefused(f'the model called {skill.name} with arguments that are not JSON: '
                                  f'{call.arguments!r}') from None
    if not isinstance(arguments, Mapping):
        raise ToolCallRefused(f'the model called {skill.name} with arguments that are not an object: '
                              f'{arguments!r}')
    declared = {slot.name: slot for slot in skill.slots}
    for name in arguments:
        if name not in declared:
            raise ToolCallRefused(f'the model called {skill.name} with an unknown argument {name!r} '
                                  f'(its arguments: {", ".join(declared) or "none"})')
    slots = {}
    for slot in skill.slots:
        if slot.name not in arguments:
            raise ToolCallRefused(f'the model called {skill.name} without its argument {slot.name!r}')
        value = arguments[slot.name]
        if slot.range is not None:
            low, high = slot.range
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ToolCallRefused(f'the model called {skill.name} with {slot.name}={value!r}, '
                                      f'not a whole number from {low} to {high}')
        else:
            spoken = [spoken for spoken, _ in slot.values]
            if value not in spoken:
                raise ToolCallRefused(f'the model called {skill.name} with {slot.name}={value!r}, '
                                      f'which is not one of its values ({", ".join(spoken)})')
        slots[slot.name] = value
    return Match(skill.name, MatchKind.ROS, slots, text.strip())


async def decide_tools(client, skills: Skills) -> tuple[list[dict] | None, str]:
    """(the tools to offer, or None: the path is off; the sentence to log) for the served model.

    client is a started LlamaClient on a server that answers. On when there are ``llm: true``
    skills, the model can call tools (tools_support) and the server takes a request offering
    them (one token generated: a server started without --jinja refuses it).
    """
    tools = tool_schemas(skills)
    if not tools:
        return None, 'LLM tool calls off: no skill is marked llm: true'
    able, why = tools_support(await client.props())
    if not able:
        return None, f'LLM tool calls off: the served model cannot call tools ({why})'
    try:
        async for _ in client.chat_stream([{'role': 'user', 'content': 'hello'}], tools, max_tokens=1):
            pass
    except LLMError as exc:
        return None, (f'LLM tool calls off: llama-server refused a request with tools (is it started with '
                      f"--jinja? the llama_server node's jinja parameter): {exc}")
    names = ', '.join(tool['function']['name'] for tool in tools)
    return tools, f'LLM tool calls on: {why}; the LLM may call {names}'
