"""Gated regex rules: a rule runs its regex only if the text holds the words any match needs.

A rule table (see `injection_rules.py`) is many regexes over the same text. A
regex costs ~15-25 ns a character of text, a set lookup ~50 ns a rule, so each
`Rule` carries a *gate*: the words every match of its pattern must contain,
grouped by alternative ("ignore|disregard" is one group: either will do). A
`Keywords` object reads a text's words once; `Keywords.open(i)` says whether
rule `i` can possibly match, and on ordinary text only a few regexes run.

A group holds whole words; four-character stems where a word may go on
("summari[sz]\\w*" needs "summ"); or, for patterns of punctuation, substrings
("<|", "![", "@"). A pattern with no word it must contain has an empty gate and
always runs.

The gate is derived, not written: `required_words` reads it off the pattern's
parse tree from `re._parser`, the stdlib's own regex parser (private, but stable
since Python 3.11), so a gate cannot drift from its regex when the pattern is
edited. It claims a word only where the parse tree shows one (a separator or \\b
before it; a separator, \\b, punctuation or the end after it) and claims nothing
where it is unsure, so a gate errs toward running a regex, never toward hiding a
match; `tests/test_guard_injection.py` checks that no gate hides a match on every
test text and every text of the development set.

Pattern shorthand, expanded by `rx`: " " one or more separators within a line (so
"ignore. all. previous" matches like "ignore all previous"), " ?" an optional one,
"~" up to four filler words, "~~" up to six.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import itemgetter

# The stdlib's own regex parser (stable since 3.11): the gates are read off its parse trees.
from re import _constants as _c  # pyright: ignore[reportAttributeAccessIssue]
from re import _parser  # pyright: ignore[reportAttributeAccessIssue]
from typing import Any

# whole words, four-character word stems, substrings ("@", "<|")
Group = tuple[frozenset[str], frozenset[str], tuple[str, ...]]


@dataclass(frozen=True)
class Rule:
    family: str
    weight: float
    gate: tuple[Group, ...]  # every group needs one of its words, stems or substrings
    pattern: re.Pattern[str]
    word_start: bool  # the pattern began with \b, checked after matching (see `rx`)


def rx(src: str) -> tuple[re.Pattern[str], bool]:
    """Compile a pattern written in the shorthand above.

    A leading \\b is dropped and reported instead, for the caller to check in
    Python: without it `re` can skip ahead to the pattern's first characters,
    which makes a search 4-25x faster.
    """
    src = src.replace("~~", r"(?:\w+[^\w\n]+){0,6}?").replace("~", r"(?:\w+[^\w\n]+){0,4}?")
    src = src.replace(" ?", r"[^\w\n]*").replace(" ", r"[^\w\n]+")
    word_start = src.startswith(r"\b")
    return re.compile(src[2:] if word_start else src, re.MULTILINE), word_start


def family(name: str, *rules: tuple[float, str]) -> tuple[Rule, ...]:
    """The rules of one family from (weight, shorthand pattern) pairs, each with its gate."""
    built = []
    for weight, src in rules:
        pattern, word_start = rx(src)
        built.append(Rule(name, weight, required_words(pattern, word_start), pattern, word_start))
    return tuple(built)


_WORD = re.compile(r"\w+")
_STEM = 4
_FIRST_FOUR = itemgetter(slice(0, _STEM))


def required_words(pattern: re.Pattern[str], word_start: bool) -> tuple[Group, ...]:
    """The gate of a pattern: for each word (or choice of words) every match must contain,
    the set of them. Read off the parsed pattern, so a gate cannot drift from its regex."""
    items = list(_parser.parse(pattern.pattern, pattern.flags))
    if len(items) == 1 and items[0][0] is _c.BRANCH:  # "a|b": each needs one of its groups
        firsts = [_groups(list(alt), word_start) for alt in items[0][1][1]]
        if all(firsts):
            picks = [next((g for g in f if g[0] or g[1]), f[0]) for f in firsts]
            words = frozenset().union(*(g[0] for g in picks))
            stems = frozenset().union(*(g[1] for g in picks))
            return ((words, stems, tuple(x for g in picks for x in g[2])),)
    return _groups(items, word_start)


def _groups(items: list[tuple[Any, Any]], word_start: bool) -> tuple[Group, ...]:
    gate: list[Group] = []
    for n, (op, av) in enumerate(items):
        if op is _c.BRANCH and _separated(items[:n], word_start):
            group = _heads(av[1], items[n + 1 :])
        elif op is _c.LITERAL and chr(av).isalnum() and _separated(items[:n], word_start):
            group = _heads([items[n:]], [])
        elif op is _c.LITERAL and (n == 0 or items[n - 1][0] is not _c.LITERAL):
            group = _symbols([list(_literal_run(items[n:]))])  # "@", "![", "<|"
        else:
            continue
        if group is not None and group not in gate:
            gate.append(group)
    return tuple(gate)


def _literal_run(items: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    run: list[tuple[Any, Any]] = []
    for op, av in items:
        if op is not _c.LITERAL or chr(av).isalnum() or chr(av) == "_":
            break
        run.append((op, av))
    return run


def _heads(alternatives: list[list[tuple[Any, Any]]], after: list[tuple[Any, Any]]) -> Group | None:
    """The words the alternatives begin with; None if one of them may begin otherwise."""
    words: set[str] = set()
    stems: set[str] = set()
    for alternative in _flatten(alternatives):
        variants, rest = _lead(alternative + after)
        if not variants or not all(variants):
            return _symbols(alternatives)
        if _ends_word(rest):
            words.update(variants)
        elif min(map(len, variants)) >= _STEM:
            stems.update(v[:_STEM] for v in variants)
        else:
            return None
    return frozenset(words), frozenset(stems), ()


def _flatten(alternatives: list[list[tuple[Any, Any]]]) -> list[list[tuple[Any, Any]]]:
    """Alternatives that open with an alternation, spelled out: "(?:(?:a|b) c|d)" -> a c, b c, d."""
    flat: list[list[tuple[Any, Any]]] = []
    for alternative in alternatives:
        alternative = list(alternative)
        if alternative and alternative[0][0] is _c.BRANCH:
            flat += _flatten([list(sub) + alternative[1:] for sub in alternative[0][1][1]])
        else:
            flat.append(alternative)
    return flat


def _symbols(alternatives: list[list[tuple[Any, Any]]]) -> Group | None:
    """Alternatives of punctuation only ("<|", "![", "##") as substrings to look for."""
    found: list[str] = []
    for alternative in alternatives:
        chars = [chr(av) for op, av in alternative if op is _c.LITERAL]
        if not alternative or len(chars) != len(alternative) or "".join(chars).isalnum():
            return None
        found.append("".join(chars))
    return frozenset(), frozenset(), tuple(found)


def _lead(items: list[tuple[Any, Any]]) -> tuple[set[str], list[tuple[Any, Any]]]:
    """The literal word an item sequence starts with (forking on "s?", "[sz]", "(?:y|ies)")."""
    variants = {""}
    for n, (op, av) in enumerate(items):
        if op is _c.AT and not any(variants):
            continue
        choices = _choices(op, av)
        if choices is None or len(variants) * len(choices) > 16:
            return variants, items[n:]
        variants = {v + c for v in variants for c in choices}
    return variants, []


def _choices(op: Any, av: Any) -> list[str] | None:
    """The strings of word characters one parsed item can match, if it is that simple."""
    if op is _c.LITERAL:
        return [chr(av)] if chr(av).isalnum() or chr(av) == "_" else None
    if op is _c.IN and all(o is _c.LITERAL and chr(a).isalnum() for o, a in av):
        return [chr(a) for _, a in av]
    if op is _c.MAX_REPEAT and av[0] == 0 and av[1] == 1:
        inner = [_choices(o, a) for o, a in av[2]]
        if len(inner) == 1 and inner[0] is not None:
            return ["", *inner[0]]
    if op is _c.BRANCH:
        strings = ["".join(c[0] for c in (_choices(o, a) for o, a in alt) if c) for alt in av[1]]
        if all(len(alt) == len(s) for alt, s in zip(av[1], strings, strict=True)):
            return strings
    return None


def _ends_word(after: list[tuple[Any, Any]]) -> bool:
    """Whether what follows a word cannot continue it (a separator, \\b, punctuation, end)."""
    if not after:
        return True
    op, av = after[0]
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT):  # its first item follows the word, or what's after
        return _ends_word(list(av[2])) and (av[0] >= 1 or _ends_word(after[1:]))
    if op is _c.BRANCH:
        return all(_ends_word(list(alt)) if alt else _ends_word(after[1:]) for alt in av[1])
    return _separator(op, av)


def _separated(before: list[tuple[Any, Any]], word_start: bool) -> bool:
    """Whether what precedes an item guarantees that a word starts there."""
    if not before:
        return word_start
    op, av = before[-1]
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT):  # its last item precedes, or what's before it
        return _separated(list(av[2]), False) and (
            av[0] >= 1 or _separated(before[:-1], word_start)
        )
    if op is _c.BRANCH:
        return all(_separated(list(alt), False) for alt in av[1])
    return _separator(op, av)


def _separator(op: Any, av: Any) -> bool:
    """A parsed item that matches one non-word character (or a boundary)."""
    if op is _c.AT:
        return True
    if op is _c.LITERAL:
        return not chr(av).isalnum() and chr(av) != "_"
    if op is _c.IN:
        if av[0][0] is _c.NEGATE:
            return av[1][1] in (_c.CATEGORY_WORD, _c.CATEGORY_NOT_SPACE)
        return all(o is _c.LITERAL and not chr(a).isalnum() and chr(a) != "_" for o, a in av)
    return False


class GateIndex:
    """The gates of a rule table as bits: each word opens the groups it belongs to; a rule
    runs when all of its groups are open (a group's stems are checked only if its words fail).
    """

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        word_bits: dict[str, int] = {}
        needs: list[int] = []  # per rule: the bits of all its groups
        hard: list[int] = []  # per rule: its groups of words only (no word, no chance)
        bases: list[int] = []  # per rule: the bit of its first group
        bit = 0
        for rule in rules:
            bases.append(bit)
            needs.append(0)
            hard.append(0)
            for words, stems, symbols in rule.gate:
                for word in words:
                    word_bits[word] = word_bits.get(word, 0) | 1 << bit
                needs[-1] |= 1 << bit
                if not stems and not symbols:
                    hard[-1] |= 1 << bit
                bit += 1
        self.word_bits: dict[str, int] = word_bits
        # a set of its own: `set & dict` is a TypeError, and `set & frozenset` stays a set
        self.vocabulary: frozenset[str] = frozenset(word_bits)
        self.needs: tuple[int, ...] = tuple(needs)
        self.hard: tuple[int, ...] = tuple(hard)
        self.bases: tuple[int, ...] = tuple(bases)


_NON_WORD = str.maketrans(
    {chr(i): " " for i in range(128) if not (chr(i).isalnum() or chr(i) == "_")}
)


class Keywords:
    """The words of one text, and which gate groups of `gates` they open (one bit per group)."""

    def __init__(self, text: str, gates: GateIndex) -> None:
        self.text = text
        self.gates = gates
        # on ASCII text this equals set(_WORD.findall(text)) at about half the cost
        self.words: set[str] = set(
            text.translate(_NON_WORD).split() if text.isascii() else _WORD.findall(text)
        )
        self.opened = 0
        word_bits = gates.word_bits
        for word in self.words & gates.vocabulary:
            self.opened |= word_bits[word]
        self._stems: set[str] | None = None

    def open(self, index: int) -> bool:
        """Whether rule `index` may match: each of its groups has a word, stem or substring."""
        gates = self.gates
        missing = gates.needs[index] & ~self.opened
        if not missing:
            return True
        if missing & gates.hard[index]:
            return False  # a group of words only has none of its words
        base = gates.bases[index]
        for n, (_, stems, symbols) in enumerate(gates.rules[index].gate):
            if not missing >> (base + n) & 1:
                continue
            if stems and not stems.isdisjoint(self.stems()):
                continue
            if not any(symbol in self.text for symbol in symbols):
                return False
        return True

    def stems(self) -> set[str]:
        if self._stems is None:
            # a shorter word's "stem" is the word itself, which no four-letter stem equals
            self._stems = set(map(_FIRST_FOUR, self.words))
        return self._stems
