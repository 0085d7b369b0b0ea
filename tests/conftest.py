import sys
from pathlib import Path

# The op spec table lives beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
