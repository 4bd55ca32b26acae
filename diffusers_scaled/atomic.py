"""All-or-nothing writes: a file or a folder is either complete in its final place or absent (or still the old one).

Every writer of this package goes through these helpers instead of `open(path, "w")`:

| helper | use it for | after a crash or exception |
| --- | --- | --- |
| `write_text(path, text)` | a small text file (JSON, a module file) | the old file, or none; never half of one |
| `replace_file(path)` | a file written by another library (`safetensors.torch.save_file(tensors, tmp)`) | the same |
| `replace_folder(path)` | several files that only make sense together | the old folder, or none; never a partial one |

How: the data is written to a temporary sibling (same directory, so the same file system) whose name starts with a dot
and contains `.tmp-` (`.cache.json.tmp-1234-5f3a...`); `os.replace` then moves it into place, which readers see as one
step. On an exception the temporary is removed and the exception propagates. A process that is killed outright can
leave a temporary behind; callers that care sweep `.<name>.tmp-*` siblings (see `tools/cache.py`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator


__all__ = ["replace_file", "replace_folder", "temporary_sibling", "write_text"]


def temporary_sibling(path: str | os.PathLike) -> str:
    """A fresh name beside `path` for writing it: `<dir>/.<name>.tmp-<pid>-<random>` (unique per call, so threads and
    processes writing the same `path` never share a temporary)."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    return os.path.join(folder, f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}")


@contextlib.contextmanager
def replace_file(path: str | os.PathLike) -> Iterator[str]:
    r"""
    Yields a temporary path to write the file to; when the block ends without an exception, the temporary replaces
    `path` in one step (`os.replace`). On an exception the temporary is removed and `path` is untouched.

    Examples:

    ```py
    >>> from safetensors.torch import save_file
    >>> with replace_file("shard-00000.safetensors") as tmp:
    ...     save_file(tensors, tmp)
    ```
    """
    tmp = temporary_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Writes `text` to `path` all-or-nothing (see `replace_file`): a reader sees the old file or the new one."""
    with replace_file(path) as tmp:
        with open(tmp, "w", encoding=encoding) as f:
            f.write(text)


@contextlib.contextmanager
def replace_folder(path: str | os.PathLike) -> Iterator[str]:
    r"""
    Yields a new empty temporary folder beside `path`; when the block ends without an exception, it takes the place of
    `path` (a folder already at `path` is replaced as a whole, never merged). On an exception the temporary folder is
    removed and `path` is untouched.

    The switch is one `os.rename` when `path` does not exist. When it does, the old folder is first renamed aside and
    removed after the new one is in place: a crash in between leaves the complete old folder under a `.tmp-` name and no
    folder at `path`, never a mix of old and new files.

    Examples:

    ```py
    >>> with replace_folder("my-pipeline") as tmp:
    ...     pipe.save_pretrained(tmp)  # all of it, or nothing, ends up in my-pipeline/
    ```
    """
    final = os.path.abspath(os.fspath(path))
    tmp = temporary_sibling(final)
    os.makedirs(tmp)
    try:
        yield tmp
        if os.path.isdir(final):
            old = temporary_sibling(final)
            os.rename(final, old)
            try:
                os.rename(tmp, final)
            except BaseException:
                os.rename(old, final)  # put the old folder back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
