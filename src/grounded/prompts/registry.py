"""Where prompt versions are found: `<dir>/<name>/v<N>.yaml` in an ordered list of folders.

A version in a later folder replaces the same version in an earlier one; versions
found only in one folder are all kept. The CLI and the apps use the built-in
folder first, then `prompts_dir` from the settings, so an installation can add
`answer/v2.yaml` next to the shipped `answer@1`, or replace `answer@1` itself
(its sha256, recorded with each answer, then shows the difference).

Layout rules, each a ConfigError when broken: folders and files whose names start
with `.` or `_` are ignored; every other folder is a prompt named after it
(letters, digits, `_`, `-`); in it, every `.yaml`/`.yml` file must be `v<N>.yaml`
with N = 1, 2, ... (no leading zeros); other files (README.md, backups) are ignored.
Files are read when first asked for, so one broken version does not stop the others.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from grounded.errors import ConfigError, InvalidRequest
from grounded.prompts.file import PromptFile, load_prompt_file

if TYPE_CHECKING:
    from grounded.config import Settings

BUILTIN_DIR = Path(__file__).parent / "builtin"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_VERSION_FILE = re.compile(r"v([1-9][0-9]*)\.yaml")
_REF = re.compile(r"(?P<name>[^@]+?)(?:@(?P<version>[^@]*))?")


def parse_ref(ref: str) -> tuple[str, int | None]:
    """ "answer@2" → ("answer", 2); "answer" and "answer@latest" → ("answer", None)."""
    match = _REF.fullmatch(ref.strip())
    if match is None or not _NAME.fullmatch(match["name"]):
        raise InvalidRequest(
            f"bad prompt reference {ref!r}; write NAME, NAME@VERSION or NAME@latest, e.g. answer@1"
        )
    version = match["version"]
    if version is None or version == "latest":
        return match["name"], None
    if not re.fullmatch(r"[1-9][0-9]*", version):
        raise InvalidRequest(
            f"bad prompt version in {ref!r}: versions are whole numbers from 1 "
            f"(e.g. {match['name']}@1) or 'latest'"
        )
    return match["name"], int(version)


class PromptRegistry:
    """Prompt versions found in `dirs`, later folders overriding earlier ones."""

    def __init__(self, dirs: Sequence[Path]) -> None:
        self.dirs = tuple(Path(d) for d in dirs)
        self._paths = _scan(self.dirs)
        self._loaded: dict[tuple[str, int], PromptFile] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> PromptRegistry:
        """The built-in prompts, overridden and extended by `settings.prompts_dir`."""
        return cls([BUILTIN_DIR, settings.prompts_dir])

    def names(self) -> list[str]:
        return sorted(self._paths)

    def versions(self, name: str) -> list[int]:
        """Ascending; InvalidRequest listing the known prompts if `name` is not one."""
        if name not in self._paths:
            known = ", ".join(self.names()) or "none"
            raise InvalidRequest(
                f"no prompt named {name!r}; known prompts: {known} (looked in "
                f"{', '.join(map(str, self.dirs))}; add {name}/v1.yaml to one of them)"
            )
        return sorted(self._paths[name])

    def path(self, name: str, version: int) -> Path:
        """The file that provides `name@version` (after overrides)."""
        versions = self.versions(name)
        if version not in versions:
            raise InvalidRequest(
                f"prompt {name!r} has no version {version}; versions: "
                f"{', '.join(map(str, versions))} (latest: {name}@{versions[-1]})"
            )
        return self._paths[name][version]

    def get(self, ref: str) -> PromptFile:
        """ "name@N", "name" or "name@latest": loaded, validated and compiled once."""
        name, version = parse_ref(ref)
        if version is None:
            version = self.versions(name)[-1]
        path = self.path(name, version)
        key = (name, version)
        with self._lock:
            found = self._loaded.get(key)
        if found is None:
            found = load_prompt_file(path, name, version)
            with self._lock:
                found = self._loaded.setdefault(key, found)
        return found


def _scan(dirs: Sequence[Path]) -> dict[str, dict[int, Path]]:
    found: dict[str, dict[int, Path]] = {}
    for root in dirs:
        if not root.exists():
            continue
        if not root.is_dir():
            raise ConfigError(f"prompts directory {root} is not a directory")
        for folder in sorted(root.iterdir()):
            if folder.name.startswith((".", "_")):
                continue
            if not folder.is_dir():
                _check_stray_file(root, folder)
                continue
            if not _NAME.fullmatch(folder.name):
                raise ConfigError(
                    f"prompt folder {folder}: a prompt name is letters, digits, _ and -; "
                    "rename the folder, or start its name with _ to have it ignored"
                )
            for version, path in _versions(folder).items():
                found.setdefault(folder.name, {})[version] = path
    return found


def _check_stray_file(root: Path, file: Path) -> None:
    if file.suffix in (".yaml", ".yml"):
        raise ConfigError(
            f"prompt file {file} is not in a prompt folder; prompt files are "
            f"{root}/<name>/v<N>.yaml, e.g. {root}/{file.stem}/v1.yaml"
        )


def _versions(folder: Path) -> dict[int, Path]:
    out: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "_")) or path.suffix not in (".yaml", ".yml"):
            continue
        match = _VERSION_FILE.fullmatch(path.name)
        if match is None or not path.is_file():
            raise ConfigError(
                f"prompt file {path}: name versions v1.yaml, v2.yaml, ... (a whole number "
                "from 1, no leading zeros, extension .yaml)"
            )
        out[int(match[1])] = path
    return out
