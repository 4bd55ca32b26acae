import os
import sys


# `tests.fixtures` is imported as `fixtures` by the test modules.
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
