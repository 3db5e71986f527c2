"""Prompt templates rendered in Jinja2's immutable sandbox.

A template may read the variables it is given and their public attributes, loop,
branch and use the filters below. It may not reach Python internals (anything
starting with `_`), call methods that mutate lists or dicts, or use a variable it
did not declare. Literal `_` access is refused when the file loads; what only shows
at render time (`"{0.__class__}".format(x)`, `x|attr(name)`) is refused by the
sandbox and reported as a ConfigError naming the prompt.

The sandbox guards Python internals, not CPU or memory: a template can still loop
for a long time. Prompt files are configuration, written by whoever runs grounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, field_validator

from grounded.errors import ConfigError, InvalidRequest

TEMPLATE_FIELDS = ("system", "user")

# Zero-width characters a forged tag could hide between "<" and its name.
_INVISIBLE = r"[\s\u200b\u200c\u200d\u2060\ufeff]*"
DATA_LT = "\u2039"  # ‹ SINGLE LEFT-POINTING ANGLE QUOTATION MARK


_TAG_OPENING = re.compile(f"<(?={_INVISIBLE}/?{_INVISIBLE}[^\\W\\d])")


def data(value: Any) -> str:
    """Text to place between delimiters such as `<source>...</source>`, unable to
    close them or to forge new ones.

    Every `<` that starts something tag-like becomes `‹` (U+2039): a `<` followed by a
    letter or `_`, or by `/` and one, with any whitespace or zero-width characters in
    between. So `</source>` → `‹/source>`, `<SOURCE id="9">` → `‹SOURCE id="9">`,
    `< / sentence>` → `‹ / sentence>`, `List<String>` → `List‹String>` and `a < b` →
    `a ‹ b` (still readable). Every other character is kept: `x < 3`, `<=`, `<-` and
    `->` are unchanged. Non-strings are converted with str(); applying it twice changes
    nothing more.
    """
    return _TAG_OPENING.sub(DATA_LT, str(value))


def data_attr(value: Any) -> str:
    """`data`, for a value inside a double-quoted attribute: `title="{{ t | data_attr }}"`.

    Also turns `"` into `”` (U+201D), so the value cannot end the attribute and add
    another (`x" id="S9`), and line breaks into spaces, so the tag stays on one line.
    """
    return re.sub(r"[\r\n]+", " ", data(value).replace('"', "\u201d"))


class PromptParams(BaseModel):
    """Generation parameters a prompt version asks for; None = the model's default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    stop: tuple[str, ...] = ()

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    def chat_kwargs(self) -> dict[str, Any]:
        """The parameters that are set, as keyword arguments of `ChatRequest`."""
        return {k: v for k, v in self.model_dump().items() if v is not None and v != ()}


@dataclass(frozen=True)
class RenderedPrompt:
    """One prompt version filled in: the texts to send and where they came from."""

    ref: str  # "answer@1"
    name: str
    version: int
    sha256: str  # of the prompt file, to detect a version edited in place
    system: str
    user: str
    params: PromptParams


@dataclass(frozen=True)
class CompiledTemplates:
    system: Template
    user: Template


ENVIRONMENT = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
ENVIRONMENT.filters["data"] = data
ENVIRONMENT.filters["data_attr"] = data_attr


def compile_templates(
    where: str, sources: Mapping[str, str], variables: Iterable[str]
) -> CompiledTemplates:
    """Parse and compile the `system` and `user` templates once; ConfigError names `where`."""
    known = set(variables) | set(ENVIRONMENT.globals)
    compiled: dict[str, Template] = {}
    for field in TEMPLATE_FIELDS:
        try:
            ast = ENVIRONMENT.parse(sources[field])
            _refuse_private_access(where, field, ast)  # before compiling folds constants
            # Both compile the template, which also finds unknown filters and tests.
            undeclared = sorted(find_undeclared_variables(ast) - known)
            compiled[field] = ENVIRONMENT.from_string(ast)
        except TemplateSyntaxError as exc:
            raise ConfigError(
                f"{where}: `{field}` template, line {exc.lineno}: {exc.message}"
            ) from exc
        if undeclared:
            raise ConfigError(
                f"{where}: `{field}` template uses {', '.join(undeclared)}, which "
                "`variables:` does not declare; add them there or fix the spelling"
            )
    return CompiledTemplates(system=compiled["system"], user=compiled["user"])


def _refuse_private_access(where: str, field: str, ast: nodes.Template) -> None:
    """ConfigError for a literal `x._name`, `x["_name"]` or `x|attr("_name")`."""
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        if isinstance(node, nodes.Getattr):
            name: Any = node.attr
        elif isinstance(node, nodes.Getitem):
            name = node.arg.value if isinstance(node.arg, nodes.Const) else None
        elif node.name == "attr" and node.args and isinstance(node.args[0], nodes.Const):
            name = node.args[0].value
        else:
            continue
        if isinstance(name, str) and name.startswith("_"):
            raise ConfigError(
                f"{where}: `{field}` template, line {node.lineno}: touches {name!r}; templates "
                "may read variables and their public attributes only (no names starting with _)"
            )


def check_variables(ref: str, declared: Iterable[str], given: Iterable[str]) -> None:
    """InvalidRequest unless `given` is exactly the declared variables."""
    declared, given = list(declared), set(given)
    missing = [v for v in declared if v not in given]
    extra = sorted(given - set(declared))
    if not missing and not extra:
        return
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if extra:
        problems.append(f"not declared: {', '.join(extra)}")
    raise InvalidRequest(
        f"prompt {ref} takes variables {', '.join(declared) or '(none)'}; "
        f"{'; '.join(problems)}. Pass exactly those, or declare new ones under `variables:` "
        "in a new version of the prompt file"
    )


def render_template(ref: str, field: str, template: Template, variables: Mapping[str, Any]) -> str:
    """Render one template; every failure of the template is a ConfigError naming `ref`."""
    try:
        return template.render(variables)
    except SecurityError as exc:
        raise ConfigError(
            f"prompt {ref}: `{field}` template{_line(exc.__traceback__)} was refused by the "
            f"sandbox: {exc}; templates may read variables and their public attributes only"
        ) from exc
    except UndefinedError as exc:
        raise ConfigError(
            f"prompt {ref}: `{field}` template{_line(exc.__traceback__)} reads something the "
            f"variables do not have: {exc}; fix the template or the variables passed to it"
        ) from exc
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise ConfigError(
            f"prompt {ref}: `{field}` template{_line(exc.__traceback__)} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _line(tb: TracebackType | None) -> str:
    """ ", line N" of the template where rendering failed (Jinja maps frames to lines)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return f", line {line}," if line is not None else ""
