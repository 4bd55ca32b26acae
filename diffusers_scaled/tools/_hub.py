"""Where a model named by the user is, checked before diffusers looks for it: a missing folder, a hub repo that is not
cached while `HF_HUB_OFFLINE=1`, or a Hub that cannot be reached each get one message that says what to do, at once
(diffusers would report a missing `config.json`, or retry for minutes without network)."""

from __future__ import annotations

import os
import re


# A hub repo id: `name` or `owner/name` (letters, digits, `-`, `_`, `.`); anything else is meant as a local path.
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_PROBE_TIMEOUT_S = 5.0
_MODEL_FILES = ("config.json", "vae/config.json", "model_index.json")


def check_model_source(name_or_path: str, subfolder: str | None = None) -> None:
    """Raises `FileNotFoundError` / `OSError` with what to do where `name_or_path` (not an existing folder) cannot be
    a loadable local path or hub repo; returns where diffusers may go ahead."""
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
