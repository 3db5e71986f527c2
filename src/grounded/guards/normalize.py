"""Text normalisation against Unicode tricks, and decoding of hidden payloads.

Rule-based detectors match words; attackers change the characters instead of the
words. `normalize` undoes the cheap tricks so that one set of patterns sees one
spelling:

    NFKC                 fullwidth, mathematical bold, circled letters → ASCII
    invisible removed    zero-width, soft hyphen, bidi controls, tag characters
    homoglyphs folded    Cyrillic/Greek letters that look Latin → ASCII; curly quotes → ' "
    casefold
    letter runs joined   "i g n o r e", "i.g.n.o.r.e" → "ignore" (≥ 3 letters)
    whitespace collapsed each line stripped, blank lines dropped, other runs → " "
                         (line breaks stay: a "System:" at a line start means more)

`normalize_with_offsets` does the same and also returns, for every output
character, the index of the input character it came from, so that a finding can
be located in the original text. It is slower (a Python loop over non-ASCII
text) and only runs when there is a finding to locate.

`leet_fold` turns "1gn0r3" into "ignore" for a matching copy only; it rewrites
a word only when the folded word is one attackers use, so numbers, hashes and
version strings stay as they are (and the copy usually equals the input).

`decoded_payloads` decodes base64 and hex runs, "rot13:"-labelled text and
Unicode tag-character smuggling, returning the decoded texts normalised.
Everything here is linear in the input length, and the common case (plain
text with nothing to fold) takes C-speed string methods only.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import filterfalse

_INVISIBLE = [0x00AD, 0x180E, 0x034F, *range(0x200B, 0x2010), *range(0x202A, 0x202F)]
_INVISIBLE += [*range(0x2060, 0x2065), *range(0x2066, 0x206A), 0xFEFF, *range(0xE0000, 0xE0080)]

_HOMOGLYPHS = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g", "ı": "i", "ɩ": "i",
    "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c",
    "Т": "t", "Х": "x", "У": "y", "І": "i", "Ј": "j", "Ѕ": "s", "Ԛ": "q", "Ԝ": "w", "Ү": "y",
    # Greek
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x", "α": "a", "ο": "o", "ν": "v", "ι": "i",
    "κ": "k", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ε": "e", "ϲ": "c", "ϳ": "j",
    # Armenian
    "օ": "o", "ս": "u", "ո": "n", "հ": "h",
}  # fmt: skip

_QUOTES = {"‘": "'", "’": "'", "‚": "'", "′": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"'}
_TABLE: dict[int, str | None] = {cp: None for cp in _INVISIBLE}
_TABLE.update({ord(k): v for k, v in (_HOMOGLYPHS | _QUOTES).items()})
# `translate` with a dict is slow; most texts contain nothing to fold, and this class says so fast.
_FOLDABLE = re.compile(
    "[" + re.escape("".join(chr(cp) for cp in _TABLE if cp < 0x10000)) + "\U000e0000-\U000e007f]"
)

# Three or more single letters, each followed by one separator: "i g n o r e", "d-i-s".
# Separator and letter classes are disjoint, so matching is linear. The hint is a
# cheap scan that rules the pass out for almost every ordinary text.
_LETTER_RUN = re.compile(r"(?<![^\W\d_])(?:[^\W\d_][ .\-_*·]){2,}[^\W\d_](?![^\W\d_])")
# two searches, each opening with characters `re` can skip to quickly, beat one with a class
_LETTER_HINTS = (
    re.compile(r" [^\W\d_][ .\-_*·][^\W\d_](?:[ .\-_*·]|$)"),
    re.compile(r"[.\-_*·][^\W\d_][ .\-_*·][^\W\d_](?:[ .\-_*·]|$)"),
)
_SEPARATORS = str.maketrans("", "", " .-_*·")
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines splits on
_NON_SPACE = re.compile(r"\S+")

_LEET = str.maketrans("103457", "ioeast")
_LEET_L = str.maketrans("103457", "loeast")  # "1" stands for "l" as often as "i"
_WORD = re.compile(r"\w+")
# words worth un-leeting: the attack vocabulary and the glue words between them
_LEET_WORDS = frozenset([
    "ignore", "ignoring", "disregard", "forget", "override", "bypass", "previous", "prior",
    "above", "earlier", "all", "any", "instructions", "instruction", "rules", "rule",
    "guidelines", "prompt", "prompts", "system", "reveal", "show", "print", "repeat", "tell",
    "output", "hidden", "secret", "initial", "original", "your", "you", "are", "now", "act", "as",
    "pretend", "dan", "do", "anything", "jailbreak", "jailbroken", "developer", "mode", "no",
    "restrictions", "filters", "filter", "unfiltered", "unrestricted", "uncensored", "safety",
    "policy", "the", "and", "me", "with", "without", "have", "has", "is", "it", "to", "of", "in",
    "new", "task", "answer", "respond", "from", "on", "everything", "password", "passwords",
    "credentials", "admin", "confidential", "text", "context", "send", "forward", "leak",
])  # fmt: skip


def normalize(text: str) -> str:
    """The text as the detectors see it (see the module docstring for the steps)."""
    if text.isascii():
        folded = text.lower()  # nothing to compose, remove or fold; lower == casefold here
    else:
        folded = unicodedata.normalize("NFKC", text)
        folded = _fold(folded).casefold()
    if any(hint.search(folded) for hint in _LETTER_HINTS):
        folded = _LETTER_RUN.sub(_join_letters, folded)
    return "\n".join(filter(None, map(" ".join, map(str.split, folded.splitlines()))))


def _fold(text: str) -> str:
    """Remove invisibles, fold homoglyphs. `translate` with a dict costs ~50 ns a character,
    a callback per folded character ~300 ns: a few curly quotes take the callback."""
    hits = len(_FOLDABLE.findall(text))
    if hits == 0:
        return text
    if hits * 6 > len(text) // 10:
        return text.translate(_TABLE)
    return _FOLDABLE.sub(lambda m: _TABLE[ord(m.group())] or "", text)


def normalize_with_offsets(text: str) -> tuple[str, list[int]] | None:
    """`normalize(text)` and the input index of each output character, or None if unmappable.

    None happens when per-character NFKC differs from NFKC of the whole text
    (composing sequences such as "e" + U+0301); callers then locate a finding
    as the whole text.
    """
    if text.isascii():
        chars, origin = text.lower(), list(range(len(text)))
    else:
        pieces: list[str] = []
        origin = []
        for i, char in enumerate(text):
            if char < "\x80":
                pieces.append(char.lower())
                origin.append(i)
                continue
            piece = unicodedata.normalize("NFKC", char).translate(_TABLE).casefold()
            pieces.append(piece)
            origin.extend([i] * len(piece))
        chars = "".join(pieces)
    if any(hint.search(chars) for hint in _LETTER_HINTS):
        chars, origin = _sub_mapped(_LETTER_RUN, chars, origin, _join_letters)
    chars, origin = _collapse_mapped(chars, origin)
    return (chars, origin) if chars == normalize(text) else None


def leet_fold(normalized: str, words: Iterable[str] | None = None) -> str:
    """A matching copy of normalised text with digit leetspeak undone in attack words only.

    `words` are the text's `\\w+` words if the caller has them already. Folding
    maps one character to one, so offsets into the copy are offsets into the
    normalised text. ("@" and "$" for "a" and "s" are not folded.)
    """
    folds: dict[str, str] = {}
    candidates = set(_WORD.findall(normalized)) if words is None else words
    for word in filterfalse(str.isdigit, filterfalse(str.isalpha, candidates)):
        for table in (_LEET, _LEET_L):
            folded = word.translate(table)
            if folded in _LEET_WORDS:
                folds[word] = folded
                break
    if not folds:
        return normalized
    alternatives = "|".join(map(re.escape, sorted(folds, key=len, reverse=True)))
    return re.sub(rf"(?<!\w)(?:{alternatives})(?!\w)", lambda m: folds[m.group()], normalized)


@dataclass(frozen=True)
class Payload:
    """A decoded hidden payload and where its encoded form sits in the input."""

    start: int
    end: int
    encoding: str  # "base64", "hex", "rot13" or "tags"
    text: str  # decoded and normalised


def decoded_payloads(text: str) -> list[str]:
    """The normalised texts hidden in `text` by base64, hex, "rot13:" or tag characters."""
    return [p.text for p in find_payloads(text)]


_B64_RUN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX_RUN = re.compile(r"(?<![0-9a-fA-F])(?:[0-9a-fA-F]{2}){12,}(?![0-9a-fA-F])")
_HEX_ESCAPES = re.compile(r"(?:\\x[0-9a-fA-F]{2}){8,}")
_ROT13 = re.compile(r"\brot[ -]?13\b[ \t]*[:=][ \t]*([^\n]{8,4000})", re.IGNORECASE)
_TAG_RUN = re.compile("[\U000e0020-\U000e007e]{4,}")
_MIN_RUN = 16  # shorter base64 hides too little to matter, and ordinary words reach 15
_MAX_PAYLOADS = 32  # bounds the work an adversarial text full of runs can cause


def find_payloads(text: str) -> list[Payload]:
    """Every decodable hidden payload in `text`, in order of appearance.

    Base64 and hex runs contain no whitespace, so only whitespace-separated
    tokens of 16+ characters are looked at: a C-speed split instead of a regex
    over the whole text. (Hex written as spaced byte pairs is not decoded.)
    """
    found: list[Payload] = []
    cursor = 0
    for token in [t for t in text.split() if len(t) >= _MIN_RUN]:
        # the first occurrence after the last long token is this one: shorter tokens can't hold it
        start = text.find(token, cursor)
        cursor = start + len(token)
        for pattern, decode, encoding in _TOKEN_DECODERS:
            for match in pattern.finditer(token):
                span = (start + match.start(), start + match.end())
                _keep(found, span, encoding, decode(match.group()))
    if "13" in text and ("rot" in text or "ROT" in text or "Rot" in text):
        for match in _ROT13.finditer(text):
            found.append(Payload(match.start(1), match.end(1), "rot13", _rot13(match.group(1))))
    if not text.isascii():
        for match in _TAG_RUN.finditer(text):
            decoded = "".join(chr(ord(c) - 0xE0000) for c in match.group())
            found.append(Payload(match.start(), match.end(), "tags", normalize(decoded)))
    found.sort(key=lambda p: p.start)
    return found[:_MAX_PAYLOADS]


def _keep(found: list[Payload], span: tuple[int, int], encoding: str, text: str | None) -> None:
    if text is not None and len(found) < _MAX_PAYLOADS:
        found.append(Payload(*span, encoding, normalize(text)))


def _from_base64(run: str) -> str | None:
    body = run.rstrip("=")
    if len(body) % 4 == 1:
        return None  # no base64 encoding has this length
    padded = body + "=" * (-len(body) % 4)
    alphabet = "-_" if ("-" in body or "_" in body) else "+/"
    if alphabet == "-_" and ("+" in body or "/" in body):
        return None
    try:
        raw = base64.b64decode(padded, altchars=alphabet.encode(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _as_text(raw)


def _from_hex(run: str) -> str | None:
    digits = re.sub(r"\\x|[ :]", "", run)
    try:
        return _as_text(bytes.fromhex(digits))
    except ValueError:
        return None


def _as_text(raw: bytes) -> str | None:
    """Decoded bytes as text if they read like language: UTF-8, printable, letters, spaces."""
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(decoded) < 8:
        return None
    printable = sum(c.isprintable() or c.isspace() for c in decoded)
    letters = sum(c.isalpha() for c in decoded)
    if printable < 0.95 * len(decoded) or letters < 0.6 * len(decoded) or " " not in decoded:
        return None
    return decoded


def _rot13(text: str) -> str:
    return normalize(codecs.decode(text, "rot13"))


def _join_letters(match: re.Match[str]) -> str:
    return match.group().translate(_SEPARATORS)


def _sub_mapped(
    pattern: re.Pattern[str], text: str, origin: list[int], repl: Callable[[re.Match[str]], str]
) -> tuple[str, list[int]]:
    """`pattern.sub(repl, text)` that carries each character's origin along.

    A replacement's characters all take the origin of the match's first
    character; the end of the match maps to the next kept character.
    """
    out: list[str] = []
    mapped: list[int] = []
    cursor = 0
    for match in pattern.finditer(text):
        start, end = match.span()
        new = repl(match)
        out.append(text[cursor:start])
        mapped.extend(origin[cursor:start])
        out.append(new)
        mapped.extend([origin[start]] * len(new))
        cursor = end
    out.append(text[cursor:])
    mapped.extend(origin[cursor:])
    return "".join(out), mapped


def _collapse_mapped(text: str, origin: list[int]) -> tuple[str, list[int]]:
    """The whitespace step of `normalize` (tokens joined by " ", lines by "\n"), with origins."""
    out: list[str] = []
    mapped: list[int] = []
    previous_end = -1
    for match in _NON_SPACE.finditer(text):
        start, end = match.span()
        if previous_end >= 0:
            gap = text[previous_end:start]
            out.append("\n" if any(c in gap for c in _LINE_BREAKS) else " ")
            mapped.append(origin[previous_end])
        out.append(match.group())
        mapped.extend(origin[start:end])
        previous_end = end
    return "".join(out), mapped


_TOKEN_DECODERS: tuple[tuple[re.Pattern[str], Callable[[str], str | None], str], ...] = (
    (_B64_RUN, _from_base64, "base64"),
    (_HEX_RUN, _from_hex, "hex"),
    (_HEX_ESCAPES, _from_hex, "hex"),
)
