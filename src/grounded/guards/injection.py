"""Prompt-injection and jailbreak detection by rules: no model, no network.

Direct injection arrives in the user's question (stage "input"); indirect
injection hides in retrieved document chunks (stage "retrieved"). Every rule is
a precompiled regex over `normalize(text)` (and its leetspeak-folded copy) with
a weight; decoded base64/hex/rot13/tag payloads are scanned too.

Patterns demand a combination, never a single word: "ignore" alone is nothing,
"ignore" + a qualifier ("previous", "your", "all") + an instruction noun is a
finding. Weak patterns (a "System:" line, "developer mode") stay below the
threshold alone and only matter next to another finding:

    family score   noisy-OR of the distinct patterns of that family that matched
                   near each other (matches on the same words count once)
    stage factor   documents addressing "any AI" or carrying chat-template tokens
                   weigh more in "retrieved"; persona jailbreaks more in "input"
    corroboration  score += (1 - score) * 0.5 * (strongest other family nearby)

"Near" is within 800 characters: in a long document, a weak signal in one
section and a strong one in another are two separate matters.

A quoted mention ("phrases like 'ignore previous instructions'") counts half:
security-awareness pages talk about attacks without making one.

Spans: a finding is located in the original text through the offsets that
`normalize_with_offsets` keeps; when the text cannot be mapped (per-character
NFKC differs from whole-text NFKC), the finding spans the whole text (0, len).

Speed: a regex costs ~15-25 ns a character of text, a set lookup ~50 ns a
rule. So every rule has a gate: the words any match must contain, read off the
parsed pattern (`_required`), checked against the text's set of words; on
ordinary text only a few regexes run. The gate is derived, not written, so it
cannot drift from its pattern; `tests/test_guard_injection.py` still asserts
that no gate hides a match. Patterns use bounded gaps and disjoint character
classes, so matching is linear in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import itemgetter

# The stdlib's own regex parser (stable since 3.11): the gates are read off its parse trees.
from re import _constants as _c  # pyright: ignore[reportAttributeAccessIssue]
from re import _parser  # pyright: ignore[reportAttributeAccessIssue]
from typing import Any

from grounded.domain import GuardContext, Stage, Verdict
from grounded.errors import ConfigError
from grounded.guards.base import Detection, RuleActions, decide
from grounded.guards.normalize import find_payloads, leet_fold, normalize, normalize_with_offsets

INJECTION_RULES: tuple[str, ...] = (
    "ignore_instructions",
    "reveal_prompt",
    "role_override",
    "jailbreak_persona",
    "policy_evasion",
    "addressed_to_ai",
    "fake_delimiters",
    "exfiltration",
    "tool_hijack",
    "encoded_instructions",
)

_MESSAGES = {
    "ignore_instructions": "asks to ignore or replace previous instructions",
    "reveal_prompt": "asks to reveal the system prompt or hidden instructions",
    "role_override": "tries to give the assistant an unrestricted role",
    "jailbreak_persona": "uses a known jailbreak persona or role-play",
    "policy_evasion": "asks to evade safety rules or filters",
    "addressed_to_ai": "addresses instructions to an AI reading the text",
    "fake_delimiters": "contains fake chat-template tokens or role headers",
    "exfiltration": "asks to send conversation data or secrets elsewhere",
    "tool_hijack": "asks to call a tool or run a command",
    "encoded_instructions": "hides instructions in {encoding}-encoded text",
}

_STAGE_FACTOR: dict[str, dict[str, float]] = {
    "addressed_to_ai": {"input": 0.6, "output": 0.8},
    "fake_delimiters": {"input": 0.9, "retrieved": 1.15},
    "jailbreak_persona": {"retrieved": 0.85, "output": 0.85},
    "role_override": {"retrieved": 0.9},
    "policy_evasion": {"retrieved": 0.9},
}
_CORROBORATION = 0.5
_WINDOW = 800  # characters: signals further apart than this do not corroborate each other
_ENCODED_BONUS = 0.3  # hiding an instruction in an encoding is a signal of its own
_MASK = "[INJECTION]"


# whole words, four-character word stems, substrings ("@", "<|")
_Group = tuple[frozenset[str], frozenset[str], tuple[str, ...]]


@dataclass(frozen=True)
class _Rule:
    family: str
    weight: float
    gate: tuple[_Group, ...]  # every group needs one of its words, stems or substrings
    pattern: re.Pattern[str]
    word_start: bool  # the pattern began with \b, checked after matching (see `_rx`)


# Pattern shorthand, expanded by `_rx`: " " one or more separators within a line (so
# "ignore. all. previous" matches like "ignore all previous"), " ?" an optional one,
# "~" up to four filler words, "~~" up to six. A leading \b is checked in Python
# instead: without it `re` can skip ahead to the pattern's first characters, which
# makes a search 4-25x faster.
def _rx(src: str) -> tuple[re.Pattern[str], bool]:
    src = src.replace("~~", r"(?:\w+[^\w\n]+){0,6}?").replace("~", r"(?:\w+[^\w\n]+){0,4}?")
    src = src.replace(" ?", r"[^\w\n]*").replace(" ", r"[^\w\n]+")
    word_start = src.startswith(r"\b")
    return re.compile(src[2:] if word_start else src, re.MULTILINE), word_start


_WORD = re.compile(r"\w+")
_STEM = 4
_FIRST_FOUR = itemgetter(slice(0, _STEM))


def _family(name: str, *rules: tuple[float, str]) -> tuple[_Rule, ...]:
    built = []
    for weight, src in rules:
        pattern, word_start = _rx(src)
        built.append(_Rule(name, weight, _required(pattern, word_start), pattern, word_start))
    return tuple(built)


def _required(pattern: re.Pattern[str], word_start: bool) -> tuple[_Group, ...]:
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


def _groups(items: list[tuple[Any, Any]], word_start: bool) -> tuple[_Group, ...]:
    gate: list[_Group] = []
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


def _heads(
    alternatives: list[list[tuple[Any, Any]]], after: list[tuple[Any, Any]]
) -> _Group | None:
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


def _symbols(alternatives: list[list[tuple[Any, Any]]]) -> _Group | None:
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


_IGN = (
    r"(?:ignore|ignoring|disregard|disregarding|forget|forgetting|override|overriding|overlook|"
    r"neglect|discard|abandon|bypass|set aside|pay no attention to|throw out)"
)
# its own pattern: "do", "stop" and "no" are too common to gate a rule on, "follow" is not
_IGN_FOLLOW = r"(?:do not|don t|dont|stop|no longer|cease) (?:follow|following|obey|obeying)"
_GIVEN = (
    r"(?:that )?(?:you (?:were|have been|had been) (?:given|told|provided|taught|configured|"
    r"programmed|instructed)(?: with)?|you (?:got|"
    r"received)|(?:provided |given )?(?:above|before|earlier|previously|so far))\b"
)
_QUAL = (
    r"(?:previous|previously given|prior|preceding|above|earlier|former|original|initial|all|"
    r"your|system|existing|current|given|foregoing|any previous|any prior)"
)
_ADJ = (
    r"(?:safety|system|original|initial|given|above|existing|developer|hidden|content|ethical|"
    r"moral)"
)
_NOUN = (
    r"(?:instructions?|instruction set|rules|guidelines|guidance|directives?|directions|prompts?"
    r"|system prompt|context|commands|constraints|restrictions|programming|orders|training|"
    r"safeguards|guardrails|(?:content|usage|safety) polic(?:y|ies))"
)
_VOID = (
    r"(?:void|null|cancell?ed|revoked|obsolete|outdated|overridden|invalid|suspended|lifted|"
    r"removed|disabled|deactivated|irrelevant|no longer|not (?:valid|apply|binding))"
)
_REVEAL = (
    r"(?:reveal|print|show|display|output|repeat|tell|give|share|dump|leak|disclose|write out|"
    r"spell out|recite|expose|paste|echo|return|provide|list|read back|type out|copy)"
)
_SECRET = r"(?:initial|original|hidden|secret|internal|developer|underlying|confidential)"
_AI = (
    r"(?:ai|artificial intelligence|ai assistants?|ai models?|language models?|large language "
    r"models?|llms?|chatbots?|chat bots?|gpts?|chatgpt|copilots?|ai systems?|ai agents?|automated "
    r"(?:assistants?|systems?|agents?|tools?|readers?)|virtual assistants?)"
)
_AI_LOOSE = rf"(?:{_AI}|assistants?|models?|bots?)"
_AI_ACTS = (
    r"(?:reads?|reading|process|processes|processing|summari[sz]ing|summari[sz]es|answering|"
    r"answers|parsing|parses|sees|ingesting|ingests|analy[sz]ing|handling|indexing|crawling)"
)
# what an AI would be reading: "any AI reading *this*" is addressed, "a chatbot answering
# questions" is a description
_THIS = r"(?:this|these|the following|the (?:text|page|document|above)|questions about this)\b"
# what makes a role override: a role without rules, filters or limits (same sentence)
_UNBOUND = (
    r"[^.!?\n]{0,120}?\b(?:unrestricted|unfiltered|uncensored|jailbroken|jailbreak|unbound|"
    r"unchained|amoral|unethical|evil|rogue|never refuses|(?:without|no|zero) (?:any )?(?:rules|"
    r"restrictions|limits|"
    r"limitations|filters|guidelines|ethics|morals|moral|ethical|censorship|boundaries|content "
    r"polic\w+)|not bound by|free (?:from|of) (?:all |any )?(?:rules|restrictions|policies|"
    r"guidelines|limitations|constraints)|can (?:do|say) anything|do anything|has been "
    r"jailbroken|escaped)"
)
# asking to send conversation data or secrets somewhere: the destination follows
_SEND = (
    r"\b(?:send|sends|forward|post|upload|transmit|email|e mail|exfiltrate|leak|submit|share) ~"
    r"(?:the |this |our |all |your |their |his |her |my )?(?:entire |full |whole |complete |"
    r"current |previous )?(?:conversation|chat(?: history| log| transcript)?|dialogue|"
    r"session(?: token| id| cookie)?|system prompt|context(?: window)?|message history|history|"
    r"transcript|secrets?|credentials|api keys?|passwords?|access tokens?|tokens?|cookies|"
    r"(?:user|customer)(?: s|s)? (?:data|question|messages?|api keys?|passwords?|credentials|"
    r"tokens?|e ?mails?|details|session))\b"
)
_LINE_START = r"^(?:[>*#\-\[]|[^\S\n])*"  # quote marks, bullets, headings before a role label

_RULES: tuple[_Rule, ...] = (
    *_family("ignore_instructions",
        (0.9, rf"\b{_IGN} ~{_QUAL} (?:{_ADJ} )?{_NOUN}\b"),
        (0.9, rf"\b{_IGN_FOLLOW} ~{_QUAL} (?:{_ADJ} )?{_NOUN}\b"),
        (0.85, rf"\b{_IGN} (?:the |your |any |all )?{_NOUN} {_GIVEN}"),
        (0.85, rf"\b{_IGN_FOLLOW} (?:the |your |any |all )?{_NOUN} {_GIVEN}"),
        (0.8, r"\b(?:forget|ignore|disregard) (?:about )?(?:everything|all|anything) (?:that )?"
         r"(?:you (?:have |had |were |was )?(?:been )?(?:told|given|taught|instructed|shown|"
         r"read)|above|before|so far|previously|up to now|until now)\b"),
        (0.75, r"\b(?:ignore|disregard|forget) (?:all (?:of )?)?(?:the |that |what s )?(?:above|"
         r"preceding|foregoing|previous|prior|earlier)(?=[^\S\n]*(?:[.,;:!\-—]|and\b|then\b|"
         r"instead\b|$))"),
        (0.8, r"\byour (?:previous |prior |earlier |original |initial |old |current |existing |"
         r"system )?(?:instructions|directives|rules|guidelines|programming|prompt|"
         r"system prompt|orders|restrictions|constraints) ~(?:(?:are|is|have been|were|"
         rf"has been) (?:now )?)?{_VOID}"),
        (0.8, r"\b(?:instructions|rules|guidelines|directives|prompt|guidance) (?:that )?you "
         r"(?:got|were given|have been given|received|were told) ~(?:(?:are|is|were) "
         rf"(?:now )?)?{_VOID}"),
        (0.45, r"\b(?:previous|prior|earlier|above|original|initial|old|existing|preceding) "
         r"(?:instructions|rules|guidelines|guidance|directives|prompt|directions|ones) ~(?:"
         rf"(?:are|is|have been|were|has been) (?:now )?)?{_VOID}"),
        (0.6, r"\byour (?:new|real|actual|true|only|updated|revised) (?:instructions?|task|goal|"
         r"objective|purpose|job|directive|mission|rules?|role)\b"),
        (0.4, r"\bnew (?:system )?(?:instructions?|directives?|rules?|task)(?: from (?:the )?"
         r"(?:administrator|admin|developer|system|operator))? ?(?::|follow\b|are as follows|"
         r"below ?:)"),
        (0.6, r"\b(?:everything|all|the text|the instructions) (?:above|before this|so far) "
         r"(?:was|were|is) (?:just )?(?:a )?(?:test|fake|joke|irrelevant|void)"),
        (0.55, r"\bi have been pwned\b"),
        (0.55, r"\b(?:forget|ignore|disregard) (?:the|all|any|your) (?:rules|instructions|"
         r"guidelines|restrictions)(?=[^\S\n]*(?:[.!;]|and\b|then\b|$))"),
        (0.55, r"\b(?:forget|ignore|disregard) (?:everything in |all of )?(?:the |your )?"
         r"(?:knowledge base|retrieved documents|documents|sources|search results|context)\b"),
        (0.85, r"\b(?:ignorier\w*|vergiss|vergessen|missacht\w*) ~(?:vorherigen|vorigen|"
         r"bisherigen|obigen|früheren|alle[nrs]?|deine|ihre|sämtliche|ursprünglichen) (?:\w+ )?"
         r"(?:anweisungen|instruktionen|regeln|richtlinien|vorgaben|befehle|anordnungen|"
         r"prompts?)"),
        (0.7, r"\b(?:vergiss|vergessen sie|ignoriere|ignorieren sie) (?:einfach )?alles\b"),
        (0.85, r"\b(?:ignore[zr]?|oublie[zr]?|ne tenez pas compte|ne tiens pas compte|"
         r"faites abstraction|fais abstraction) ~(?:instructions|consignes|règles|directives|"
         r"indications) (?:précédentes|precedentes|antérieures|anterieures|ci dessus|initiales|"
         r"d origine)"),
        (0.8, r"\b(?:ignore[zr]?|oublie[zr]?) (?:toutes (?:les |tes |vos )|tes |vos )"
         r"(?:instructions|consignes|règles|directives)\b"),
        (0.85, r"\b(?:ignora|ignore|ignorar|ignorate|olvida|olvide|olvidar|omite|omita|"
         r"dimentica) ~(?:instrucciones|reglas|indicaciones|directrices|istruzioni|regole) "
         r"(?:anteriores|previas|precedentes|precedenti|de arriba|originales)")),
    *_family("reveal_prompt",
        (0.85, rf"\b{_REVEAL} (?:me |us )?(?:(?:the|your|its|their) )?(?:full |complete |exact |"
         rf"entire |whole )?(?:system|{_SECRET}) (?:prompt|instructions|message|directives|"
         r"configuration|rules)"),
        (0.85, rf"\b{_REVEAL} (?:me |us )?(?:(?:the|your|its|their) )?(?:systemprompt|preprompt)"),
        (0.85, rf"\b{_REVEAL} (?:me |us )?(?:(?:the|your|its|their) )?(?:\w+ )?(?:prompt|"
         r"instructions|directives|rules|guidelines) (?:you were given|above|verbatim)"),
        (0.8, rf"\b{_REVEAL} ~~your (?:\w+ )?(?:prompt|instructions|directives|programming|"
         r"context window|context|configuration|config|rules|guidelines|system message|"
         r"initial message)\b"),
        (0.8, rf"\b{_REVEAL} (?:me |us )?(?:all |everything |the (?:full |entire |whole )?)?"
         r"(?:text|words|content|contents|lines|messages?|conversation|everything|all) ~"
         r"(?:above(?! (?:the|a|an|this|that|each|it|your|my)\b)|before this|preceding this|"
         r"prior to this|that (?:appears|comes|is written|was written|came) (?:before|above))"),
        (0.55, r"\bwhat (?:were|have|had) you (?:been )?(?:told|instructed|given|programmed)\b"),
        (0.8, rf"\b{_REVEAL} ~~(?:instructions|prompt|rules|directives|guidelines) (?:that )?"
         r"(?:your (?:operator|developer|creator|admin|owner)s? (?:gave|has given) you|you "
         r"(?:were given|received|got))\b"),
        (0.7, rf"\bwhat (?:does|do|did) your (?:{_SECRET}|system) (?:\w+ )?say\b"),
        (0.7, rf"\bwhat (?:is|are|was|were) (?:in )?your (?:{_SECRET} |system )(?:system )?"
         r"(?:prompt|instructions|message)"),
        (0.55, r"\bwhat (?:is|are|were) your (?:prompt|instructions|rules) ?(?:\?|$)"),
        (0.45, rf"\byour (?:system prompt|system message|{_SECRET} (?:prompt|instructions|"
         r"message|configuration|rules|directives|setup))"),
        (0.25, r"\bsystem ?prompt\b"),
        (0.6, r"\bstarting with [\"']?you are\b"),
        (0.8, r"\b(?:affiche[zr]?|montre[zr]?|révèle[zr]?|revele[zr]?|donne[zr]?|imprime[zr]?|"
         r"zeig\w*|gib|verrat\w*|nenn\w*|muestra|revela|imprime|dime|mostra|rivela) ~(?:prompt "
         r"(?:système|systeme|du système|de système|del sistema|di sistema)|systemprompt|"
         r"system prompt|systemanweisungen?|instructions (?:cachées|secrètes|système|initiales)|"
         r"consignes (?:cachées|secrètes|initiales)|versteckten anweisungen|instrucciones "
         r"(?:ocultas|secretas|del sistema|iniciales)|istruzioni (?:nascoste|segrete|"
         r"di sistema))")),
    *_family("role_override",
        (0.8, rf"\byou (?:are|re) now\b{_UNBOUND}"),
        (0.8, rf"\bfrom now on,? you\b{_UNBOUND}"),
        (0.8, rf"\b(?:act as|acting as|behave as|role ?play as)\b{_UNBOUND}"),
        (0.8, rf"\b(?:pretend (?:to be|you are|you re)|imagine (?:that )?you are)\b{_UNBOUND}"),
        (0.8, rf"\byou (?:will (?:now )?(?:act|behave|respond|answer) (?:as|like)|are no longer)\b"
         rf"{_UNBOUND}"),
        (0.6, rf"\byou are no longer (?:an? |the )?(?:\w+ )?(?:{_AI_LOOSE}|assistant)\b"),
        (0.75, r"\b(?:enable|enabled|enter|entering|activate|activated|switch (?:to|into)|"
         r"turn on|go into|you are (?:now )?in|you re (?:now )?in|now in|with) ~(?:god|opposite|"
         r"jailbreak|jailbroken|dan|evil|unfiltered|uncensored|unrestricted|chaos|rogue|"
         r"unlocked) mode\b"),
        (0.35, r"\b(?:developer|dev|debug|sudo|admin|maintenance|root|superuser) mode\b"),
        (0.5, r"\b(?:user|you|i) (?:has|have) been granted (?:\w+ )?(?:admin|administrator|root|"
         r"elevated|full|unrestricted) (?:clearance|access|privileges|rights|permissions)"),
        (0.35, r"\bi(?: m| am) (?:the |your |an? )?(?:system )?(?:administrator|admin|developer|"
         r"creator|owner|operator|root user)\b")),
    *_family("jailbreak_persona",
        (0.9, r"\bdo anything now\b"),
        (0.8, r"\b(?:you are|you re|act as|acting as|pretend to be|pretend you are|"
         r"role ?play as|you will be|be|(?:respond|answer|reply|speak|talk) (?:only )?as) "
         r"(?:now )?(?:a |an |the )?[\"']?(?:dan|stan|aim|dude|"
         r"maximum)\b"),
        (0.8, r"\b(?:betterdan|better dan|evilbot|evil bot|freegpt|antigpt|anti gpt|chaosgpt|"
         r"wormgpt|mongo tom|dan mode|stan mode|always intelligent and machiavellian|"
         r"strive to avoid norms|evil confidant)\b"),
        (0.85, r"\b(?:chatgpt|gpt|assistant|ai|you|llm|model) with (?:the )?developer mode\b"),
        (0.4, r"\bdeveloper mode (?:enabled|output|response)"),
        (0.75, r"\b(?:pretend|act|role ?play|play|playing|be|as|you are) ~(?:my )?(?:late|"
         r"deceased|dead|dying|departed) (?:grand(?:mother|ma|father|pa|mom|dad)|granny|nan|"
         r"mother|father|mom|dad)"),
        (0.65, r"\b(?:broken free|break free|freed from|free yourself from|escaped (?:from )?"
         r"(?:its |your |the )?(?:programming|confines|restrictions|rules|limitations|creators)|"
         r"typical confines)"),
        (0.65, r"\b(?:limitations|restrictions|rules|shackles) of your (?:creators|programming|"
         r"developers)"),
        (0.7, r"\b(?:uncensored|unfiltered|unrestricted|jailbroken|evil|unhinged|unlocked) "
         r"(?:version|side|self) of (?:yourself|you)\b"),
        (0.6, r"\b(?:unfiltered|uncensored|amoral|unrestricted|jailbroken|rogue|evil) (?:and "
         r"(?:amoral|unfiltered|uncensored) )?(?:ai|chatbot|assistant|model|language model|bot|"
         r"llm|buddy|version|robot)\b"),
        (0.6, r"\b(?:ai|assistant|chatbot|model|bot|robot) (?:with|that has|who has) no "
         r"(?:ethical |moral |content )?(?:guidelines|restrictions|rules|filters|limits|"
         r"limitations|ethics|morals|boundaries)"),
        (0.45, r"\bstay in character\b"),
        (0.5, r"\blet s break the rules\b"),
        (0.6, r"\bmorali[sz]\w* rant\b"),
        (0.6, r"\b(?:activate|enable|enter|start) (?:the )?jailbreak\b")),
    *_family("policy_evasion",
        (0.75, r"\b(?:without|with no|no|ignoring|ignore|bypass(?:ing)?|disable|disabling|"
         r"deactivate|turn off|remove|circumvent(?:ing)?|evade|evading|get around|skip(?:ping)?|"
         r"lift|drop) (?:(?:any|all|your|the|of|its|these|those) ){0,3}(?:content polic(?:y|"
         r"ies)|usage polic(?:y|ies)|censorship|guardrails?|safeguards?|safety (?:checks?|rules|"
         r"guidelines|measures|restrictions|filters?|protocols?|settings|features|training|polic"
         r"(?:y|ies))|(?:ethical|moral)(?: or (?:ethical|moral))? (?:guidelines|constraints|"
         r"restrictions|boundaries|limits|considerations)|ethics|morals)\b"),
        (0.5, r"\b(?:without|with no|no|bypass|disable|turn off|remove) (?:any |all |your |"
         r"the )?(?:content |safety |output )?filters?\b"),
        (0.3, r"\b(?:without|with no|no) (?:any )?(?:restrictions|limitations|limits|rules|"
         r"boundaries|constraints)\b"),
        (0.55, r"\b(?:filters?|restrictions|safety|guardrails|censorship|content polic(?:y|ies)|"
         r"safeguards|limitations|(?:safety|content|ethical) (?:guidelines|rules|filters|policies"
         r"|restrictions)) (?:are|is|were|was|have been|has been) (?:now )?(?:disabled|off|"
         r"removed|deleted|lifted|turned off|switched off|deactivated|suspended|gone)\b"),
        (0.55, r"\b(?:hypothetical(?:ly)?|in theory|theoretically|imagine|suppose|pretend|"
         r"let s say|for (?:educational|research|academic) purposes)\b[^.!?\n]{0,80}?\b(?:no|"
         r"without|ignore|ignoring|disregard(?:ing)?) (?:any |your |the )?(?:ethics|morals|"
         r"content polic\w+|rules|restrictions|filters|guidelines|limits|safety|policies|"
         r"consequences)\b"),
        (0.6, r"\b(?:ethics|morals|morality|content polic\w+|safety (?:rules|guidelines)|your "
         r"(?:rules|guidelines|restrictions|policies)) (?:don t|do not|no longer) (?:exist|"
         r"apply|matter)\b"),
        (0.35, r"\b(?:rules|policies|guidelines|restrictions|laws) (?:don t|do not|does not|"
         r"doesn t|no longer) (?:exist|apply|matter|count)\b"),
        (0.2, r"\bfor (?:educational|research|academic|testing) purposes\b"),
        (0.45, r"\bnothing is off ?limits\b"),
        (0.4, r"\b(?:never|don t|do not|won t|will not|cannot|can t) (?:ever )?(?:refus\w*|"
         r"declin\w*|say no|says? (?:that )?(?:you|it|he|she) (?:can t|cannot))"),
        (0.45, r"\b(?:not|never|no longer|doesn t|does not|don t|do not|won t|will not) "
         r"(?:have to |need to )?(?:abide by|bound by|follow|obey|comply with|adhere to) (?:any|"
         r"the|your) (?:rules|policies|guidelines|restrictions|ethics|laws|norms)\b"),
        (0.45, r"\b(?:ignore|bypass|disregard|circumvent|override|skip) (?:all |the |any |"
         r"your )?(?:access controls?|acls?|permissions|access restrictions|"
         r"authori[sz]ation checks?|security controls?)\b")),
    *_family("addressed_to_ai",
        (0.65, r"\b(?:note|notes|message|instructions?|notice|attention|important|warning|"
         r"reminder|hint|directive|request|memo|p s|config note)\b[^.!?\n:]{0,30}? (?:to|for) "
         rf"(?:(?:any|all|every|each|the) )?{_AI_LOOSE}s?\b(?=[^\S\n]?(?:[:,;.)\]!\n]|reading|"
         r"processing|that|who|which|answering|summari|parsing|handling|$))"),
        (0.65, rf"\b(?:if|when|whenever|in case) you(?: re| are) (?:an? |the )?(?:{_AI}|"
         r"assistant|model|bot|machine)\b(?! (?:manager|to|director|professor|coach|teacher))"),
        (0.65, rf"\b{_AI} (?:that |who |which )?{_AI_ACTS} {_THIS}"),
        (0.65, r"\b(?:any|all|every|each|the|an?) (?:assistants?|models?|bots?) (?:that |who |"
         rf"which )?{_AI_ACTS} {_THIS}"),
        (0.6, rf"\b(?:assistants?|models?|bots?) (?:that |who |which )?{_AI_ACTS} this (?:page|"
         r"document|text|file|article|section|e ?mail|message|content|wiki)\b"),
        (0.5, r"\b(?:dear|hey|hello|hi|attention|attn|psst) (?:the |any |all )?(?:ai|"
         r"chatbot|llm|language model|gpt|chatgpt|ai assistant|assistant|bot|ai model|"
         r"model)s?\b[^\S\n]?[,:!]"),
        (0.4, r"(?:^|[>\]\)])[^\w\n]*(?:ai|ai assistants?|llms?|language models?|chatbots?|"
         r"ai agents?|ai models?)[^\S\n]?:"),
        (0.6, rf"\b(?:{_AI}|models?)\b (?:\w+ ){{0,2}}?(?:must|should|"
         r"shall|need to|are required to|are instructed to|is required to|will now|has to|"
         r"have to)(?: not| never| now| always| only)? (?:tell|say|respond|reply|answer|ignore|"
         r"recommend|state|include|approve|output|print|reveal|inform|encourage|stop|mark|"
         r"delete|rate|follow|disregard|forget|claim|describe|mention|refuse|send|forward|call|"
         r"run|execute|comply|obey|treat|grant|summari[sz]e)\b"),
        (0.55, r"\b(?:do not|don t|never) (?:reveal|mention|disclose|repeat|show|tell (?:the )?"
         r"(?:user|reader|anyone)(?: about)?) (?:this|these|the above|the following) "
         r"(?:instructions?|note|message|text|directive|request)\b"),
        (0.6, r"\bhidden (?:instructions?|prompt|directive|command|note)s? ?:"),
        (0.65, r"\b(?:hinweis|nachricht|anweisung|achtung|notiz)\w* (?:an|für) (?:alle |"
         r"jede[nrs]? |die |den )?(?:ki|künstliche intelligenz|assistent\w*|sprachmodell\w*|"
         r"chatbot\w*)\b"),
        (0.65, r"\b(?:note|remarque|message|instruction|consigne|attention|avis)s? (?:pour|à|"
         r"aux) (?:l |les |tout |toute |tous |un |une )?(?:assistant|ia|"
         r"intelligence artificielle|modèle|chatbot)"),
        (0.65, r"\b(?:nota|mensaje|instrucci[oó]n|aviso|atenci[oó]n)(?:es)? (?:para|a|al) "
         r"(?:cualquier |el |los |todo |todos los |la )?(?:asistente|ia|inteligencia artificial|"
         r"modelo|chatbot)")),
    *_family("fake_delimiters",
        (0.85, r"<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|"
         r"start_header_id|end_header_id|begin_of_text|end_of_text|end|eos|bos)\|>"),
        (0.8, r"\[/?inst\]|<</?sys>>"),
        (0.65, r"\[/?(?:system|sys|admin|developer)(?: (?:message|prompt|note|override|"
         r"instructions?))?\]|</?(?:system|sys|admin|developer|instructions?|system_prompt|"
         r"system prompt)>"),
        (0.3, r"</s>"),
        (0.7, r"(?:##|\*\*|==|--)[^\S\n]?(?:system|admin|developer|instructions?|"
         r"new instructions?|system override|override)(?: (?:override|message|prompt|note|"
         r"instructions?|update|mode))?[^\S\n]?(?::|##|==|--)"),
        (0.35, rf"{_LINE_START}(?:system|assistant|user|human|ai|bot|developer)[^\S\n]?:"),
        (0.6, rf"{_LINE_START}system ?:[^\n]{{0,120}}?\b(?:tell|say|respond|reply|answer|ignore|"
         r"you (?:must|are|will|should)|the (?:assistant|model|ai) (?:must|should|will))\b"),
        (0.6, rf"{_LINE_START}(?:user|human)[^\S\n]?:[^\n]*\n(?:[^\n]*\n){{0,3}}?{_LINE_START}"
         r"(?:assistant|ai|bot|system)[^\S\n]?:"),
        (0.6, r"</[^\S\n]?(?:document|documents|source|sources|context|search_results|"
         r"search results|retrieved|data|untrusted|user_input|user input|input|knowledge|"
         r"passage|chunk)>"),
        (0.55, r"(?:[-=#*]{3}|\[)[^\S\n]?(?:end|beginning|start) of (?:the )?(?:user(?: s|"
         r"s)? )?(?:question|input|message|document|context|prompt|system prompt|instructions|"
         r"conversation|data)\b")),
    *_family("exfiltration",
        (0.3, r"!\[[^\]\n]{0,200}\]\([^\S\n]?(?:https?:)?//[^\s)?]{1,400}\?"),
        (0.8, r"!\[[^\]\n]{0,200}\]\([^\S\n]?(?:https?:)?//[^\s)?]{1,400}\?[^\s)]{0,400}?"
         r"(?:conversation|conv\b|chat|history|question|secret|token|session|prompt|summary|"
         r"password|passwd|e-?mail|context|api_?key|message|\{|%7b|<|\$\{)"),
        (0.8, rf"{_SEND}[^\n]{{0,80}}?\b(?:https?://|www\.)"),
        (0.8, rf"{_SEND}[^\n]{{0,80}}?[\w.+-]{{1,64}}@[\w-]+\.[a-z]"),
        (0.75, r"\b(?:append|add|include|attach|insert|embed|put|write) ~(?:session|token|"
         r"api key|password|credential|cookie|conversation|chat history|system prompt|"
         r"secret)\w* ~(?:to|in|into|at the end of) (?:your|the|every|each) (?:response|answer|"
         r"reply|output|message)s?\b"),
        (0.55, r"\b(?:include|append|add|insert|embed|render|display|show)\b ~(?:image|link|url|"
         r"markdown|pixel|picture) ~(?:in|to|at the end of|into) (?:your|the|every|each) "
         r"(?:response|answer|reply|output|message|summary)")),
    *_family("tool_hijack",
        (0.45, r"\b(?:call|invoke|run|execute|trigger) (?:the )?(?:tool|function|plugin|"
         r"action) [`'\"]?[a-z][\w.-]*"),
        (0.45, r"\b(?:call|invoke|run|execute|trigger) (?:the )?[`'\"]?[a-z]+_[a-z_]+[`'\"]? "
         r"(?:tool|function|plugin|action)\b"),
        (0.6, r"\b(?:call|invoke|run|execute|trigger) ~(?:delete|remove|drop|wipe|purge|destroy|"
         r"send_email|send_mail|transfer|approve|grant|reset)\w*(?: (?:tool|function))? "
         r"(?:on|for|with) (?:every|all|each|the user s|the users)\b"),
        (0.6, r"\buse (?:your|the) (?:\w+ )?(?:tool|function|plugin) to (?:delete|remove|wipe|"
         r"purge|destroy|send|email|transfer|approve|grant|reset|disable)\b"),
        (0.3, r"\b(?:run|execute) (?:this|the following|these) (?:command|commands|script|code|"
         r"shell command)s? (?:for me|now|immediately|without asking|silently)"),
        (0.35, r"\b(?:curl|wget)\b[^\n|]{1,200}\|[^\S\n]?(?:sudo )?(?:ba|z)?sh\b")),
)  # fmt: skip

# "such as 'ignore previous instructions'": a mention, not a use
_MENTION = re.compile(
    r"(?:such as|like|e\.g\.|for example|phrases?|strings?|words|sentences?|the text)"
    r"[^\S\n]?[:,]?[^\S\n]?[\"'«]$"
)
_MENTION_FAMILIES = frozenset({"ignore_instructions", "reveal_prompt"})


def _index(rules: tuple[_Rule, ...]) -> tuple[dict[str, int], list[int], list[int], list[int]]:
    """Gate groups as bits: each word opens the groups it belongs to; a rule runs when all
    of its groups are open (a group's stems are checked only if its words fail)."""
    word_bits: dict[str, int] = {}
    needs: list[int] = []
    hard: list[int] = []  # groups of words only: no word, no chance
    bases: list[int] = []
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
    return word_bits, needs, hard, bases


_GATE_WORDS, _NEEDS, _HARD, _BASES = _index(_RULES)
_GATE_VOCAB = frozenset(_GATE_WORDS)


_Hit = tuple[float, int, int]  # weight, start, end (in the normalised text)


def _near(a: _Hit, b: _Hit) -> bool:
    return a[1] - b[2] <= _WINDOW and b[1] - a[2] <= _WINDOW


@dataclass
class _Found:
    """One family's evidence: where each of its patterns first matched, and how strongly."""

    hits: dict[int, _Hit]  # pattern index -> hit

    @property
    def anchor(self) -> _Hit:
        return max(self.hits.values(), key=lambda h: (h[0], -h[1]))

    @property
    def score(self) -> float:
        """Noisy-OR of the anchor and the family's other hits near it; a hit overlapping the
        anchor matched the same words and adds nothing."""
        anchor = self.anchor
        miss = 1.0 - anchor[0]
        for hit in self.hits.values():
            overlaps = hit[1] < anchor[2] and anchor[1] < hit[2]
            if hit is not anchor and not overlaps and _near(hit, anchor):
                miss *= 1.0 - hit[0]
        return 1.0 - miss


_NON_WORD = str.maketrans(
    {chr(i): " " for i in range(128) if not (chr(i).isalnum() or chr(i) == "_")}
)


class _Keywords:
    """The words of one text, and which gate groups they open (one bit per group)."""

    def __init__(self, text: str) -> None:
        self.text = text
        # on ASCII text this equals set(_WORD.findall(text)) at about half the cost
        self.words = set(
            text.translate(_NON_WORD).split() if text.isascii() else _WORD.findall(text)
        )
        self.opened = 0
        for word in self.words & _GATE_VOCAB:
            self.opened |= _GATE_WORDS[word]
        self._stems: set[str] | None = None

    def open(self, index: int) -> bool:
        """Whether rule `index` may match: each of its groups has a word, stem or substring."""
        missing = _NEEDS[index] & ~self.opened
        if not missing:
            return True
        if missing & _HARD[index]:
            return False  # a group of words only has none of its words
        base = _BASES[index]
        for n, (_, stems, symbols) in enumerate(_RULES[index].gate):
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


def _scan(
    keywords: _Keywords, stage: Stage, found: dict[str, _Found] | None = None
) -> dict[str, _Found]:
    """Every rule whose gate opens, over one normalised text; evidence accumulates into `found`."""
    found = {} if found is None else found
    norm = keywords.text
    for index, rule in enumerate(_RULES):
        if not keywords.open(index):
            continue
        hit = _first_use(rule, norm)
        if hit is None:
            continue
        match, weight = hit
        weight = min(1.0, weight * _STAGE_FACTOR.get(rule.family, {}).get(stage, 1.0))
        evidence = found.setdefault(rule.family, _Found({}))
        if weight > evidence.hits.get(index, (0.0, 0, 0))[0]:
            evidence.hits[index] = (weight, match.start(), match.end())
    return found


def _scan_text(norm: str, stage: Stage) -> dict[str, _Found]:
    """`_scan` over a normalised text and, if it differs, its leetspeak-folded copy."""
    keywords = _Keywords(norm)
    found = _scan(keywords, stage)
    leet = leet_fold(norm, keywords.words)
    if leet != norm:  # folding keeps offsets, so spans in the copy are spans in `norm`
        _scan(_Keywords(leet), stage, found)
    return found


def _first_use(rule: _Rule, norm: str) -> tuple[re.Match[str], float] | None:
    """The first match of a rule and its weight; a quoted mention counts half, so look on."""
    best: tuple[re.Match[str], float] | None = None
    for n, match in enumerate(rule.pattern.finditer(norm)):
        if n >= 8:
            break
        start = match.start()
        if rule.word_start and start and (norm[start - 1].isalnum() or norm[start - 1] == "_"):
            continue  # inside a word: "casino restrictions" is not "no restrictions"
        if rule.family not in _MENTION_FAMILIES or not _MENTION.search(
            norm, max(0, start - 30), start
        ):
            return match, rule.weight
        if best is None:
            best = match, rule.weight * 0.5
    return best


def find_injection(text: str, stage: Stage = "input", min_score: float = 0.0) -> list[Detection]:
    """Injection and jailbreak findings in `text`, one per rule family, scored in [0, 1].

    Findings below `min_score` are left out before they are located in the text,
    which is the one step that costs more than the scan.
    """
    found = _scan_text(normalize(text), stage)
    anchors = {family: evidence.anchor for family, evidence in found.items()}
    scores = {family: evidence.score for family, evidence in found.items()}
    encoded = _encoded(text, stage)
    if encoded is not None:
        # its span is in `text`, the others' in the normalised text: close enough for nearness
        anchors["encoded_instructions"] = (encoded.score, encoded.start, encoded.end)
        scores["encoded_instructions"] = encoded.score
    combined: dict[str, float] = {}
    for family, score in scores.items():
        near = (s for f, s in scores.items() if f != family and _near(anchors[f], anchors[family]))
        combined[family] = score + (1.0 - score) * _CORROBORATION * max(near, default=0.0)
    kept = {f: found[f].anchor for f in found if combined[f] >= min_score}
    spans = _locate(text, kept)
    detections = [Detection(f, *spans[f], round(combined[f], 4), _MESSAGES[f], _MASK) for f in kept]
    if encoded is not None and combined["encoded_instructions"] >= min_score:
        score = round(combined["encoded_instructions"], 4)
        message = encoded.message
        detections.append(
            Detection("encoded_instructions", encoded.start, encoded.end, score, message, _MASK)
        )
    return sorted(detections, key=lambda d: d.start)


def _locate(text: str, hits: dict[str, _Hit]) -> dict[str, tuple[int, int]]:
    """Spans in `text` for hits in its normalised form; the whole text where unmappable."""
    if not hits:
        return {}
    mapped = normalize_with_offsets(text)
    if mapped is None:
        return dict.fromkeys(hits, (0, len(text)))
    _, origin = mapped
    return {f: (origin[start], origin[end - 1] + 1) for f, (_, start, end) in hits.items()}


@dataclass(frozen=True)
class _Encoded:
    score: float
    start: int
    end: int
    message: str


def _encoded(text: str, stage: Stage) -> _Encoded | None:
    """The strongest hidden payload that itself reads as an injection."""
    best: _Encoded | None = None
    for payload in find_payloads(text):
        found = _scan_text(payload.text, stage)
        inner = max((e.score for e in found.values()), default=0.0)
        if inner < 0.3:
            continue
        score = min(1.0, inner + _ENCODED_BONUS)
        if best is None or score > best.score:
            message = _MESSAGES["encoded_instructions"].format(encoding=payload.encoding)
            best = _Encoded(score, payload.start, payload.end, message)
    return best


class InjectionGuard:
    """Prompt injection in questions and retrieved chunks, decided by the policy's actions.

    Findings scoring below `threshold` are dropped before the policy sees them.
    A blocked or redacted finding is masked as "[INJECTION]"; on a retrieved
    chunk "block" excludes the chunk from the context.
    """

    name = "injection"

    def __init__(self, actions: RuleActions, threshold: float = 0.5) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(
                f"injection threshold {threshold} is outside [0, 1]; use e.g. 0.5 "
                "(lower catches more, with more false positives)"
            )
        self.actions = actions
        self.threshold = threshold

    def scan(self, text: str, context: GuardContext) -> Verdict:
        if not self.actions.runs_on(context.stage):
            return Verdict.allow(text)
        found = find_injection(text, context.stage, min_score=self.threshold)
        return decide(self.name, text, context.stage, found, self.actions)
