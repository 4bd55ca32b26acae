"""`diffusers_scaled.atomic`: files and folders are written all-or-nothing, and nothing is left behind on failure."""

import os
import threading

import pytest

from diffusers_scaled import atomic


class Boom(Exception):
    pass


def test_write_text_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("old", encoding="utf-8")
    atomic.write_text(path, "new\n")
    assert path.read_text(encoding="utf-8") == "new\n"
    assert os.listdir(tmp_path) == ["a.json"]


def test_replace_file_keeps_the_old_file_on_an_exception(tmp_path):
    path = tmp_path / "shard.bin"
    path.write_bytes(b"old")
    with pytest.raises(Boom):
        with atomic.replace_file(path) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise Boom
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["shard.bin"]


def test_temporaries_are_hidden_siblings_unique_per_call(tmp_path):
    names = {atomic.temporary_sibling(tmp_path / "cache.json") for _ in range(3)}
    assert len(names) == 3
    for name in names:
        assert os.path.dirname(name) == str(tmp_path)
        assert os.path.basename(name).startswith(".cache.json.tmp-")


def test_concurrent_writers_of_one_file_never_leave_a_mix(tmp_path):
    path = tmp_path / "module.py"
    texts = [str(i) * 10_000 for i in range(8)]
    threads = [threading.Thread(target=atomic.write_text, args=(path, text)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert path.read_text(encoding="utf-8") in texts
    assert os.listdir(tmp_path) == ["module.py"]


def test_replace_folder_creates_or_replaces_a_whole_folder(tmp_path):
    target = tmp_path / "pipe"
    with atomic.replace_folder(target) as tmp:
        assert os.listdir(tmp) == []
        (open(os.path.join(tmp, "a"), "w")).close()
    assert sorted(os.listdir(target)) == ["a"]
    with atomic.replace_folder(target) as tmp:
        (open(os.path.join(tmp, "b"), "w")).close()
    assert sorted(os.listdir(target)) == ["b"]  # replaced, not merged
    assert sorted(os.listdir(tmp_path)) == ["pipe"]


def test_replace_folder_leaves_nothing_on_an_exception(tmp_path):
    target = tmp_path / "pipe"
    with pytest.raises(Boom):
        with atomic.replace_folder(target) as tmp:
            (open(os.path.join(tmp, "a"), "w")).close()
            raise Boom
    assert os.listdir(tmp_path) == []
    target.mkdir()
    (target / "old").write_text("kept", encoding="utf-8")
    with pytest.raises(Boom):
        with atomic.replace_folder(target) as tmp:
            raise Boom
    assert os.listdir(tmp_path) == ["pipe"] and os.listdir(target) == ["old"]
