"""Build the copy-cot dataset repo (Hub-native parquet shards + dataset card) and publish it.

Layout of a build (what `load_dataset(path_or_hub_id, config)` reads, no loading script):

    README.md                                  dataset card, YAML `configs:` (copy is the default)
    copycot_build.json                         the same facts for machines (marks a finished build)
    data/<config>/<split>-00000-of-0000N.parquet

The build is deterministic (same arguments, same bytes in every file) and atomic: it is written into
a hidden sibling folder and renamed into place only when complete, so an interrupted build never
leaves a folder that loads. `dataset_scripts/build_copy_cot.py` is the command line (`main`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_copycot import CODE_URL, __version__, tasks
from hf_copycot.errors import ArgumentError, CopycotError, CorruptFileError, PublishError
from hf_copycot.publishing import atomic_dir, check_digests, folder_lock, push_folder, sha256_of

MARKER = "copycot_build.json"
BUILDER = "hf_copycot.dataset_repo"
SHARD_ROWS = 50_000
ROW_GROUP_ROWS = 10_000
PRETTY_NAME = "copy-cot"
DEFAULT_CONFIG = "copy"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

CITATIONS = """\
@article{ren2024mamba_copy_cot,
  title   = {Exploring the Limitations of Mamba in COPY and CoT Reasoning},
  author  = {Ren, Ruifeng and Li, Zhicong and Liu, Yong},
  journal = {arXiv preprint arXiv:2410.03810},
  year    = {2024}
}

@inproceedings{jelassi2024repeat,
  title     = {Repeat After Me: Transformers are Better than State Space Models at Copying},
  author    = {Jelassi, Samy and Brandfonbrener, David and Kakade, Sham M. and Malach, Eran},
  booktitle = {International Conference on Machine Learning (ICML)},
  year      = {2024},
  note      = {arXiv:2402.01032}
}

@inproceedings{feng2023revealing,
  title     = {Towards Revealing the Mystery behind Chain of Thought: A Theoretical Perspective},
  author    = {Feng, Guhao and Zhang, Bohang and Gu, Yuntian and Ye, Haotian and He, Di and Wang, Liwei},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year      = {2023},
  note      = {arXiv:2305.15408}
}
"""


__all__ = ["ArgumentError", "PublishError", "build_repo", "content_hash", "main", "push_to_hub"]


@dataclass(frozen=True)
class SplitPlan:
    rows: int
    min_length: int
    max_length: int


# --- planning and validation (touches nothing) ---------------------------------------------------
def plan_build(
    configs: Sequence[str] | None = None,
    *,
    seed: int = 0,
    size: str = "small",
    train_rows: int | None = None,
    eval_rows: int | None = None,
    lengths: tuple[int, int] | None = None,
    long_lengths: tuple[int, int] | None = None,
) -> dict[str, dict[str, SplitPlan]]:
    """Rows and length range of every split of every config; raises ArgumentError on bad input."""
    configs = list(tasks.TASK_NAMES if configs is None else configs)
    if not configs:
        raise ArgumentError("no configs given; pass one or more of: " + ", ".join(tasks.TASK_NAMES))
    unknown = [c for c in configs if c not in tasks.TASK_NAMES]
    if unknown:
        raise ArgumentError(
            f"unknown config {unknown[0]!r}; choose from: {', '.join(tasks.TASK_NAMES)}"
        )
    if len(set(configs)) != len(configs):
        raise ArgumentError("a config is listed twice; list each config once")
    if size not in tasks.SIZES:
        raise ArgumentError(f"unknown size {size!r}; choose one of: {', '.join(tasks.SIZES)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ArgumentError(f"--seed must be a non-negative integer, got {seed!r}")
    for flag, value in (("--train_rows", train_rows), ("--eval_rows", eval_rows)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ArgumentError(f"{flag} must be a positive integer, got {value!r}")
    for flag, pair in (("--lengths", lengths), ("--long_lengths", long_lengths)):
        if pair is not None and not (1 <= pair[0] <= pair[1]):
            raise ArgumentError(f"{flag} {pair[0]}:{pair[1]} needs 1 <= MIN <= MAX")

    plan: dict[str, dict[str, SplitPlan]] = {}
    for config in sorted(configs, key=tasks.TASK_NAMES.index):
        ranges = tasks.split_lengths(config, size)
        rows = tasks.split_rows(config, size)
        splits = {}
        for split in tasks.SPLITS:
            low, high = ranges[split]
            if split == "test_long" and long_lengths is not None:
                low, high = long_lengths
            elif split != "test_long" and lengths is not None:
                low, high = lengths
            count = rows[split]
            if split == "train" and train_rows is not None:
                count = train_rows
            elif split != "train" and eval_rows is not None:
                count = eval_rows
            splits[split] = SplitPlan(count, low, high)
        longest_train = max(p.max_length for s, p in splits.items() if s != "test_long")
        if splits["test_long"].min_length <= longest_train:
            raise ArgumentError(
                f"{config}: test_long lengths start at {splits['test_long'].min_length}, not above the "
                f"train maximum {longest_train}; pass --long_lengths MIN:MAX with MIN > {longest_train}"
            )
        for split, p in splits.items():
            try:
                tasks.check_request(config, p.rows, seed, p.min_length, p.max_length, {})
            except ValueError as error:
                raise ArgumentError(f"{config}/{split}: {error}") from None
        plan[config] = splits
    return plan


def is_previous_build(folder: Path) -> bool:
    """True if `folder` holds a finished build of this module (its marker file)."""
    try:
        manifest = json.loads((folder / MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("builder") == BUILDER


def check_output_dir(output_dir: Path) -> None:
    """The output may be new, an empty folder, or a previous build (replaced); nothing else."""
    if not output_dir.exists():
        return
    if not output_dir.is_dir():
        raise ArgumentError(f"--output_dir {output_dir} is a file; pass a folder path")
    if any(output_dir.iterdir()) and not is_previous_build(output_dir):
        raise ArgumentError(
            f"--output_dir {output_dir} exists and is not a previous copy-cot build; "
            "pass a new or empty folder"
        )


# --- writing -------------------------------------------------------------------------------------
def content_hash(columns: Mapping[str, Sequence[Any]]) -> str:
    """sha256 of a split's rows, independent of the file format.

    Recompute it from a loaded split with `content_hash(dataset.to_dict())`.
    """
    digest = hashlib.sha256()
    for name in sorted(columns):
        digest.update(json.dumps([name, list(columns[name])], separators=(",", ":")).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def features(config: str):
    """The `datasets.Features` of a config's rows (stored in the parquet schema metadata)."""
    import datasets

    kinds = {
        "string": datasets.Value("string"),
        "int32": datasets.Value("int32"),
        "list<int32>": datasets.List(datasets.Value("int32")),
    }
    return datasets.Features({name: kinds[kind] for name, kind in tasks.columns(config).items()})


def write_split(
    columns: dict[str, list], config: str, split: str, data_dir: Path
) -> tuple[list[str], int]:
    """Write one split as parquet shards of at most SHARD_ROWS rows; returns repo-relative paths
    and the split's size in Arrow (the `num_bytes` datasets records for a split)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = features(config).arrow_schema
    table = pa.table({name: columns[name] for name in schema.names}, schema=schema)
    num_shards = max(1, -(-table.num_rows // SHARD_ROWS))
    folder = data_dir / config
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard in range(num_shards):
        name = f"{split}-{shard:05d}-of-{num_shards:05d}.parquet"
        part = table.slice(shard * SHARD_ROWS, SHARD_ROWS)
        pq.write_table(part, folder / name, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        paths.append(f"data/{config}/{name}")
    return paths, table.nbytes


def dataset_infos(manifest: Mapping[str, Any], folder: Path) -> Any:
    """datasets' own `DatasetInfosDict` of a build: each config's features and, per split, its
    rows and Arrow bytes; download_size is its parquet files' size in `folder`."""
    import datasets
    from datasets.info import DatasetInfosDict

    infos = {}
    for config, info in manifest["configs"].items():
        splits = datasets.SplitDict()
        for split, s in info["splits"].items():
            splits.add(
                datasets.SplitInfo(name=split, num_bytes=s["num_bytes"], num_examples=s["rows"])
            )
        files = [folder / path for s in info["splits"].values() for path in s["files"]]
        infos[config] = datasets.DatasetInfo(
            features=features(config),
            splits=splits,
            download_size=sum(path.stat().st_size for path in files),
            dataset_size=sum(s["num_bytes"] for s in info["splits"].values()),
        )
    return DatasetInfosDict(infos)


def _size_category(total_rows: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")]
    bounds += [(1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")]
    return next((label for bound, label in bounds if total_rows < bound), "10M<n<100M")


def _example(config: str, seed: int, length: int) -> str:
    row = tasks.generate(
        config, 1, seed=seed, min_length=length, max_length=length, split="example"
    )
    fields = [f"  {json.dumps(name)}: {json.dumps(values[0])}" for name, values in row.items()]
    return "{\n" + ",\n".join(fields) + "\n}"


def render_card(manifest: dict[str, Any], folder: Path) -> str:
    """The README.md dataset card: YAML metadata (with datasets' `dataset_info` of the parquet
    files in `folder`), then one section per config."""
    import yaml
    from huggingface_hub import DatasetCardData

    configs = manifest["configs"]
    total = sum(s["rows"] for c in configs.values() for s in c["splits"].values())
    metadata = {
        "pretty_name": PRETTY_NAME,
        "license": "apache-2.0",
        "language": ["en"],
        "task_categories": ["text-generation"],
        "size_categories": [_size_category(total)],
        "tags": ["synthetic", "copying", "chain-of-thought", "mamba", "state-space-models"],
        "configs": [
            {
                "config_name": name,
                **({"default": True} if name == DEFAULT_CONFIG else {}),
                "data_files": [
                    {"split": split, "path": f"data/{name}/{split}-*.parquet"}
                    for split in info["splits"]
                ],
            }
            for name, info in configs.items()
        ],
    }
    # dataset_info (features, splits with num_bytes / num_examples, sizes) written by datasets'
    # own DatasetInfosDict, as `push_to_hub` writes it, so the Hub's viewer and loaders read it.
    card_data = DatasetCardData(**metadata)
    dataset_infos(manifest, folder).to_dataset_card_data(card_data)
    metadata = card_data.to_dict()
    command = (
        f"python dataset_scripts/build_copy_cot.py --output_dir copy-cot {manifest['arguments']}"
    )
    lines = [
        "---",
        yaml.safe_dump(metadata, sort_keys=False, width=1000).rstrip(),
        "---",
        "",
        f"# {PRETTY_NAME}",
        "",
        "Synthetic tasks to test whether a constant-size state-space model (Mamba) can do what a",
        "Transformer does on copying, lookup and chain-of-thought dynamic programming: COPY, n-gram",
        "lookup and phone-book lookup (Jelassi et al., 2024), longest increasing subsequence and edit",
        "distance with chain of thought (Feng et al., 2023), and an m-local DP for the locality claim",
        "of Ren, Li and Liu (2024). Built by hf-copycot's `dataset_scripts/build_copy_cot.py`",
        f"(code: {CODE_URL}).",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("{manifest["repo_id"] or "ORG/copy-cot"}", "copy")   # or a local build folder',
        "```",
        "",
        "Every row has `id`, `task`, `prompt`, `cot` (chain-of-thought steps, empty where a task has",
        "none), `answer` and `length` (the task's size knob), plus task-specific columns.",
        "`prompt + cot + answer` is the full text; train on the completion `cot + answer` (and an end",
        "of sequence token). Splits: `train`, `validation` and `test` share one length range;",
        "`test_long` is longer than anything in `train` (length generalisation).",
        "",
        "## Build",
        "",
        f"- generator version `{manifest['generator_version']}` (hf-copycot {manifest['hf_copycot_version']})",
        f"- seed `{manifest['seed']}`, size `{manifest['size']}`",
        f"- rebuild byte for byte: `{command}`",
        "- content hash: sha256 of the rows, independent of the parquet encoding; check a split with",
        "  `hf_copycot.dataset_repo.content_hash(ds[split].to_dict())`",
        "",
    ]
    for name, info in configs.items():
        spec = tasks.SPECS[name]
        splits = info["splits"]
        example_length = splits["train"]["min_length"]
        lines += [
            f"## `{name}`",
            "",
            f"{spec.summary}. `length` = {spec.length_meaning}.",
            "",
            f"Format: {spec.text_format}.",
            "",
            f"Example (length {example_length}):",
            "",
            "```json",
            _example(name, manifest["seed"], example_length),
            "```",
            "",
            "Parameters: "
            + (", ".join(f"`{k}={json.dumps(v)}`" for k, v in info["params"].items()) or "none")
            + f". Generator version `{manifest['generator_version']}`; sampling and defaults: "
            + f"`hf_copycot/tasks/{spec.build.__module__.rsplit('.', 1)[-1]}.py`; formats: docs/FORMATS.md.",
            "",
            "| split | rows | length | content sha256 |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {split} | {s['rows']:,} | {s['min_length']}-{s['max_length']} | `{s['content_sha256']}` |"
            for split, s in splits.items()
        ]
        overlap = {s: i["prompts_in_train"] for s, i in splits.items() if "prompts_in_train" in i}
        if overlap:
            replaced = splits.get("train", {}).get("replaced_eval_problems", 0)
            lines += [
                "",
                "Train/test overlap: "
                + ", ".join(f"{count} {split}" for split, count in overlap.items())
                + f" prompts appear in train ({replaced:,} train rows that repeated an evaluation "
                "problem were drawn again).",
            ]
        lines.append("")
    lines += ["## Citation", "", "```bibtex", CITATIONS.rstrip(), "```", ""]
    return "\n".join(lines)


def _arguments_text(
    configs: list[str], seed: int, size: str, overrides: Mapping[str, Any], all_configs: bool
) -> str:
    """The command-line arguments that rebuild this exact folder."""
    parts = [f"--seed {seed}", f"--dataset_size {size}"]
    if not all_configs:
        parts.append("--configs " + " ".join(configs))
    for flag, value in overrides.items():
        if value is None:
            continue
        parts.append(
            f"{flag} {value[0]}:{value[1]}" if isinstance(value, tuple) else f"{flag} {value}"
        )
    return " ".join(parts)


def build_repo(
    output_dir: str | os.PathLike,
    configs: Sequence[str] | None = None,
    *,
    seed: int = 0,
    size: str = "small",
    train_rows: int | None = None,
    eval_rows: int | None = None,
    lengths: tuple[int, int] | None = None,
    long_lengths: tuple[int, int] | None = None,
    repo_id: str | None = None,
    log=print,
) -> Path:
    """Build the dataset repo into `output_dir` atomically; returns its path.

    `repo_id` only names the Hub repo in the card's loading example.
    """
    output_dir = Path(output_dir).absolute()
    plan = plan_build(
        configs,
        seed=seed,
        size=size,
        train_rows=train_rows,
        eval_rows=eval_rows,
        lengths=lengths,
        long_lengths=long_lengths,
    )
    with build_lock(output_dir), atomic_dir(output_dir) as staging:
        check_output_dir(output_dir)  # under the lock: another build may have just finished
        manifest_configs: dict[str, Any] = {}
        for config, splits in plan.items():
            split_info = {}
            # Evaluation splits first: train leaves out their problems (hf_copycot.overlap).
            built = _generate_splits(config, seed, splits)
            for split, p in splits.items():
                columns, extra = built[split]
                files, num_bytes = write_split(columns, config, split, staging / "data")
                split_info[split] = {
                    "rows": p.rows,
                    "num_bytes": num_bytes,
                    "min_length": p.min_length,
                    "max_length": p.max_length,
                    "files": files,
                    "file_sha256": {name: sha256_of(staging / name) for name in files},
                    "content_sha256": content_hash(columns),
                    **extra,
                }
                log(f"{config}/{split}: {p.rows:,} rows, lengths {p.min_length}-{p.max_length}")
            manifest_configs[config] = {
                "params": tasks.default_params(config),
                "splits": split_info,
            }
        overrides = {
            "--train_rows": train_rows,
            "--eval_rows": eval_rows,
            "--lengths": lengths,
            "--long_lengths": long_lengths,
            "--hub_dataset_id": repo_id,
        }
        manifest = {
            "builder": BUILDER,
            "generator_version": tasks.GENERATOR_VERSION,
            "hf_copycot_version": __version__,
            "seed": seed,
            "size": size,
            "repo_id": repo_id,
            "arguments": _arguments_text(
                list(plan), seed, size, overrides, len(plan) == len(tasks.TASK_NAMES)
            ),
            "configs": manifest_configs,
        }
        (staging / "README.md").write_text(render_card(manifest, staging), encoding="utf-8")
        # The marker goes last: a folder without it is never taken for a finished build.
        (staging / MARKER).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {output_dir}")
    return output_dir


def build_lock(output_dir: Path):
    """One build per output folder at a time. The lock file sits beside the folder (the build
    replaces the folder itself), and the kernel releases it when the builder exits or dies."""
    output_dir = Path(output_dir)
    lock_file = output_dir.parent / f".{output_dir.name}-build.lock"
    return folder_lock(lock_file, f"--output_dir {output_dir}", remove=True)


def verify_config(folder: str | os.PathLike, config: str) -> None:
    """Check the parquet shards of one config of a local build (every split: `datasets` prepares
    them all whichever split is asked for) against the sha256 its marker recorded;
    CorruptFileError names the damaged shard and the rebuild command. Folders that are not builds
    of this module, or older builds without digests, are left to `datasets`."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MARKER).read_text("utf-8"))
        splits = manifest["configs"][config]["splits"]
        digests = {name: d for info in splits.values() for name, d in info["file_sha256"].items()}
    except FileNotFoundError:
        return
    except KeyError:  # a build from before the digests, or no such config (`datasets` says so)
        return
    except (OSError, ValueError, TypeError, AttributeError):
        raise CorruptFileError(
            f"{folder / MARKER} is damaged; rebuild the folder with `python "
            f"dataset_scripts/build_copy_cot.py --output_dir {folder}` and the arguments its "
            "README.md records"
        ) from None
    check_digests(
        folder,
        digests,
        f"rebuild it with `python dataset_scripts/build_copy_cot.py --output_dir {folder} "
        f"{manifest.get('arguments', '')}`",
    )


def _generate_splits(
    config: str, seed: int, splits: Mapping[str, SplitPlan]
) -> dict[str, tuple[dict[str, list], dict[str, Any]]]:
    """Every split's rows and its overlap facts for the manifest. The evaluation splits are drawn
    as they are; train leaves out their problems (hf_copycot.overlap), so no evaluation prompt is
    a train prompt: `prompts_in_train` (counted, 0) and the train rows drawn again instead."""
    from hf_copycot.overlap import eval_prompts_in_train, generate_excluding

    def draw(split: str, exclude: frozenset[str] = frozenset()) -> tuple[dict[str, list], int]:
        p = splits[split]
        return generate_excluding(
            config, p.rows, exclude=exclude, seed=seed, split=split,
            min_length=p.min_length, max_length=p.max_length,
        )  # fmt: skip

    evals = {split: draw(split)[0] for split in splits if split != "train"}
    built: dict[str, tuple[dict[str, list], dict[str, Any]]] = {}
    if "train" in splits:
        keys = {split: tasks.problem_keys(config, rows) for split, rows in evals.items()}
        exclude = frozenset(key for split_keys in keys.values() for key in split_keys)
        train, replaced = draw("train", exclude)
        built["train"] = (train, {"replaced_eval_problems": replaced})
        counts = eval_prompts_in_train(tasks.problem_keys(config, train), keys)
    else:
        counts = dict.fromkeys(evals, 0)
    for split, rows in evals.items():
        built[split] = (rows, {"prompts_in_train": counts[split]})
    return {split: built[split] for split in splits}


# --- publishing ----------------------------------------------------------------------------------
def push_to_hub(
    folder: str | os.PathLike, repo_id: str, *, private: bool = False, token: str | None = None
) -> str:
    """Create the dataset repo if needed and upload the build (stale shards are deleted)."""
    folder = Path(folder)
    if not is_previous_build(folder):
        raise PublishError(f"{folder} is not a finished copy-cot build; build it first")
    manifest = json.loads((folder / MARKER).read_text("utf-8"))
    return push_folder(
        folder,
        repo_id,
        repo_type="dataset",
        kept=f"the build in {folder} is intact",
        commit_message=f"copy-cot {manifest['generator_version']}: {manifest['arguments']}",
        private=private,
        token=token,
        delete_patterns=["data/**"],
    )


# --- command line --------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + error
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _length_range(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(-?\d+):(-?\d+)", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX such as 5:20, got {text!r}")
    return int(match[1]), int(match[2])


def make_parser(prog: str = "build_copy_cot.py") -> argparse.ArgumentParser:
    parser = _Parser(
        allow_abbrev=False,
        prog=prog,
        description="Build (and optionally publish) the copy-cot dataset repo.",
    )
    parser.add_argument(
        "--output_dir", required=True, help="folder to write (new, empty or a previous build)"
    )
    parser.add_argument(
        "--configs",
        nargs="+",
        metavar="CONFIG",
        help=f"default: all of {', '.join(tasks.TASK_NAMES)}",
    )
    parser.add_argument("--seed", type=int, default=0, help="default 0")
    parser.add_argument(
        "--dataset_size", default="small", help="small (seconds) or full (the papers' scale)"
    )
    parser.add_argument("--train_rows", type=int, help="override the train rows of every config")
    parser.add_argument("--eval_rows", type=int, help="override validation/test/test_long rows")
    parser.add_argument(
        "--lengths", type=_length_range, metavar="MIN:MAX", help="train/validation/test lengths"
    )
    parser.add_argument(
        "--long_lengths", type=_length_range, metavar="MIN:MAX", help="test_long lengths"
    )
    parser.add_argument(
        "--push_to_hub", action="store_true", help="upload the build with huggingface_hub"
    )
    # The Hub flags of transformers' scripts (finetune.py's --hub_model_id, --hub_private_repo),
    # with the repo being a dataset.
    parser.add_argument(
        "--hub_dataset_id",
        metavar="ORG/NAME",
        help="the Hub dataset repo (pushed to with --push_to_hub, and named in the card)",
    )
    parser.add_argument(
        "--hub_private_repo", action="store_true", help="create the Hub repo private"
    )
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "build_copy_cot.py") -> int:
    parser = make_parser(prog)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a one-line argparse error already printed
        return int(exit_.code or 0)
    try:
        if args.push_to_hub and not args.hub_dataset_id:
            raise ArgumentError("--push_to_hub needs --hub_dataset_id ORG/NAME")
        if args.hub_dataset_id and not _REPO_ID.match(args.hub_dataset_id):
            raise ArgumentError(
                f"--hub_dataset_id {args.hub_dataset_id!r} is not of the form ORG/NAME"
            )
        folder = build_repo(
            args.output_dir,
            args.configs,
            seed=args.seed,
            size=args.dataset_size,
            train_rows=args.train_rows,
            eval_rows=args.eval_rows,
            lengths=args.lengths,
            long_lengths=args.long_lengths,
            repo_id=args.hub_dataset_id,
        )
    except CopycotError as error:  # bad flags, a busy folder, a full disk
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    if args.push_to_hub:
        try:
            url = push_to_hub(folder, args.hub_dataset_id, private=args.hub_private_repo)
        except PublishError as error:
            print(f"{prog}: error: {error}", file=sys.stderr)
            return 1
        print(f"pushed {folder} to {url}")
    return 0
