"""`diffusers_scaled.atomic`: files and folders are written all-or-nothing, and nothing is left behind on failure."""

import os
import threading

import pytest
from _compare import folder_tree
from fixtures import fail_each_write_step

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


def test_transaction_is_all_or_nothing_at_every_write_step(tmp_path):
    # A new folder (with a parent to make), an existing folder holding a file to replace and one to keep, and an
    # existing file: with any one write step failing, everything is as before; then a full run writes it all.
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "config.json").write_text("old config", encoding="utf-8")
    (tmp_path / "existing" / "other.txt").write_text("kept", encoding="utf-8")
    (tmp_path / "stats.json").write_text("old stats", encoding="utf-8")
    before = folder_tree(tmp_path)

    def run():
        with atomic.transaction() as t:
            for folder, text in ((tmp_path / "new" / "vae", "new"), (tmp_path / "existing", "replaced")):
                staged = t.folder(folder)
                with open(os.path.join(staged, "config.json"), "w", encoding="utf-8") as f:
                    f.write(f"{text} config")
                atomic.write_text(os.path.join(staged, "calibration.json"), f"{text} calibration")
            with open(t.file(tmp_path / "stats.json"), "w", encoding="utf-8") as f:
                f.write("new stats")

    def assert_unchanged():
        assert folder_tree(tmp_path) == before

    steps = fail_each_write_step(run, assert_unchanged)
    assert steps >= 10
    assert folder_tree(tmp_path) == {
        **before,
        "new": None,
        "new/vae": None,
        "new/vae/config.json": b"new config",
        "new/vae/calibration.json": b"new calibration",
        "existing/config.json": b"replaced config",
        "existing/calibration.json": b"replaced calibration",
        "stats.json": b"new stats",
    }


def test_transaction_refuses_a_folder_for_a_file_and_a_file_for_a_folder(tmp_path):
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    with pytest.raises(IsADirectoryError, match="a_folder"):
        with atomic.transaction() as t:
            t.file(tmp_path / "a_folder")
    with pytest.raises(NotADirectoryError, match="a_file"):
        with atomic.transaction() as t:
            t.folder(tmp_path / "a_file")
    assert sorted(os.listdir(tmp_path)) == ["a_file", "a_folder"]
