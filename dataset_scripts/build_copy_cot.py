"""Build the copy-cot dataset repo and optionally publish it to the Hugging Face Hub.

    python dataset_scripts/build_copy_cot.py --output_dir copy-cot [--configs ...] [--seed S]
        [--dataset_size small|full] [--push_to_hub --hub_dataset_id ORG/NAME [--hub_private_repo]]

The logic lives in `hf_copycot.dataset_repo` (importable and tested); this file is the command.
"""

import sys
from pathlib import Path

try:
    from hf_copycot.dataset_repo import main
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hf_copycot.dataset_repo import main

if __name__ == "__main__":
    sys.exit(main(prog="build_copy_cot.py"))
