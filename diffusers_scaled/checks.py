"""Checks of plain arguments: choices, counts, generators, where a named model is.

Each `check_*` function returns nothing when the argument is valid and otherwise raises (`ValueError` or `TypeError`;
`FileNotFoundError` / `OSError` for a model that cannot be found) with a message that names the argument, what was
expected and what was given. `encode_latents` / `decode_latents`, the tools and the command line use them, so one
argument gets one message everywhere. None imports torch or diffusers before it needs them, so the command line
refuses a bad argument at once. The checks of images and latents are in `_validation`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence


__all__ = [
    "OUTPUT_TYPES",
    "SAMPLE_MODES",
    "check_choice",
    "check_generator",
    "check_model_source",
    "check_non_negative_int",
    "check_output_type",
    "check_positive_int",
    "check_sample_mode",
]

#: The `output_type` values of `decode_latents` and `preview_latents`.
OUTPUT_TYPES = ("pil", "np", "pt")
#: The `sample_mode` values of `encode_latents` and the tools: a posterior sample, or its mode.
SAMPLE_MODES = ("sample", "argmax")

# A hub repo id: `name` or `owner/name` (letters, digits, `-`, `_`, `.`); anything else is meant as a local path.
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_PROBE_TIMEOUT_S = 5.0
_MODEL_FILES = ("config.json", "vae/config.json", "model_index.json")


def check_choice(name: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(repr(c) for c in choices)}; got {value!r}.")


def check_output_type(output_type) -> None:
    check_choice("output_type", output_type, OUTPUT_TYPES)


def check_sample_mode(sample_mode) -> None:
    check_choice("sample_mode", sample_mode, SAMPLE_MODES)


def check_generator(generator, batch_size: int) -> None:
    import torch  # here, not at the top: the command line reads this module's constants without importing torch

    if generator is None or isinstance(generator, torch.Generator):
        return
    if isinstance(generator, (list, tuple)):
        if len(generator) != batch_size:
            raise ValueError(
                f"`generator` is a list of {len(generator)} generators, but the batch has {batch_size} images; pass one "
                "generator per image or a single generator."
            )
        bad = [type(g).__name__ for g in generator if not isinstance(g, torch.Generator)]
        if bad:
            raise TypeError(
                f"`generator` must hold `torch.Generator` objects only; got {', '.join(sorted(set(bad)))}."
            )
        return
    raise TypeError(
        f"`generator` must be a `torch.Generator`, a list of them (one per image) or None; got {type(generator).__name__}."
    )


def check_positive_int(name: str, value, allow_none: bool = False) -> None:
    """An `int` of at least 1 (or `None` when `allow_none`)."""
    if allow_none and value is None:
        return
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer{' or None' if allow_none else ''}; got {value!r}.")


def check_non_negative_int(name: str, value) -> None:
    """An `int` of at least 0 (not a `bool`)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer; got {value!r}.")


def check_model_source(name_or_path: str, subfolder: str | None = None) -> None:
    """Where a model named by the user is, checked before diffusers looks for it (and before torch is imported): a
    missing path, a hub repo that is not cached while `HF_HUB_OFFLINE=1`, or a Hub that cannot be reached each raise
    (`FileNotFoundError` / `OSError`) one message that says what to do, at once; diffusers would report a missing
    `config.json`, or retry for minutes without network. Returns where diffusers may go ahead."""
    if os.path.exists(name_or_path):
        return
    if not _REPO_ID.fullmatch(name_or_path) or ".." in name_or_path or "--" in name_or_path:
        raise FileNotFoundError(
            f"`name_or_path` is `{name_or_path}`, which does not exist: give a model folder (saved with "
            "`save_pretrained`) or a hub repo id such as `stabilityai/sd-vae-ft-mse`."
        )
    if _is_cached(name_or_path, subfolder):
        return
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise OSError(
            f"`name_or_path` is `{name_or_path}`: no such folder here, and the hub repo `{name_or_path}` is not in the "
            f"local Hugging Face cache ({constants.HF_HUB_CACHE}), which is all HF_HUB_OFFLINE=1 allows. Download it "
            f"once with network access (`hf download {name_or_path}`), unset HF_HUB_OFFLINE, or give a local folder."
        )
    reason = _unreachable(constants.ENDPOINT)
    if reason is not None:
        raise OSError(
            f"`name_or_path` is `{name_or_path}`: no such folder here, the hub repo is not in the local Hugging Face "
            f"cache, and the Hub ({constants.ENDPOINT}) cannot be reached: {reason}. Connect to the network, or give a "
            "local folder."
        )


def _is_cached(repo_id: str, subfolder: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    files = (f"{subfolder}/config.json",) if subfolder else _MODEL_FILES
    try:
        return any(isinstance(try_to_load_from_cache(repo_id, name), str) for name in files)
    except Exception:  # an id the hub library refuses: not cached
        return False


def _unreachable(endpoint: str) -> str | None:
    """Why the Hub endpoint does not answer within a few seconds (through the hub library's own session, so with its
    proxies and certificates), or `None` when it answers."""
    from huggingface_hub import get_session

    try:
        get_session().head(endpoint, timeout=_PROBE_TIMEOUT_S)
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return re.sub(r"\[Errno -?\d+\] ", "", reason)  # "Connection refused", not "[Errno 111] Connection refused"
    return None
