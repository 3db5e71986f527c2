"""PII and secrets: the `pii` guard, `redact_pii` for logs and traces, and a log filter.

Rules (each takes the stage's action unless the policy's `rules:` overrides it):

    email        an address with a dotted domain (not `icon@2x.png`)
    phone        +CC numbers (8–15 digits), or national formats with separators:
                 (555) 123-4567, 555-123-4567, 020 7946 0958, 01 23 45 67 89;
                 not 7-digit local numbers (555-0142): too close to order numbers
    card         payment card, 13–19 digits, IIN 2–6, Luhn valid
    iban         ISO 13616, upper case: per-country length and mod-97 check digits
    ssn          US SSN ddd-dd-dddd (or spaced) outside the never-issued ranges
    national_id  UK National Insurance number (shape), Spanish DNI/NIE (check
                 letter), German tax id / Steuer-ID (digit pattern and check digit)
    ip_address   IPv4 (octets ≤ 255, not after "version") and IPv6 (parsed)
    api_key      well-known token shapes (OpenAI, Anthropic, AWS, GitHub, Slack,
                 Google, Stripe, JWT) and `Bearer <token>`
    private_key  PEM private key blocks; a block cut off by a chunk boundary is
                 masked through its last base64 line
    password     the value after a password/passwd/pwd/passphrase/secret/token/api_key
                 label and `:` or `=`; the label stays readable. Prose ("the password
                 is …", "Password: must be 12 characters") is left alone.

Scores: 1.0 when a checksum validated the match, 0.7–0.95 for shape-only rules.
Overlapping findings keep the higher score, then the more specific rule, so a
card number is never also a phone number.

Not detected: person names and postal addresses. They need an NER model, none is
installed offline, and guessing them from capitalisation is too noisy to redact on.

Unicode: `\\d` matches any decimal digit and checksums convert with `int()`, so
fullwidth digits ("４１１１ …") are found, at spans of the original text. Zero-width
or other invisible characters inside a value hide it from these rules.
"""

from __future__ import annotations

import bisect
import ipaddress
import logging
import re
from collections.abc import Callable, Collection, Iterator
from functools import cached_property

from grounded.domain import GuardContext, Verdict
from grounded.guards.base import Detection, RuleActions, decide, redact_spans

# Ties on score go to the earlier (more specific) rule.
_SPECIFICITY = "private_key api_key card iban national_id ssn password email ip_address phone"
_PRIORITY = {rule: i for i, rule in enumerate(_SPECIFICITY.split())}

# Speed: a pattern that starts with a literal or a character class lets the regex
# engine skip ahead to candidates instead of trying every position, so the patterns
# run over whole texts (IBAN, NINO, keys, passwords) check their left context after
# the first character. The others run only where a cheap test says they may match.

# From each "@": the domain forwards by regex, the local part backwards by hand.
_EMAIL_DOMAIN = re.compile(r"@(?:[A-Za-z0-9-]{1,63}\.)+([A-Za-z]{2,24})(?![\w-])")
_FILE_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "pdf"})

# Numeric rules look only at windows around runs of digits and separators.
_NUMERIC_RUN = re.compile(r"\d[\d ().\/+-]*")
_SHORTEST_NUMBER = 7  # "1.2.3.4"; every other numeric rule needs 7+ digits
# Every repetition consumes exactly one digit, so no run can be split two ways.
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d(?:[ .-]?(?:\(\d{1,4}\)|\d))+")
_PHONE_NATIONAL = re.compile(
    r"(?<![\w+.-])(?<!\d[ /-])(?:"  # not the tail of a longer run of digit groups
    r"(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}"  # North America
    r"|\(?0[1-9]\d{0,3}\)?[ /-]\d{3,4}[ -]?\d{3,4}"  # trunk prefix 0: 020 7946 0958
    r"|0[1-9](?:([ .-])\d{2})(?:\1\d{2}){3}"  # pairs: 01 23 45 67 89
    r")(?![\w-]|[.,/ -]\d)"
)
_CARD = re.compile(
    r"(?<![\w.,+-])(?<!\d[ -])(?:\d{13,19}"
    r"|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?"
    r"|\d{4}([ -])\d{6}\2\d{4,5})(?!\w)"
)
_SSN = re.compile(r"(?<![\w-])(?<!\d )(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-]|\.\d| \d)")
_DNI = re.compile(r"(?<![\w-])(?:([XYZ])-?)?(\d{7,8})-?([A-Z])(?!\w)")
_STEUER_ID = re.compile(r"(?<![\w.,/+-])(?<!\d )\d{2} ?\d{3} ?\d{3} ?\d{3}(?!\w|[.,/-]\d)")
# "version 1.2.3.4" and "section 4.1.2.3" are dotted numbers, not hosts.
_NOT_IP_CONTEXT = ("version", "release", "build", "firmware", "section", "clause", "chapter", "§")
_IPV4 = re.compile(r"(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?!\w|\.\d)")

_IBAN = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z]\d\d(?: ?[A-Z\d]){11,30}")
_NINO = re.compile(
    r"[A-CEGHJ-PR-TW-Z](?<!\w[A-Z])[A-CEGHJ-NPR-TW-Z] ?\d\d ?\d\d ?\d\d ?[A-D](?!\w)"
)
_NINO_UNUSED = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})
_IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4})(?![\w:])"
)
_API_KEY = re.compile(
    r"sk-ant-[\w-]{20,}|sk-(?:proj-|svcacct-|admin-)?[\w-]{20,}"
    r"|AKIA[A-Z0-9]{16}(?![A-Za-z0-9])|ASIA[A-Z0-9]{16}(?![A-Za-z0-9])"
    r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,}|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|AIza[\w-]{35}(?![\w-])|sk_(?:live|test)_[A-Za-z0-9]{16,}|rk_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}",
    re.ASCII,
)
_KEY_KINDS = (  # by prefix; the first that matches names the key
    ("sk-ant-", "Anthropic API key"),
    ("sk-", "OpenAI API key"),
    ("AIza", "Google API key"),
    ("A", "AWS access key id"),
    ("g", "GitHub token"),
    ("xox", "Slack token"),
    ("eyJ", "JSON Web Token"),
    ("", "Stripe secret key"),
)
_BEARER = re.compile(r"[Bb]earer[ \t]+([A-Za-z0-9._~+/-]{20,}=*)")
_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
# Each repetition starts at a newline, so the body scan is linear.
_PEM_BODY = re.compile(
    r"(?:\r?\n[ \t]*(?:[A-Za-z0-9+/=]{8,}[ \t]*(?=\r?\n|\Z)"
    r"|(?:Proc-Type|DEK-Info|Comment):[^\n]*)?)*"
)
# Matched against the lower-cased text: IGNORECASE would defeat the skip-ahead.
_PASSWORD_LABELS = ("pass", "pwd", "secret", "token", "key")
_PASSWORD = re.compile(
    r"(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key)"
    r"(?:[_-](?:access[_-])?key)?[\"']?[ \t]*(?::=|=>|:|=)[ \t]*"
    r"(?:\"(?P<dq>[^\"\n]{1,200})\"|'(?P<sq>[^'\n]{1,200})'"
    r"|(?P<bare>(?:[^\s\"',;&]|&(?![\w.-]+=)){1,200}))"  # "&" ends a value only in a query
)
# Values that say something about a password rather than being one.
_PLACEHOLDERS = "none null nil true false yes no required optional redacted hidden masked unset"
_NOT_SECRETS = frozenset(_PLACEHOLDERS.split() + ["empty", "n/a", "tbd", "see", "reset"])


class _Scan:
    """One text and what several rules derive from it, each computed once on first use."""

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def windows(self) -> list[tuple[int, int]]:
        """Where the numeric rules look: runs of digits and separators, merged and widened.

        A match may begin at "+", "(" or an NIE letter before the run, and its look-ahead
        needs two characters after it: the engine sees nothing past a window's end.
        """
        merged: list[tuple[int, int]] = []
        for m in _NUMERIC_RUN.finditer(self.text):
            if m.end() - m.start() < _SHORTEST_NUMBER:
                continue
            lo, hi = max(0, m.start() - 3), min(len(self.text), m.end() + 3)
            if merged and lo <= merged[-1][1]:
                lo = merged.pop()[0]
            merged.append((lo, hi))
        return merged

    def numeric(self, regex: re.Pattern[str]) -> Iterator[re.Match[str]]:
        for lo, hi in self.windows:
            yield from regex.finditer(self.text, lo, hi)

    @cached_property
    def lowered(self) -> str:
        """The text lower-cased character by character, so that offsets still match."""
        lowered = self.text.lower()
        if len(lowered) == len(self.text):
            return lowered
        return "".join(c if len(c.lower()) > 1 else c.lower() for c in self.text)  # "İ" → "i̇"

    def starts_word(self, pos: int) -> bool:
        return pos == 0 or not (self.text[pos - 1].isalnum() or self.text[pos - 1] in "_-")


def _digits(s: str) -> list[int]:
    return [int(c) for c in s if c.isdecimal()]


def _luhn(digits: list[int]) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _email(scan: _Scan) -> Iterator[Detection]:
    text = scan.text
    if "@" not in text:
        return
    for m in _EMAIL_DOMAIN.finditer(text):
        start = m.start()
        while start > 0 and m.start() - start <= 64 and _in_local_part(text[start - 1]):
            start -= 1
        if 0 < m.start() - start <= 64 and m[1].lower() not in _FILE_TLDS:
            yield Detection("email", start, m.end(), 0.9, "e-mail address", "[EMAIL]")


def _in_local_part(char: str) -> bool:
    return char.isalnum() or char in "_.%+-"


_PHONE_KINDS = (
    (_PHONE_INTL, 8, 0.85, "international phone number"),  # country code + at least 7
    (_PHONE_NATIONAL, 7, 0.7, "phone number"),
)


def _phone(scan: _Scan) -> Iterator[Detection]:
    for regex, fewest, score, message in _PHONE_KINDS:
        for m in scan.numeric(regex):
            if fewest <= len(_digits(m[0])) <= 15:
                yield Detection("phone", m.start(), m.end(), score, message, "[PHONE]")


def _card(scan: _Scan) -> Iterator[Detection]:
    for m in scan.numeric(_CARD):
        digits = _digits(m[0])
        if 13 <= len(digits) <= 19 and 2 <= digits[0] <= 6 and _luhn(digits):
            message = "payment card number (Luhn valid)"
            yield Detection("card", m.start(), m.end(), 1.0, message, "[CARD]")


# ISO 13616 registry lengths; a country missing here must pass mod-97 over the whole match.
_IBAN_REGISTRY = (
    "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DK18 "
    "DO28 EE20 EG29 ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 "
    "IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 MC27 MD24 ME22 MK19 MR27 "
    "MT31 MU30 NL18 NO15 PK24 PL28 PS29 PT25 QA29 RO24 RS22 SA24 SC31 SE24 SI19 SK24 SM27 "
    "ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20"
)
_IBAN_LENGTHS = {entry[:2]: int(entry[2:]) for entry in _IBAN_REGISTRY.split()}


def _iban_valid(compact: str) -> bool:
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c)) if c.isdecimal() else str(ord(c) - 55) for c in moved)
    return int(number) % 97 == 1


def _iban(scan: _Scan) -> Iterator[Detection]:
    text = scan.text
    for m in _IBAN.finditer(text):
        positions = [m.start() + i for i, c in enumerate(m[0]) if c != " "]
        length = _IBAN_LENGTHS.get(m[0][:2], len(positions))
        if len(positions) < length:
            continue
        end = positions[length - 1] + 1
        if end < len(text) and text[end].isalnum():
            continue  # the number runs on without a group break: not this IBAN
        compact = "".join(text[p] for p in positions[:length])
        if _iban_valid(compact):
            yield Detection("iban", m.start(), end, 1.0, "IBAN (mod-97 valid)", "[IBAN]")


def _ssn(scan: _Scan) -> Iterator[Detection]:
    for m in scan.numeric(_SSN):
        area, group, serial = int(m[1]), int(m[3]), int(m[4])
        if area not in (0, 666) and area < 900 and group and serial:
            yield Detection("ssn", m.start(), m.end(), 0.85, "US social security number", "[SSN]")


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _dni_valid(nie_prefix: str | None, number: str, letter: str) -> bool:
    """DNI: 8 digits; NIE: X/Y/Z (read as 0/1/2) and 7 digits; the letter is the number mod 23."""
    if len(number) != (7 if nie_prefix else 8):
        return False
    value = int(number) + (10_000_000 * "XYZ".index(nie_prefix) if nie_prefix else 0)
    return _DNI_LETTERS[value % 23] == letter


def _steuer_id_valid(digits: list[int]) -> bool:
    counts = sorted((digits[:10].count(d) for d in set(digits[:10])), reverse=True)
    if digits[0] == 0 or counts[0] not in (2, 3) or (len(counts) > 1 and counts[1] > 1):
        return False  # exactly one digit repeats in the first ten
    product = 10
    for d in digits[:10]:
        total = (d + product) % 10 or 10
        product = total * 2 % 11
    return (11 - product) % 10 == digits[10]


def _national_id(scan: _Scan) -> Iterator[Detection]:
    for m in _NINO.finditer(scan.text):
        if m[0][:2] in _NINO_UNUSED:
            continue  # prefixes HMRC never issues
        message = "UK National Insurance number"
        yield Detection("national_id", m.start(), m.end(), 0.85, message, "[NATIONAL_ID]")
    for m in scan.numeric(_DNI):
        if _dni_valid(*m.groups()):
            message = "Spanish DNI/NIE (check letter valid)"
            yield Detection("national_id", m.start(), m.end(), 1.0, message, "[NATIONAL_ID]")
    for m in scan.numeric(_STEUER_ID):
        if _steuer_id_valid(_digits(m[0])):
            message = "German tax id (check digit valid)"
            yield Detection("national_id", m.start(), m.end(), 1.0, message, "[NATIONAL_ID]")


def _ip_address(scan: _Scan) -> Iterator[Detection]:
    text = scan.text
    for m in scan.numeric(_IPV4):
        octets = m.groups()
        if any(int(o) > 255 or (len(o) > 1 and o[0] == "0") for o in octets):
            continue
        before = text[max(0, m.start() - 12) : m.start()].lower()
        if not any(word in before for word in _NOT_IP_CONTEXT):
            yield Detection("ip_address", m.start(), m.end(), 0.9, "IPv4 address", "[IP_ADDRESS]")
    if "::" not in text and text.count(":") < 7:
        return
    for m in _IPV6.finditer(text):
        if _plausible_ipv6(m[0]):
            yield Detection("ip_address", m.start(), m.end(), 0.95, "IPv6 address", "[IP_ADDRESS]")


def _plausible_ipv6(candidate: str) -> bool:
    """Parses, and has a digit and a 3-4 character group: not "a::b" (C++) or "1:2:3:4:5:6:7:8"."""
    if not any(c.isdigit() for c in candidate) or max(map(len, candidate.split(":"))) < 3:
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _api_key(scan: _Scan) -> Iterator[Detection]:
    for m in _API_KEY.finditer(scan.text):
        if scan.starts_word(m.start()):
            kind = next(kind for prefix, kind in _KEY_KINDS if m[0].startswith(prefix))
            yield Detection("api_key", m.start(), m.end(), 0.95, kind, "[API_KEY]")
    for m in _BEARER.finditer(scan.text):
        if scan.starts_word(m.start()):
            yield Detection("api_key", m.start(1), m.end(1), 0.85, "bearer token", "[API_KEY]")


def _private_key(scan: _Scan) -> Iterator[Detection]:
    text = scan.text
    if "PRIVATE KEY" not in text:
        return
    pos, no_end = 0, False
    while begin := _PEM_BEGIN.search(text, pos):
        end = None if no_end else _PEM_END.search(text, begin.end())
        if end is not None:
            pos = end.end()
        else:
            no_end = True  # later BEGINs have no END either: never scan to the end again
            body = _PEM_BODY.match(text, begin.end())
            pos = begin.end() + len(body[0].rstrip() if body else "")
        message = "PEM private key block" + ("" if end else " (cut off)")
        yield Detection("private_key", begin.start(), pos, 1.0, message, "[PRIVATE_KEY]")


def _password(scan: _Scan) -> Iterator[Detection]:
    text, lowered = scan.text, scan.lowered
    if not any(label in lowered for label in _PASSWORD_LABELS):
        return
    for m in _PASSWORD.finditer(lowered):  # same offsets as `text`
        group = "dq" if m["dq"] is not None else "sq" if m["sq"] is not None else "bare"
        raw, start = m[group], m.start(group)
        value = raw.rstrip(".)]}>") if group == "bare" else raw
        after = text[start + len(value) : start + len(value) + 2]
        if not raw.endswith(("...", "…")) and _looks_secret(value, group == "bare", after):
            message = "secret value after a password label"
            yield Detection("password", start, start + len(value), 0.8, message, "[PASSWORD]")


def _looks_secret(value: str, bare: bool, after: str) -> bool:
    """False for placeholders, masks, references ("${DB_PASSWORD}", a path, a URL) and prose."""
    if value in _NOT_SECRETS or value[:1] in "$%{<[*/~" or "://" in value:
        return False
    # "Password: must be 12 characters" is prose about a password, not one.
    prose = value.isalpha() and after[:1] == " " and after[1:].isalpha()
    return not bare or (len(value) >= 4 and not prose)


_DETECTORS: dict[str, Callable[[_Scan], Iterator[Detection]]] = {
    "email": _email,
    "phone": _phone,
    "card": _card,
    "iban": _iban,
    "ssn": _ssn,
    "national_id": _national_id,
    "ip_address": _ip_address,
    "api_key": _api_key,
    "private_key": _private_key,
    "password": _password,
}
PII_RULES: tuple[str, ...] = tuple(_DETECTORS)


def find_pii(text: str, rules: Collection[str] | None = None) -> list[Detection]:
    """Every PII finding in `text`, by start; of overlapping findings only the best is kept.

    `rules` limits the scan to those rule names (default: all of `PII_RULES`).
    """
    wanted = PII_RULES if rules is None else tuple(rules)
    unknown = sorted(set(wanted) - set(PII_RULES))
    if unknown:
        raise ValueError(f"unknown PII rule(s) {unknown}; known rules: {', '.join(PII_RULES)}")
    scan = _Scan(text)
    return _resolve([d for rule in wanted for d in _DETECTORS[rule](scan)])


def _resolve(found: list[Detection]) -> list[Detection]:
    """Greedy by rank: a finding is kept unless it overlaps a better one already kept."""
    kept: list[Detection] = []
    starts: list[int] = []
    for d in sorted(found, key=lambda d: (-d.score, _PRIORITY[d.rule], d.start - d.end)):
        i = bisect.bisect_right(starts, d.start)
        if (i and kept[i - 1].end > d.start) or (i < len(kept) and kept[i].start < d.end):
            continue
        starts.insert(i, d.start)
        kept.insert(i, d)
    return kept


def redact_pii(text: str) -> str:
    """`text` with every rule's findings masked ("[EMAIL]", "[CARD]", …), for logs and traces."""
    return redact_spans(text, find_pii(text))


class PiiGuard:
    """Finds PII and applies the policy: flag, redact (mask), or block, per stage and rule."""

    name = "pii"

    def __init__(self, actions: RuleActions) -> None:
        self.actions = actions

    def scan(self, text: str, context: GuardContext) -> Verdict:
        if not self.actions.runs_on(context.stage):
            return Verdict.allow(text)
        return decide(self.name, text, context.stage, find_pii(text), self.actions)


class RedactingFilter(logging.Filter):
    """Masks PII in a record's formatted message, traceback and stack before any handler sees it.

    The message is rendered once (`msg % args`) and stored back with empty `args`,
    so the handler's formatter prints the redacted text. The traceback is formatted
    here and cached in `exc_text`, which `logging.Formatter` uses instead of
    formatting `exc_info` again.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a broken format string: let logging report it as usual
        record.msg, record.args = redact_pii(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_pii(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_pii(record.stack_info)
        return True


def install_log_redaction(logger_name: str = "grounded") -> None:
    """Attach a `RedactingFilter` to the `logger_name` logger and to the handlers of it and root.

    Why handlers too: a filter on a logger only sees records created by that exact
    logger. A record logged on "grounded.guards" propagates to the handlers of
    "grounded" and of root without passing the "grounded" logger's filters. A
    handler's filters see every record it emits, from child loggers and third-party
    libraries alike. Handlers added after this call are not covered: call it again
    once logging is configured. Calling it twice adds nothing.
    """
    logger = logging.getLogger(logger_name)
    targets: list[logging.Filterer] = [logger, *logger.handlers, *logging.getLogger().handlers]
    for target in targets:
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())
