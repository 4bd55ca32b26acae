"""All-or-nothing writes: a file or a folder is either complete in its final place or absent (or still the old one).

Every writer of this package goes through these helpers instead of `open(path, "w")`:

| helper | use it for | after a crash or exception |
| --- | --- | --- |
| `write_text(path, text)` | a small text file (JSON, a module file) | the old file, or none; never half of one |
| `replace_file(path)` | a file written by another library (`safetensors.torch.save_file(tensors, tmp)`) | the same |
| `replace_folder(path)` | several files that only make sense together | the old folder, or none; never a partial one |
| `transaction()` | several files and folders written together, merged into folders that may hold others | all of them, or none (see below) |

How: the data is written to a temporary sibling (same directory, so the same file system) whose name starts with a dot
and contains `.tmp-` (`.cache.json.tmp-1234-5f3a...`); `os.replace` then moves it into place, which readers see as one
step. On an exception the temporary is removed and the exception propagates. A process that is killed outright can
leave a temporary behind; callers that care sweep `.<name>.tmp-*` siblings (see `tools/cache.py`).

`transaction()` stages every file and folder first; only when all are written does it move them into place, each old
entry of the same name set aside first, and if any move fails it moves everything back before the exception
propagates. A process killed during those moves (a few renames, after every byte is written) can leave some in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator


__all__ = ["Transaction", "replace_file", "replace_folder", "temporary_sibling", "transaction", "write_text"]


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


class Transaction:
    r"""
    Files and folders written together, all-or-nothing: see [`transaction`]. `file(path)` and `folder(path)` give the
    temporary places to write to; nothing reaches the final paths before the `with` block ends without an exception.
    """

    def __init__(self):
        self._staged: list[tuple[str, str, bool]] = []  # (final path, temporary path, is a folder)
        self._created: list[str] = []  # missing parent folders this transaction made

    def file(self, path: str | os.PathLike) -> str:
        """A temporary path to write `path` to; it takes `path`'s place (an old file there is replaced)."""
        final = os.path.abspath(os.fspath(path))
        if os.path.isdir(final):
            raise IsADirectoryError(f"`{os.fspath(path)}` is a folder; a file was expected there.")
        self._make_parent(final)
        staged = temporary_sibling(final)
        self._staged.append((final, staged, False))
        return staged

    def folder(self, path: str | os.PathLike) -> str:
        """A new empty temporary folder whose entries move into `path` (made if missing): entries of the same names
        are replaced, other entries of `path` are kept (as `save_pretrained` into an existing folder does)."""
        final = os.path.abspath(os.fspath(path))
        if os.path.exists(final) and not os.path.isdir(final):
            raise NotADirectoryError(f"`{os.fspath(path)}` is a file; a folder was expected there.")
        self._make_parent(final)
        staged = temporary_sibling(final)
        os.mkdir(staged)
        self._staged.append((final, staged, True))
        return staged

    def _make_parent(self, final: str) -> None:
        parent, missing = os.path.dirname(final), None
        while not os.path.exists(parent):
            parent, missing = os.path.dirname(parent), parent
        if missing is not None:
            os.makedirs(os.path.dirname(final))
            self._created.append(missing)

    def _commit(self) -> None:
        renames, aside = [], []  # every rename done (to undo them in reverse), and the old entries set aside

        def place(source: str, destination: str) -> None:
            if os.path.lexists(destination):
                old = temporary_sibling(destination)
                os.rename(destination, old)
                renames.append((destination, old))
                aside.append(old)
            os.rename(source, destination)
            renames.append((source, destination))

        try:
            for final, staged, is_folder in self._staged:
                if is_folder and os.path.isdir(final):
                    for name in sorted(os.listdir(staged)):
                        place(os.path.join(staged, name), os.path.join(final, name))
                else:
                    place(staged, final)
        except BaseException:
            for source, destination in reversed(renames):
                os.rename(destination, source)
            raise
        for old in aside:
            _remove(old)

    def _discard(self) -> None:
        for _, staged, _ in self._staged:
            _remove(staged)
        for created in self._created:
            _remove(created)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


@contextlib.contextmanager
def transaction() -> Iterator[Transaction]:
    r"""
    Several files and folders written all-or-nothing. Inside the block, `t.file(path)` and `t.folder(path)` return
    temporary places beside each final path; when the block ends without an exception they move into place (a file
    replaces the old one, a folder's entries merge into an existing folder). When the block or any of those moves
    raises, the moves done are undone, every temporary is removed (with any parent folder the transaction made) and
    the exception propagates: the final paths are as they were.

    Examples:

    ```py
    >>> import os
    >>> from diffusers_scaled import atomic

    >>> with atomic.transaction() as t:
    ...     folder = t.folder("my_vae_calibrated")
    ...     vae.save_pretrained(folder)
    ...     with open(os.path.join(folder, "notes.txt"), "w") as f:
    ...         f.write("calibrated")
    ...     with open(t.file("stats.json"), "w") as f:
    ...         f.write("{}")
    ```
    """
    t = Transaction()
    try:
        yield t
        t._commit()
    except BaseException:
        t._discard()
        raise
    for _, staged, is_folder in t._staged:
        if is_folder and os.path.isdir(staged):
            os.rmdir(staged)  # emptied by the merge
