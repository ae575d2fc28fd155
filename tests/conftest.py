"""Test-wide settings: offline, no telemetry, a private HF_HOME per session; a local Ray instance
for the tests that ask for one.

These must be set before huggingface_hub and ray are imported anywhere (they read them at import).
"""

import os
import sys
import tempfile
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Ray: no usage report; a local-only instance whose processes talk over 127.0.0.1 (this setting is
# what makes Ray choose the loopback address instead of the machine's); no token file in $HOME.
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_AUTH_MODE"] = "disabled"
if "HF_HOME" not in os.environ or not os.environ["HF_HOME"].startswith(tempfile.gettempdir()):
    os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="copycot-hf-home-")

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="session")
def ray_address():
    """A Ray instance for the whole session: 2 CPUs and 2 logical GPUs (Ray only counts them; the
    multi-GPU path then runs on the CPU), no dashboard; its address for `--ray_address`.

    Its workers import the test modules (the jobs' `execute` functions live there), so the tests
    folder is on the PYTHONPATH the instance is started with.
    """
    ray = pytest.importorskip("ray")
    saved = os.environ.get("PYTHONPATH")
    paths = [str(Path(__file__).parent), str(REPO_ROOT), *([saved] if saved else [])]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    try:
        ray.init(
            num_cpus=2,
            num_gpus=2,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=100 * 2**20,
        )
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
