"""One prompt file, `<dir>/<name>/v<N>.yaml`: its schema, and loading it.

    description: Answer a question from numbered sources, citing each claim.  # required
    changelog: First version.              # required: what changed in this version, and why
    variables: [question, sources]         # required: exactly what the caller passes
    params: {temperature: 0.0, max_tokens: 400}  # optional: temperature, max_tokens,
                                                 #   top_p, seed, stop
    system: |                              # required Jinja2 template (may be "")
      ...
    user: |                                # required Jinja2 template
      ...

`name:` and `version:` are optional and, when given, must match the path. Any other
field is an error, so a misspelt one cannot be silently ignored; so is a key given twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from grounded.config import yaml_problem
from grounded.errors import ConfigError
from grounded.prompts.render import (
    CompiledTemplates,
    PromptParams,
    RenderedPrompt,
    check_variables,
    compile_templates,
    render_template,
)


class PromptSpec(BaseModel):
    """What a prompt file may contain (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    version: int | None = None
    description: str = Field(min_length=1)
    changelog: str = Field(min_length=1)
    variables: tuple[str, ...]
    params: PromptParams = Field(default_factory=PromptParams)
    system: str
    user: str = Field(min_length=1)

    @field_validator("description", "changelog", "user")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not v.isidentifier() or v.startswith("_")]
        if bad:
            raise ValueError(
                f"{', '.join(map(repr, bad))}: a variable name is letters, digits and _, "
                "not starting with a digit or _"
            )
        twice = sorted({v for v in value if value.count(v) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} declared more than once")
        return value


FIELDS = tuple(PromptSpec.model_fields)


@dataclass(frozen=True)
class PromptFile:
    """One loaded, validated and compiled prompt version. Build it with `load_prompt_file`."""

    name: str
    version: int
    path: Path
    description: str
    changelog: str
    variables: tuple[str, ...]
    params: PromptParams
    system: str
    user: str
    sha256: str  # of the file's bytes
    text: str = field(repr=False)  # the file as loaded, for diffs
    compiled: CompiledTemplates = field(repr=False, compare=False)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def render(self, /, **variables: Any) -> RenderedPrompt:
        """Fill in both templates. InvalidRequest if the variables are not exactly those
        declared; ConfigError if the template fails (sandbox refusal, missing attribute)."""
        check_variables(self.ref, self.variables, variables)
        return RenderedPrompt(
            ref=self.ref,
            name=self.name,
            version=self.version,
            sha256=self.sha256,
            system=render_template(self.ref, "system", self.compiled.system, variables),
            user=render_template(self.ref, "user", self.compiled.user, variables),
            params=self.params,
        )


def load_prompt_file(path: Path, name: str, version: int) -> PromptFile:
    """Read, validate and compile `path`, which the layout says is `name@version`."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read prompt file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"prompt file {path} is not UTF-8 text: {exc.reason}") from exc
    spec = _parse(path, text)
    if spec.name is not None and spec.name != name:
        raise ConfigError(
            f"prompt file {path}: name: {spec.name!r} does not match its folder {name!r}; "
            "remove the field or move the file"
        )
    if spec.version is not None and spec.version != version:
        raise ConfigError(
            f"prompt file {path}: version: {spec.version} does not match the file name "
            f"v{version}.yaml; remove the field or rename the file"
        )
    compiled = compile_templates(
        f"prompt file {path}", {"system": spec.system, "user": spec.user}, spec.variables
    )
    return PromptFile(
        name=name,
        version=version,
        path=path,
        description=spec.description,
        changelog=spec.changelog,
        variables=spec.variables,
        params=spec.params,
        system=spec.system,
        user=spec.user,
        sha256=hashlib.sha256(raw).hexdigest(),
        text=text,
        compiled=compiled,
    )


def _parse(path: Path, text: str) -> PromptSpec:
    try:
        values = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise ConfigError(f"prompt file {path} is not valid YAML: {yaml_problem(exc)}") from exc
    if not isinstance(values, dict):
        raise ConfigError(
            f"prompt file {path} must be a mapping with fields {', '.join(FIELDS)}, "
            f"not {type(values).__name__}"
        )
    try:
        return PromptSpec.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ConfigError(f"prompt file {path}: {problems}") from exc


def _problem(err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "(file)"
    if err["type"] == "extra_forbidden":
        allowed = PromptParams.model_fields if where.startswith("params.") else FIELDS
        return f"{where}: unknown field; allowed: {', '.join(allowed)}"
    if err["type"] == "missing":
        return f"{where}: required field is missing"
    return f"{where}: {err['msg']}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice (PyYAML would keep the last silently)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    seen: set[str] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, str):
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice", key_node.start_mark
                )
            seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)
