"""The example scripts import each other by name, as they do when run as `python examples/SCRIPT.py`."""

import os
import sys

from tests.conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "examples"))
