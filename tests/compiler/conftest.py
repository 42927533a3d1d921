import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # helpers.py


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: multi-process, benchmark-ish or long tests")
