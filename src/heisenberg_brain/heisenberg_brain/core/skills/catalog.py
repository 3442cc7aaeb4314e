"""The loaded skills: the specs, their matcher, and the listing the brain publishes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from heisenberg_brain.core.config import LANGUAGES
from heisenberg_brain.core.phrases import phrase
from heisenberg_brain.core.skills.matcher import BUILTIN_INTENTS, Match, Matcher
from heisenberg_brain.core.skills.spec import SkillsSpec, SkillSpec, SkillSpecError, parse_skills


@dataclasses.dataclass(frozen=True)
class SkillInfo:
    """One skill as a listing shows it; kind is 'builtin' or the effect (action, service, publish, read).

    The sentences are every language's (English first); the description is the English one.
    """

    name: str
    description: str
    sentences: tuple[str, ...]
    kind: str
    llm: bool = False


class Skills:
    """The built-ins that are on and the YAML skills, with the matcher built from both."""

    def __init__(self, spec: SkillsSpec):
        self.spec = spec
        self._by_name = {skill.name: skill for skill in spec.skills}
        self._matcher = Matcher(spec)

    def match(self, text: str, language: str = 'en') -> Match | None:
        """The skill the whole text asks for (language's sentences first), or None when it is the LLM's."""
        return self._matcher.match(text, language)

    def get(self, name: str) -> SkillSpec:
        """A YAML skill by name (KeyError for a built-in or an unknown name)."""
        return self._by_name[name]

    def listing(self) -> tuple[SkillInfo, ...]:
        """Every loaded skill: the built-ins first, then the YAML ones in file order."""
        builtins = tuple(
            SkillInfo(name, phrase(f'does.{name}'),
                      tuple(sentence for language in LANGUAGES
                            for _, sentences, _ in BUILTIN_INTENTS[language][name] for sentence in sentences),
                      'builtin')
            for name in self.spec.builtins)
        return builtins + tuple(SkillInfo(skill.name, skill.description,
                                          tuple(sentence for language in LANGUAGES
                                                for sentence in skill.sentences_in(language)),
                                          skill.effect.kind, skill.llm) for skill in self.spec.skills)

    def descriptions(self, language: str = 'en') -> tuple[tuple[str, str], ...]:
        """(name, what it does) of each skill in language (else, for a YAML skill, its English one)."""
        return tuple((name, phrase(f'does.{name}', language)) for name in self.spec.builtins) \
            + tuple((skill.name, skill.describe(language)) for skill in self.spec.skills)


def skills_from_yaml(text: str, origin: str = '<string>') -> Skills:
    """Skills from YAML text; SkillSpecError names the origin, skill and field of a mistake."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SkillSpecError(f'{origin}: not valid YAML: {exc}') from None
    return Skills(parse_skills(data, origin))


def load_skills(path: str | Path) -> Skills:
    """Skills from a skills.yaml file (the brain's skills_file parameter)."""
    try:
        text = Path(path).read_text(encoding='utf-8')
    except OSError as exc:
        raise SkillSpecError(f'{path}: cannot read the skills file: {exc.strerror or exc}') from None
    return skills_from_yaml(text, str(path))
