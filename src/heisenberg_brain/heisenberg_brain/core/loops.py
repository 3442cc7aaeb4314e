"""A reply that starts repeating itself, found in its token stream (no ROS here).

A small model at temperature 0 can fall into a loop ("La femme de la France, la femme de la
France, ..." for 512 tokens, 100 s of speech). The text is checked after every token: it loops
when its end is one piece of text (the unit) written again and again back to back, compared
without regard to case:

- a sentence said twice: a unit of at least ``sentence_chars`` characters, or of at least
  ``min_sentence_chars`` with a sentence end in it ("I'm counting them. I'm counting them."), or
- any other unit written at least three times over at least ``min_span`` characters
  ("la la la la ..." once it is that long; "very, very good" and "New York, New York" are not).

A sentence said twice is found as its second copy's last character arrives, before the sentence
splitter closes that copy (it waits for the next word), so the second copy is never spoken. The
reply is cut where the repetition began: the text up to the end of the unit's first copy (moved on
to the end of a word when the copies line up mid-word), which is all the user hears.
"""

from __future__ import annotations

import dataclasses
import re

DEFAULT_MIN_SPAN = 40
DEFAULT_SENTENCE_CHARS = 24
DEFAULT_MIN_SENTENCE_CHARS = 8
DEFAULT_MAX_UNIT = 400   # longer units are not looked for (bounds the work per token)
_SENTENCE_END = re.compile('[.!?…][»"”’)]*\\s')


@dataclasses.dataclass(frozen=True)
class Loop:
    """Where a reply started repeating itself."""

    cut: int       # len(text before the loop): text[:cut] is kept
    unit: str      # one copy of what repeats, as written the first time
    copies: float  # how many times it was written (the last copy may be partial)


class LoopDetector:
    """Feed the reply's text as it streams; ``push`` returns the Loop once the text loops."""

    def __init__(self, min_span: int = DEFAULT_MIN_SPAN, sentence_chars: int = DEFAULT_SENTENCE_CHARS,
                 max_unit: int = DEFAULT_MAX_UNIT, min_sentence_chars: int = DEFAULT_MIN_SENTENCE_CHARS):
        if not 2 <= min_sentence_chars <= sentence_chars <= max_unit or min_span < 2:
            raise ValueError(f'limits must be 2 <= min_sentence_chars <= sentence_chars <= max_unit and '
                             f'min_span >= 2, got {min_sentence_chars}, {sentence_chars}, {max_unit}, '
                             f'{min_span}')
        self.min_span = min_span
        self.sentence_chars = sentence_chars
        self.min_sentence_chars = min_sentence_chars
        self.max_unit = max_unit
        self.text = ''
        self._folded = ''

    def push(self, delta: str) -> Loop | None:
        """Add streamed text; the loop its end forms now, or None."""
        self.text += delta
        self._folded += _fold(delta)
        return find_loop(self.text, self._folded, self.min_span, self.sentence_chars, self.max_unit,
                         self.min_sentence_chars)


def _fold(text: str) -> str:
    # casefold() may change a string's length ('ß' -> 'ss'); lower() keeps positions for these scripts.
    return ''.join(c.lower() if len(c.lower()) == 1 else c for c in text)


def find_loop(text: str, folded: str | None = None, min_span: int = DEFAULT_MIN_SPAN,
              sentence_chars: int = DEFAULT_SENTENCE_CHARS, max_unit: int = DEFAULT_MAX_UNIT,
              min_sentence_chars: int = DEFAULT_MIN_SENTENCE_CHARS) -> Loop | None:
    """The loop text ends in (module docstring), or None. folded: text lowercased, if known."""
    s = _fold(text) if folded is None else folded
    n = len(s)
    for unit in range(1, min(max_unit, (n + 1) // 2) + 1):
        # How far back the end of the text keeps the period `unit`: s[j] == s[j - unit].
        j = n - 1
        while j >= unit and s[j] == s[j - unit]:
            j -= 1
        span = (n - 1 - j) + unit   # the periodic tail, first copy included
        if span < 2 * unit - 1:
            continue
        start = n - span
        first_copy = text[start:start + unit]
        if not first_copy.strip():
            continue
        if unit >= sentence_chars or (unit >= min_sentence_chars and _is_sentence(first_copy)):
            # The second copy may still lack the space that would start a third: one character of slack.
            loops, copies = True, (span + 1) / unit
        else:
            copies = span / unit
            loops = copies >= 3 and span >= min_span
        if loops:
            return Loop(cut=_word_end(text, start + unit), unit=first_copy, copies=round(copies, 2))
    return None


def _is_sentence(unit: str) -> bool:
    """True when the unit, read round (it may start mid-sentence), has a sentence end in it."""
    return bool(_SENTENCE_END.search(unit + unit[:1]))


def _word_end(text: str, cut: int) -> int:
    """cut, moved on to the end of the word it falls in (copies aligned mid-word or before a mark).

    A word that runs to the end of the text (a loop with no space: '1,000,000,000...') is cut as is.
    """
    end = cut
    while 0 < end < len(text) and not text[end - 1].isspace() and not text[end].isspace():
        end += 1
    return cut if end == len(text) else end
