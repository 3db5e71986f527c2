"""Versioned prompt files, `<dir>/<name>/v<N>.yaml`, rendered in Jinja2's sandbox.

    registry = PromptRegistry.from_settings(settings)     # built-ins, then prompts_dir
    prompt = registry.get("answer@1")                     # or "answer" = the latest
    rendered = prompt.render(question=q, sources=srcs, instructions="", canary=c)
    rendered.system, rendered.user, rendered.params, rendered.sha256

File format: grounded.prompts.file; layout and overrides: grounded.prompts.registry;
the sandbox and the `data` filter: grounded.prompts.render.
"""

from grounded.prompts.file import PromptFile, PromptSpec, load_prompt_file
from grounded.prompts.registry import BUILTIN_DIR, PromptRegistry, parse_ref
from grounded.prompts.render import PromptParams, RenderedPrompt, data

__all__ = [
    "BUILTIN_DIR",
    "PromptFile",
    "PromptParams",
    "PromptRegistry",
    "PromptSpec",
    "RenderedPrompt",
    "data",
    "load_prompt_file",
    "parse_ref",
]
