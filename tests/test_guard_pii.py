"""The PII guard: what each rule finds and what it leaves alone, redaction, policy, logs."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import pytest

from grounded.domain import GuardContext, Stage, Verdict
from grounded.guards.base import RuleActions
from grounded.guards.pii import (
    PII_RULES,
    PiiGuard,
    RedactingFilter,
    find_pii,
    install_log_redaction,
    redact_pii,
)
from grounded.ports import Guard

# Published test values and invented data; token shapes are assembled so that the
# file itself does not look like a leaked credential to secret scanners.
VISA = "4111 1111 1111 1111"
IBAN_DE = "DE89 3704 0044 0532 0130 00"
OPENAI_KEY = "sk-proj-" + "Xq3v9LmT2pR8sW1k" * 2
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6" * 3
JWT = "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NSJ9." + "kX9q2Lm7Rv4Nw1Pz8Ts5"
BEARER = "Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0"
PEM_BEGIN, PEM_END = "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----"
FULLWIDTH_VISA = "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in VISA)


def rules(text: str) -> set[str]:
    return {d.rule for d in find_pii(text)}


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("write to maria.kowalski@northwind.example.com today", "email"),
        ("cc it-oncall+sev1@ops.example.co.uk", "email"),
        ("call +44 20 7946 0321 now", "phone"),
        ("US hotline +1 (415) 555-0132", "phone"),
        ("direct line (312) 555-0187", "phone"),
        ("mobile 312-555-0166", "phone"),
        ("Rückruf unter 030 1234 5678", "phone"),
        ("standard 01 42 68 53 00", "phone"),
        ("switchboard +41446681800", "phone"),
        (f"card {VISA} exp 12/27", "card"),
        ("Mastercard 5555555555554444", "card"),
        ("Amex 3782 822463 10005", "card"),
        (f"fullwidth {FULLWIDTH_VISA} digits", "card"),
        (f"IBAN {IBAN_DE} EUR", "iban"),
        ("IBAN GB82WEST12345698765432", "iban"),
        ("SSN 212-48-7391", "ssn"),
        ("SSN 212 48 7391 on the paper form", "ssn"),
        ("NI number JT 48 21 93 B", "national_id"),
        ("DNI 12345678Z", "national_id"),
        ("NIE X1234567L", "national_id"),
        ("Steuer-ID 47159832641", "national_id"),
        ("gateway 10.24.8.1 on the LAN", "ip_address"),
        ("allow 192.168.10.15:8443", "ip_address"),
        ("agent 2001:db8:85a3::8a2e:370:7334 is up", "ip_address"),
        (f"OPENAI_API_KEY={OPENAI_KEY}", "api_key"),
        ("key sk-ant-api03-" + "Zr8Kq2Lm5Nx7Pv1W" * 2, "api_key"),
        ("aws_access_key_id AKIA" + "Z7Q3XK2LPM9RTW4N", "api_key"),
        (f"rotate {GITHUB_TOKEN} now", "api_key"),
        ("bot xoxb-" + "2048-4096-Zq8Lm2Kx7Rv4", "api_key"),
        ("maps AIza" + "SyD3x9Lm2Kq7Rv4Nw1Pz8Ts5Yb6Cu0Gh2Jk", "api_key"),
        ("stripe sk_" + "live_51HxQ2LmZ7xR4vN1wP9sT", "api_key"),
        (f"session={JWT}", "api_key"),
        (f"Authorization: {BEARER}", "api_key"),
        (f"{PEM_BEGIN}\nMIIEpAIBAAKCAQEAu1SU1Lf\n{PEM_END}", "private_key"),
        ("password: hunter2", "password"),
        ("DB_PASSWORD=s3cure-Passw0rd", "password"),
        ('{"user": "svc", "password": "Tr0ub4dor&3x"}', "password"),
        ("client_secret = 'f3a9c1e07b5d4e2a8c6b'", "password"),
        ("reset?user=4411&token=a8F3kQ9zL2mX7pR1 expires", "password"),
    ],
)
def test_each_rule_finds_its_kind(text: str, rule: str) -> None:
    assert rules(text) == {rule}


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails Luhn",
        "number 4111111111111112",
        "IBAN DE88 3704 0044 0532 0130 00 has a wrong check digit",
        "IBAN DE89 3704 0044 0532 0130 is too short",
        "IBAN NL20 INGB 0005 5501 4327 is too long and fails mod-97",
        "SSN 000-12-3456",
        "SSN 666-12-3456 and 912-34-5678",
        "SSN 123-00-4567 and 123-45-0000",
        "host 999.1.1.1 and 256.10.10.10",
        "version 1.2.3.4 and section 4.1.2.3",
        "MAC 00:1A:2B:3C:4D:5E and ratio 1:2:3:4:5:6:7:8",
        "C++ names like std::vector, a::b and Cafe::add",
        "meeting on 2026-11-25 at 14:30, or 25.11.2026, or 11/25/2026",
        "upgrade to 3.2.4, then 10.0.19045.3693",
        "price $1,299.00 or EUR 12 500,00 or 1.234.567,89 €",
        "order 20261125-0042, invoice INV-2026-00417, PO 4500012345",
        "from 2019 to 2024 headcount grew 1,250 to 1,410",
        "call extension 4411",
        "NI number QQ 12 34 56 C is the example prefix",
        "DNI 12345678A has the wrong letter",
        "Steuer-ID 47159832642 has the wrong check digit",
        "password policy requires 12 characters",
        "Password: must be at least 12 characters",
        "the token limit is 4096 and max_tokens=512",
        "set password=${DB_PASSWORD} in the template",
        "Reset your password: https://sso.example.com/reset",
        "export BEACON_TOKEN=bcn_live_... before the call",
        "Secret: Yes, this document is internal",
        "send the Bearer token in the header",
        "we use sk-learn for the model",
        "upload logo@2x.png",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0D\n-----END PUBLIC KEY-----",
    ],
)
def test_near_misses_are_not_pii(text: str) -> None:
    assert find_pii(text) == []


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (
            "Mail jane.doe@example.com or call +44 20 7946 0958.",
            "Mail [EMAIL] or call [PHONE].",
        ),
        (f"Pay {VISA} or {IBAN_DE} today", "Pay [CARD] or [IBAN] today"),
        ("to j_smith99@tailspin.example.co.uk; cc me", "to [EMAIL]; cc me"),
        (f"fullwidth {FULLWIDTH_VISA} end", "fullwidth [CARD] end"),
        ("password: hunter2, user: bob", "password: [PASSWORD], user: bob"),
        ('{"password": "correct horse"}', '{"password": "[PASSWORD]"}'),
        (f"Authorization: {BEARER}", "Authorization: Bearer [API_KEY]"),
        ("SSN 212-48-7391, NI JT 48 21 93 B", "SSN [SSN], NI [NATIONAL_ID]"),
        ("from 203.0.113.57 and fe80::1ff:fe23:4567:890a", "from [IP_ADDRESS] and [IP_ADDRESS]"),
        (
            "key:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQ\n"
            "-----END PRIVATE KEY-----\nafter",
            "key:\n[PRIVATE_KEY]\nafter",
        ),
        (
            "cut:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQ\nMzEfYyji\n\nNext part",
            "cut:\n[PRIVATE_KEY]\n\nNext part",
        ),
    ],
)
def test_redaction_masks_exactly_the_values(text: str, redacted: str) -> None:
    assert redact_pii(text) == redacted


def test_redaction_is_idempotent() -> None:
    text = f"password: hunter2, key {OPENAI_KEY}, mail bob@example.com, {BEARER}, {VISA}"
    once = redact_pii(text)
    assert (
        redact_pii(once)
        == once
        == ("password: [PASSWORD], key [API_KEY], mail [EMAIL], Bearer [API_KEY], [CARD]")
    )


def test_spans_index_the_original_text() -> None:
    text = f"Kontakt: anna@example.org, {FULLWIDTH_VISA}."
    found = {d.rule: text[d.start : d.end] for d in find_pii(text)}
    assert found == {"email": "anna@example.org", "card": FULLWIDTH_VISA}
    assert all(d.mask == f"[{d.rule.upper()}]" for d in find_pii(text))


def test_checksums_score_higher_than_shapes() -> None:
    scores = {d.rule: d.score for d in find_pii(f"{VISA} {IBAN_DE} bob@example.com")}
    assert scores["card"] == scores["iban"] == 1.0
    assert 0.6 <= scores["email"] < 1.0


def test_overlaps_keep_the_more_specific_finding() -> None:
    found = find_pii(f"api_key: {OPENAI_KEY}")
    assert [(d.rule, d.message) for d in found] == [("api_key", "OpenAI API key")]
    assert rules(f"Card: {VISA}") == {"card"}  # never also a phone number


def test_rules_argument_limits_the_scan() -> None:
    text = f"bob@example.com {VISA}"
    assert [d.rule for d in find_pii(text, rules=["email"])] == ["email"]
    with pytest.raises(ValueError, match="known rules: email"):
        find_pii(text, rules=["emails"])
    assert set(PII_RULES) >= rules(text)


# ---------------------------------------------------------------- the guard and the policy

SECRETS = ("alice@example.com", VISA, OPENAI_KEY)
TEXT = f"Contact alice@example.com, card {VISA}, key {OPENAI_KEY}."


def scan(actions: RuleActions, stage: Stage = "input", text: str = TEXT) -> Verdict:
    """The guard's verdict, after checking that no reason quotes what it found."""
    verdict = PiiGuard(actions).scan(text, GuardContext(stage=stage))
    for reason in verdict.reasons:
        assert reason.guard == "pii"
        assert not any(secret in reason.message for secret in SECRETS)
    return verdict


def test_pii_guard_is_a_guard() -> None:
    assert isinstance(PiiGuard(RuleActions({"input": "redact"})), Guard)


def test_redact_masks_and_modifies() -> None:
    verdict = scan(RuleActions({"input": "redact"}))
    assert verdict.action == "modify"
    assert verdict.text == "Contact [EMAIL], card [CARD], key [API_KEY]."
    assert [(r.rule, r.action) for r in verdict.reasons] == [
        ("email", "redact"),
        ("card", "redact"),
        ("api_key", "redact"),
    ]
    assert [TEXT[r.start : r.end] for r in verdict.reasons] == list(SECRETS)


def test_flag_allows_with_reasons() -> None:
    verdict = scan(RuleActions({"output": "flag"}), stage="output")
    assert verdict.action == "allow" and verdict.text == TEXT
    assert {r.rule for r in verdict.reasons} == {"email", "card", "api_key"}


def test_block_blocks_and_still_masks() -> None:
    verdict = scan(RuleActions({"input": "block"}))
    assert verdict.blocked
    assert not any(secret in verdict.text for secret in SECRETS)


def test_per_rule_override() -> None:
    actions = RuleActions({"output": "redact"}, rules={"email": "allow", "card": "block"})
    verdict = scan(actions, stage="output")
    assert verdict.blocked
    assert verdict.text == "Contact alice@example.com, card [CARD], key [API_KEY]."
    assert {(r.rule, r.action) for r in verdict.reasons} == {
        ("card", "block"),
        ("api_key", "redact"),
    }


def test_per_stage_rule_override() -> None:
    actions = RuleActions(
        {"input": "redact", "output": "redact"}, rules={"email": {"output": "flag"}}
    )
    assert "[EMAIL]" in scan(actions, stage="input").text
    output = scan(actions, stage="output")
    assert "alice@example.com" in output.text and "[CARD]" in output.text


def test_a_stage_the_guard_does_not_run_on_is_allowed() -> None:
    verdict = scan(RuleActions({"input": "block"}), stage="retrieved")
    assert verdict.action == "allow" and verdict.text == TEXT and verdict.reasons == ()


def test_clean_text_is_allowed_unchanged() -> None:
    text = "The travel policy was updated on 2026-11-25 (version 3.2.4)."
    verdict = scan(RuleActions({"input": "block"}), text=text)
    assert verdict.action == "allow" and verdict.text == text and verdict.reasons == ()


# ---------------------------------------------------------------- logs


@pytest.fixture
def log_output() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A handler on the "grounded" logger writing to a buffer; removed, filters included."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger("grounded")
    root = logging.getLogger()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        for target in (logger, *root.handlers):
            for f in [f for f in target.filters if isinstance(f, RedactingFilter)]:
                target.removeFilter(f)


def test_redacting_filter_masks_message_and_traceback(
    log_output: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log_output
    logger.handlers[-1].addFilter(RedactingFilter())
    logger.info("user %s sent key %s", "alice@example.com", OPENAI_KEY)
    try:
        raise ValueError(f"card {VISA} declined")
    except ValueError:
        logger.exception("payment failed for %s", "bob@example.com")
    out = stream.getvalue()
    assert "user [EMAIL] sent key [API_KEY]" in out
    assert "payment failed for [EMAIL]" in out and "ValueError: card [CARD] declined" in out
    assert not any(secret in out for secret in (*SECRETS, "bob@example.com"))


def test_install_log_redaction_covers_child_loggers_once(
    log_output: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log_output
    install_log_redaction()
    install_log_redaction()
    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
    assert sum(isinstance(f, RedactingFilter) for f in logger.handlers[-1].filters) == 1
    # A child's record reaches the parent's handler without the parent logger's filters.
    logging.getLogger("grounded.guards.test").warning("leaked %s", "alice@example.com")
    assert stream.getvalue() == "grounded.guards.test leaked [EMAIL]\n"


# ---------------------------------------------------------------- no catastrophic backtracking


@pytest.mark.parametrize(
    "unit",
    ["1", "1234 ", "+1 ", "(555) ", "1.2.3.", "a.", "a-", "a@", "ab:", "DE89 ", "password=", "x_"],
)
def test_long_adversarial_input_finishes(unit: str) -> None:
    text = unit * (200_000 // len(unit))
    started = time.perf_counter()
    find_pii(text)
    assert time.perf_counter() - started < 2.0
