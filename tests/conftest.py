import getpass
import os
import re
import shutil
import sys
import tempfile


# `tests.fixtures` is imported as `fixtures` by the test modules.
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

COMPILE_CACHES = {"TORCHINDUCTOR_CACHE_DIR": "inductor", "TRITON_CACHE_DIR": "triton"}
_compile_caches: dict[str, str] = {}


def _torch_default_cache_dir() -> str:
    # torch's `default_cache_dir()` ($TMPDIR/torchinductor_<user>), computed without importing torch. Some of torch's
    # caches use it whatever TORCHINDUCTOR_CACHE_DIR says (torch 2.13: the precompiled C++ headers of inductor).
    try:
        user = getpass.getuser()
    except (KeyError, ModuleNotFoundError, OSError):
        user = f"uid_{os.getuid()}" if hasattr(os, "getuid") else "unknown_user"
    return os.path.join(tempfile.gettempdir(), "torchinductor_" + re.sub(r'[\\/:*?"<>|]', "_", user))


def pytest_configure(config):
    # torch.compile's caches default to $TMPDIR/torchinductor_<user> (made as soon as `torch._dynamo` is imported)
    # and ~/.triton, and outlive the run (150-300 MB after the compile tests). Unless the caller chose a place, they go
    # to a folder of this run, removed at its end; subprocesses started by the tests inherit the setting. Set here,
    # before any test module imports torch.
    default = _torch_default_cache_dir()
    if not os.path.exists(default):
        _compile_caches["default"] = default  # made by this run, if at all: removed at its end
    if all(name in os.environ for name in COMPILE_CACHES):
        return
    folder = tempfile.mkdtemp(prefix="diffusers-scaled-tests-compile-")
    _compile_caches["folder"] = folder
    for name, subfolder in COMPILE_CACHES.items():
        if name not in os.environ:
            os.environ[name] = os.path.join(folder, subfolder)
            _compile_caches[name] = os.environ[name]


def pytest_unconfigure(config):
    default = _compile_caches.pop("default", None)
    if default is not None:
        shutil.rmtree(default, ignore_errors=True)
    folder = _compile_caches.pop("folder", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        for name in list(_compile_caches):
            if os.environ.get(name) == _compile_caches.pop(name):
                del os.environ[name]
