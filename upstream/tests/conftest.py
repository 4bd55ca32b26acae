import os
import sys


# The project's test fixtures (`tests/fixtures.py`) and the shared pipeline runs (`_cases.py`).
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests"))
sys.path.insert(0, HERE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
