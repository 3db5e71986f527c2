"""Domain types that cross module boundaries.

Frozen dataclasses: cheap to build in hot loops (chunking, search results),
hashable, and impossible to mutate by accident between stages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

HEADING_SEPARATOR = " › "


def _clean(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({v.strip() for v in values if v and v.strip()}))


def context_path(title: str, heading_path: tuple[str, ...]) -> tuple[str, ...]:
    """Title then headings, without repeating a title that is also the top heading."""
    if heading_path and heading_path[0].casefold() == title.casefold():
        return heading_path
    return (title, *heading_path) if title else heading_path


@dataclass(frozen=True)
class Principal:
    """Who is asking: a tenant, optionally a user, and the user's groups."""

    tenant: str
    user: str | None = None
    groups: frozenset[str] = frozenset()

    @classmethod
    def of(cls, tenant: str, user: str | None = None, groups: Iterable[str] = ()) -> Principal:
        return cls(tenant=tenant, user=user or None, groups=frozenset(_clean(groups)))


@dataclass(frozen=True)
class Acl:
    """Who may read a document.

    A document belongs to exactly one tenant. With both allow lists empty the
    whole tenant may read it; otherwise a principal of that tenant may read it
    when their user is in `allow_users` or one of their groups is in `allow_groups`.
    """

    tenant: str
    allow_users: tuple[str, ...] = ()
    allow_groups: tuple[str, ...] = ()

    @classmethod
    def of(cls, tenant: str, users: Iterable[str] = (), groups: Iterable[str] = ()) -> Acl:
        return cls(tenant=tenant, allow_users=_clean(users), allow_groups=_clean(groups))

    @property
    def is_open(self) -> bool:
        return not self.allow_users and not self.allow_groups

    def permits(self, principal: Principal) -> bool:
        """Reference semantics; the store implements the same rule in its queries."""
        if principal.tenant != self.tenant:
            return False
        if self.is_open:
            return True
        if principal.user is not None and principal.user in self.allow_users:
            return True
        return bool(principal.groups.intersection(self.allow_groups))

    def key(self) -> str:
        """A stable identity for this ACL, used to share one ACL row among documents."""
        raw = "\x1f".join(
            [self.tenant, "\x1e".join(self.allow_users), "\x1e".join(self.allow_groups)]
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


class BlockKind(StrEnum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST_ITEM = "list_item"
    TABLE = "table"
    CODE = "code"


@dataclass(frozen=True)
class Block:
    """A structural unit of a parsed document.

    `start`/`end` are character offsets into `ParsedDocument.text`, so that
    `text[start:end]` is exactly the block's text. Table blocks hold one row
    per line, which lets the chunker split a long table between rows.
    """

    kind: BlockKind
    start: int
    end: int
    level: int = 0  # heading level (1 = top); 0 for non-headings
    page: int | None = None  # 1-based page number where the format has pages


@dataclass(frozen=True)
class ParsedDocument:
    """What a loader produces: normalised text, its structure, and metadata."""

    text: str
    blocks: tuple[Block, ...]
    title: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AclOverride:
    """ACL fields given by a document itself (front matter, sidecar, JSONL record)."""

    tenant: str | None = None
    allow_users: tuple[str, ...] | None = None
    allow_groups: tuple[str, ...] | None = None

    def apply(self, base: Acl) -> Acl:
        return Acl.of(
            self.tenant or base.tenant,
            base.allow_users if self.allow_users is None else self.allow_users,
            base.allow_groups if self.allow_groups is None else self.allow_groups,
        )


@dataclass(frozen=True)
class Document:
    """A document as stored: identity, provenance, ACL and content hash."""

    doc_id: str
    collection: str
    source_uri: str
    title: str
    content_hash: str
    acl: Acl
    metadata: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""

    @property
    def key(self) -> str:
        """Unique across collections: `collection:doc_id`."""
        return f"{self.collection}:{self.doc_id}"


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it has an id: a span of the document text plus context."""

    start: int
    end: int
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    token_count: int = 0


@dataclass(frozen=True)
class Chunk:
    """A stored chunk. `text` equals the document text between `start` and `end`."""

    chunk_id: str
    doc_id: str
    ordinal: int
    text: str
    start: int
    end: int
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    token_count: int = 0

    @property
    def heading(self) -> str:
        return HEADING_SEPARATOR.join(self.heading_path)


@dataclass(frozen=True)
class SearchFilters:
    """Metadata filters applied inside the store query, alongside the ACL filter."""

    collections: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """One ranked chunk from a single retriever (keyword or dense).

    `chunk_id` is the store's row handle, valid for `SearchIndex.fetch`.
    """

    chunk_id: int
    score: float
    rank: int  # 1-based


@dataclass(frozen=True)
class SearchResult:
    """A fused, ACL-filtered search result with everything `--explain` shows."""

    chunk: Chunk
    document: Document
    score: float
    rank: int
    bm25_rank: int | None = None
    bm25_score: float | None = None
    dense_rank: int | None = None
    dense_score: float | None = None
    rerank_score: float | None = None


# ---------------------------------------------------------------- chat (LLM gateway)

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """A function call requested by the model; `arguments` is the JSON text it produced."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call; `parameters` is its JSON Schema."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


@dataclass(frozen=True)
class Message:
    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # on role "tool": the call this answers

    @classmethod
    def system(cls, content: str) -> Message:
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str, tool_calls: tuple[ToolCall, ...] = ()) -> Message:
        return cls("assistant", content, tool_calls)

    @classmethod
    def tool(cls, call_id: str, content: str) -> Message:
        return cls("tool", content, tool_call_id=call_id)


@dataclass(frozen=True)
class SourceText:
    """A passage given to the model as data (the extractive provider answers from these)."""

    id: str
    text: str
    title: str = ""


@dataclass(frozen=True)
class ChatRequest:
    """One call to a chat model. Everything that changes the answer is in here.

    `cache_scope` decides who may share a cached answer: the caller passes one that
    separates principals who could see different documents (None = never cached).
    `task` and `needs` are read by the router; they are not sent to the provider.
    """

    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str | None = None  # None/"auto", "none", "required", or a tool name
    json_schema: Mapping[str, Any] | None = None
    schema_name: str = "output"
    sources: tuple[SourceText, ...] = ()
    task: str | None = None
    cache_scope: str | None = None

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("a chat request needs at least one message")

    @classmethod
    def of(cls, prompt: str, *, system: str | None = None, **kwargs: Any) -> ChatRequest:
        messages = (Message.system(system),) if system else ()
        return cls((*messages, Message.user(prompt)), **kwargs)

    @property
    def needs(self) -> frozenset[str]:
        """Capabilities a model must have to serve this request."""
        out = set()
        if self.tools:
            out.add("tools")
        if self.json_schema is not None:
            out.add("json_schema")
        return frozenset(out)

    def params(self) -> dict[str, Any]:
        """Generation parameters, for cache keys and traces."""
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
            "seed": self.seed,
            "tool_choice": self.tool_choice,
            "schema_name": self.schema_name if self.json_schema is not None else None,
        }


@dataclass(frozen=True)
class Capabilities:
    streaming: bool = True
    tools: bool = False
    json_schema: bool = False
    max_context: int | None = None  # tokens; None = unknown

    def supports(self, needs: Iterable[str]) -> bool:
        return all(getattr(self, need, False) for need in needs)

    def missing(self, needs: Iterable[str]) -> list[str]:
        """The needs this model lacks, sorted (for messages that name them)."""
        return sorted(need for need in needs if not getattr(self, need, False))


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False  # True when counted by our tokenizer, not reported by the provider

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.estimated or other.estimated,
        )


AttemptOutcome = Literal["ok", "error", "skipped"]


@dataclass(frozen=True)
class Attempt:
    """One try at one model: what happened and how long it took."""

    model: str
    outcome: AttemptOutcome
    error: str | None = None  # an error kind, e.g. "rate_limited", "timeout", "circuit_open"
    status: int | None = None
    latency_ms: float = 0.0


@dataclass(frozen=True)
class ChatResponse:
    """A model's answer with its accounting. `model` is the configured name that answered."""

    text: str
    model: str
    finish_reason: str = "stop"
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None  # None from a provider = not reported; metering estimates it
    cost_usd: float | None = None  # None = no price configured for this model
    latency_ms: float = 0.0
    attempts: tuple[Attempt, ...] = ()
    cached: bool = False
    provider_model: str = ""  # the model id the provider reported
    output: Any = None  # the validated object, for structured output


@dataclass(frozen=True)
class StreamEvent:
    """A piece of a streamed answer; the last event carries the whole `response`."""

    delta: str = ""
    response: ChatResponse | None = None


# ---------------------------------------------------------------- guards

# Where a guard runs: the user's question, each retrieved chunk, the model's answer,
# and "external": the prompt about to leave for a model marked `external` (PII only).
Stage = Literal["input", "retrieved", "output", "external"]
STAGES: tuple[Stage, ...] = ("input", "retrieved", "output", "external")
# What a policy does about one finding. "block" on a retrieved chunk excludes that
# chunk from the context; on input or output it blocks the request.
RuleAction = Literal["allow", "flag", "redact", "block"]
VerdictAction = Literal["allow", "modify", "block"]


@dataclass(frozen=True)
class GuardContext:
    """What a guard may need besides the text. The canary and system prompt are for `leak`."""

    stage: Stage
    canary: str | None = None
    system_prompt: str | None = None


@dataclass(frozen=True)
class Reason:
    """One finding and what the policy did about it.

    `message` explains the finding without quoting it: a detected e-mail address or
    API key must not travel further in a reason than it would in the redacted text.
    `start`/`end` locate the finding in the text the guard scanned (-1 = not a span).
    """

    guard: str
    rule: str
    score: float
    action: RuleAction
    message: str = ""
    start: int = -1
    end: int = -1


@dataclass(frozen=True)
class Verdict:
    """A guard's decision on one text: allow it, allow it modified (redacted), or block it."""

    action: VerdictAction
    text: str
    reasons: tuple[Reason, ...] = ()

    @classmethod
    def allow(cls, text: str) -> Verdict:
        return cls("allow", text)

    @property
    def blocked(self) -> bool:
        return self.action == "block"


# ---------------------------------------------------------------- grounded answers

AnswerStatus = Literal["answered", "answered_extractive", "refused", "blocked"]


@dataclass(frozen=True)
class ContextSource:
    """One numbered source in the prompt: a span of one document, possibly several chunks merged."""

    id: str  # the citation marker without brackets, e.g. "S1"
    document: Document
    chunk_ids: tuple[str, ...]
    text: str
    start: int  # character offsets in the document text
    end: int
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    score: float = 0.0


@dataclass(frozen=True)
class Citation:
    """A cited source with the span of it that supports the sentence(s) citing it."""

    marker: str
    source: ContextSource
    quote: str  # the supporting span, verbatim from the document
    start: int  # character offsets of `quote` in the document text
    end: int


@dataclass(frozen=True)
class SentenceCheck:
    """The verifier's judgement of one answer sentence."""

    sentence: str
    supported: bool
    citations: tuple[str, ...]  # valid markers cited by the sentence
    supported_by: str | None  # the marker whose text supports it, if any
    reason: str  # why (un)supported, e.g. "number 12 not in S2"
    factual: bool = True
    lexical: float = 0.0  # share of the sentence's content terms found in the cited text
    semantic: float | None = None  # cosine similarity to the best cited sentence
