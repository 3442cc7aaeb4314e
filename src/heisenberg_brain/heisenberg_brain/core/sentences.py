"""Streamed LLM text -> speakable chunks, as soon as each one closes.

The idea follows pipecat's end-of-sentence matcher (abbreviations, numbers and ellipses
do not end a sentence), rewritten for a token stream: a sentence mark only counts once
the next visible character shows the sentence really ended, so the chunks are the same
however the text is split into tokens; only the moment they come out differs.
"""

from __future__ import annotations

import re

# A run of sentence marks, then any closing quotes, brackets or markdown emphasis that belong to it
# (a French closing guillemet after its space too: « Bonjour. »).
_CLOSERS = ')]}"\'”’»*_`'
_SENTENCE_MARK = re.compile(f'[.!?…]+(?:[{re.escape(_CLOSERS)}]| »)*')
_CLAUSE_MARK = re.compile(r'[,;:](?=\s)')
_LONG_CLAUSE_MARK = re.compile(r'(?:[,;:]|\s[—–-])(?=\s)|—')
_SPACES = re.compile(r'[^\S\n]+')
_OPENERS = '([{"\'“‘«*_`'

# Only abbreviations that rarely end a sentence: 'Inc.' or 'fig.' often do, so they are not here.
# English, then French ('M.' is an initial below; 'Mme' and 'Mlle' take no dot, but models write one).
_ABBREVIATIONS = frozenset({
    'mr', 'mrs', 'ms', 'dr', 'prof', 'st', 'mt', 'vs', 'etc', 'jr', 'sr', 'approx', 'dept', 'sgt', 'capt',
    'mme', 'mmes', 'mlle', 'mlles', 'mm', 'cf', 'env', 'av', 'bd', 'ex', 'chap', 'vol', 'min', 'max',
})
# Single letters with dots: initials (J. R.), e.g, i.e, a.m, p.m, U.S, U.S.A.
_LETTER_DOTS = re.compile(r'(?:[^\W\d_]\.)*[^\W\d_]')
# "1. First" at the start of a chunk or after "steps: ".
_LIST_NUMBER = re.compile(r'(?:^|.*:\s+)\d{1,2}', re.DOTALL)


class SentenceSplitter:
    """Cuts a reply's text stream into sentences (or long clauses) for TTS.

    ``push(delta)`` returns the chunks that closed with this delta; ``flush()`` returns
    the rest at the end of the stream. Chunks never exceed ``max_clause_chars``. With
    ``first_clause_min_chars`` > 0 the first chunk of a reply may also end at , ; : once
    it is that long, so the voice can start sooner; with ``first_chunk_max_chars`` > 0 a
    first sentence longer than that is cut at its last clause mark or word boundary
    within it (a long first sentence would otherwise be generated and synthesized whole
    before the first word is heard).
    """

    def __init__(self, max_clause_chars: int = 160, first_clause_min_chars: int = 0,
                 first_chunk_max_chars: int = 0):
        if max_clause_chars < 1:
            raise ValueError(f'max_clause_chars must be >= 1, got {max_clause_chars}')
        if first_clause_min_chars < 0:
            raise ValueError(f'first_clause_min_chars must be >= 0, got {first_clause_min_chars}')
        if first_chunk_max_chars < 0:
            raise ValueError(f'first_chunk_max_chars must be >= 0, got {first_chunk_max_chars}')
        self.max_clause_chars = max_clause_chars
        self.first_clause_min_chars = first_clause_min_chars
        self.first_chunk_max_chars = first_chunk_max_chars
        self.reset()

    def reset(self) -> None:
        """Forget any pending text; the next push starts a new reply."""
        self._pending = ''
        self._emitted_any = False

    def push(self, delta: str) -> list[str]:
        """Add streamed text; return the chunks it completed (maybe none)."""
        text = self._pending + delta.replace('\r\n', '\n').replace('\r', '\n')
        self._pending = _SPACES.sub(' ', text).lstrip(' ')
        chunks = []
        while (end := self._next_cut()) is not None:
            chunk = self._pending[:end].strip()
            self._pending = self._pending[end:].lstrip(' \n')
            if chunk:
                chunks.append(chunk)
                self._emitted_any = True
        return chunks

    def flush(self) -> str | None:
        """End of stream: the text still pending (None if nothing), and start afresh."""
        rest = ' '.join(self._pending.split())
        self.reset()
        return rest or None

    def _next_cut(self) -> int | None:
        """Where the next chunk ends in the pending text, or None while it has not closed yet."""
        text = self._pending
        newline = text.find('\n')
        line = text if newline < 0 else text[:newline]
        candidates = [end for end in (self._sentence_end(line), self._first_clause_end(line)) if end]
        if newline >= 0:
            candidates.append(newline + 1)
        end = min(candidates) if candidates else None
        limit = self._limit()
        if end is not None and len(text[:end].strip()) <= limit:
            return end
        # rstrip: a trailing space may still be followed by a letter that confirms a sentence end.
        if end is not None or len(line.rstrip()) > limit:
            return _long_clause_cut(line, limit)
        return None

    def _limit(self) -> int:
        if self._emitted_any or not self.first_chunk_max_chars:
            return self.max_clause_chars
        return min(self.max_clause_chars, self.first_chunk_max_chars)

    def _sentence_end(self, line: str) -> int | None:
        for mark in _SENTENCE_MARK.finditer(line):
            if _ends_sentence(line, mark):
                return mark.end()
        return None

    def _first_clause_end(self, line: str) -> int | None:
        if self._emitted_any or not self.first_clause_min_chars:
            return None
        for mark in _CLAUSE_MARK.finditer(line):
            if mark.end() >= self.first_clause_min_chars:
                return mark.end()
        return None


def _ends_sentence(line: str, mark: re.Match) -> bool:
    """True when the mark is followed by a space and then a start that is not lowercase."""
    after = line[mark.end():]
    if not after[:1].isspace():
        return False  # 3.14, v1.2, example.com, "Hi." at the very end (wait for more)
    following = after.lstrip()
    if not following or following[0].islower():
        return False  # not known yet, or "Well... maybe" / "e.g. this"
    if mark.group().rstrip(_CLOSERS) == '.':
        return not _is_abbreviation_or_list_number(line[:mark.start()])
    return True


def _is_abbreviation_or_list_number(before: str) -> bool:
    word = before.rsplit(' ', 1)[-1].lstrip(_OPENERS)
    if word.lower() in _ABBREVIATIONS or _LETTER_DOTS.fullmatch(word):
        return True
    return bool(_LIST_NUMBER.fullmatch(before.strip()))


def _long_clause_cut(line: str, limit: int) -> int:
    """Where to cut a clause too long to speak in one go: the last , ; : or dash, else a space."""
    window = line[:limit + 1]
    marks = [m.end() for m in _LONG_CLAUSE_MARK.finditer(window) if m.end() <= limit]
    if marks:
        return marks[-1]
    space = window.rfind(' ')
    return space if space > 0 else limit


_FENCE = re.compile(r'```[^\n]*')
_LINK = re.compile(r'\[([^\]]*)\]\([^)]*\)')
# A URL is read as its host; punctuation right after it belongs to the sentence.
_URL = re.compile(r'\b(?:https?://|www\.)(?:www\.)?([^\s/?#]*[^\s/?#.,;:!?)])(?:[/?#]\S*?)?'
                  r'(?=[.,;:!?)]*(?:\s|$))',
                  re.IGNORECASE)
_HEADING = re.compile(r'^[ \t]*#{1,6}[ \t]*', re.MULTILINE)
_QUOTE_LINE = re.compile(r'^[ \t]*>+[ \t]?', re.MULTILINE)
_BULLET = re.compile(r'^[ \t]*[-*+•][ \t]+', re.MULTILINE)
_EMPHASIS = re.compile(r'\*\*|__|~~|`|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)')
_EMOJI = re.compile(
    '[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2190-\u21FF\u2300-\u23FF'
    '\uFE0E\uFE0F\u200D\u20E3\U000E0020-\U000E007F]')
_STRAY_SYMBOLS = re.compile(r'[*|]+')


def clean_for_speech(text: str) -> str:
    """Text as Piper should read it: no markdown marks, emoji, bullets or long URLs."""
    text = _FENCE.sub(' ', text)
    text = _LINK.sub(r'\1', text)
    text = _URL.sub(r'\1', text)
    text = _HEADING.sub('', text)
    text = _QUOTE_LINE.sub('', text)
    text = _BULLET.sub('', text)
    text = _EMPHASIS.sub('', text)
    text = _EMOJI.sub('', text)
    text = _STRAY_SYMBOLS.sub(' ', text)
    text = ' '.join(text.split())
    return re.sub(r'\s+([,.;:!?])', r'\1', text)
