import os
import sys

import pytest


# `tests.fixtures` is imported as `fixtures` by the test modules.
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

COMPILE_CACHES = {"TORCHINDUCTOR_CACHE_DIR": "inductor", "TRITON_CACHE_DIR": "triton"}


@pytest.fixture(scope="session", autouse=True)
def compile_caches_in_the_test_folder(tmp_path_factory):
    # torch.compile's caches default to $TMPDIR/torchinductor_<user> (and ~/.triton), which outlive the run (150-300 MB
    # after the compile tests). Point them, unless the caller chose a place, into this run's temporary folder, which
    # pytest manages; subprocesses started by the tests inherit the setting.
    folder = tmp_path_factory.mktemp("compile-caches")
    chosen = {name: os.environ.get(name) for name in COMPILE_CACHES}
    for name, subfolder in COMPILE_CACHES.items():
        os.environ.setdefault(name, str(folder / subfolder))
    yield
    for name, value in chosen.items():
        if value is None:
            os.environ.pop(name, None)
