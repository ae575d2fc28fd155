"""Outputs written whole or not at all, a trained model's card, and pushes to the Hub.

Every folder hf-copycot writes (a trained model, a checkpoint, the dataset repo, the models
`copycot reproduce` publishes) is assembled in a hidden staging folder next to it and renamed into
place (`atomic_dir`), so an interrupted write never leaves a folder that looks complete; files go
through a temporary file and a rename (`write_json`, `write_text`). `push_folder` is the one way
anything is uploaded: one line on failure, and the local folder stays as it is.

A full disk met while writing becomes one `DiskFullError` line (the previous state stays);
`file_digests` / `check_digests` record and check the sha256 of what was written, so a truncated
or altered file is reported instead of read; `folder_lock` keeps a second writer out of a folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from hf_copycot.errors import CorruptFileError, DiskFullError, FolderBusyError, PublishError


def holds_trained_model(folder: Path) -> bool:
    """Whether `folder` already has a finished model (weights and config)."""
    has_weights = any(folder.glob("*.safetensors"))
    return folder.is_dir() and has_weights and (folder / "config.json").exists()


# ---------------------------------------------------------------------------------------------
# Whole or not at all


def staging_dir(target: Path) -> Path:
    """A fresh hidden sibling of `target` (`.NAME.partial-PID-XXXX`) to assemble it in."""
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.partial-{os.getpid()}-"
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    os.chmod(staging, 0o755)  # mkdtemp makes it private; the result is an ordinary folder
    return staging


def remove_stale_staging(target: Path) -> None:
    """Delete staging folders of `target` left by writers whose process is gone."""
    for folder in target.parent.glob(f".{glob.escape(target.name)}.partial-*"):
        pid = folder.name.rsplit(".partial-", 1)[1].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (PermissionError, OverflowError):
            continue


def swap_in(staging: Path, target: Path, *, keep_old: bool = False) -> None:
    """Make `staging` the new `target`; with `keep_old`, entries of the old target that the new
    one lacks (checkpoints, tracker logs) are carried over. The old target comes back if the
    final rename fails."""
    if not target.exists():
        staging.rename(target)
        return
    if keep_old:
        for entry in target.iterdir():
            if not (staging / entry.name).exists():
                entry.rename(staging / entry.name)
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    retired.rmdir()
    target.rename(retired)
    try:
        staging.rename(target)
    except BaseException:
        retired.rename(target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(target: Path, *, keep_old: bool = False) -> Iterator[Path]:
    """Yield a staging folder; when the block ends it replaces `target` (see `swap_in`), and when
    the block raises (Ctrl-C included) it is deleted and `target` is untouched."""
    target = Path(target)
    remove_stale_staging(target)
    staging = staging_dir(target)
    try:
        yield staging
        swap_in(staging, target, keep_old=keep_old)
    except BaseException as error:
        full = is_disk_full(error, target.parent)
        shutil.rmtree(staging, ignore_errors=True)
        if full:
            raise disk_full_error(target) from None
        raise


def _umask() -> int:
    """This process's umask (os.umask can only be read by setting it; set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


NEARLY_FULL = 1 << 20  # bytes free below which a failed write is taken for a full disk


def is_disk_full(error: BaseException, folder: Path | None = None) -> bool:
    """Whether `error` is a full disk: ENOSPC / EDQUOT, the words of a library that re-raised it
    (pyarrow), or (torch.save says only "unexpected pos") any write error while `folder`'s file
    system has less than NEARLY_FULL bytes free. Call it before removing what failed to write."""
    if isinstance(error, DiskFullError) or not isinstance(error, Exception):
        return False  # already worded; Ctrl-C
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    if "No space left on device" in text or "Disk quota exceeded" in text:
        return True
    if folder is None or not isinstance(error, (OSError, RuntimeError)):
        return False
    try:
        return shutil.disk_usage(folder).free < NEARLY_FULL
    except OSError:
        return False


def disk_full_error(target: Path) -> DiskFullError:
    """A full disk met while writing `target`, in one line: what, where, and the fix."""
    return DiskFullError(
        f"no space left on the device while writing {target}; free space in {target.parent} "
        f"and run again (what was at {target} before is unchanged)"
    )


def write_text(path: Path, text: str) -> None:
    """Write through a temporary file and a rename, so a reader never sees half a file.

    The temporary name is the writer's own: two processes writing the same file (numba task
    wrappers, say) each rename a whole file, and the last one wins. The file gets the mode an
    ordinary `open` gives (0644 under the usual umask 022), not the temporary file's private 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, removed on failure)
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with tmp:
            tmp.write(text)
            os.fchmod(tmp.fileno(), 0o666 & ~_umask())
        os.replace(tmp.name, path)
    except BaseException as error:
        full = is_disk_full(error, path.parent)
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)
        if full:
            raise disk_full_error(path) from None
        raise


def write_json(path: Path, payload: dict) -> None:
    """`write_text` of `payload` as indented JSON."""
    write_text(path, json.dumps(payload, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# Digests (a truncated or altered file is never read as good) and folder locks (one writer)


def sha256_of(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by path relative to it (sorted, '/'-separated)."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): sha256_of(p) for p in files}


def check_digests(folder: Path, digests: dict[str, str], fix: str) -> None:
    """Raise CorruptFileError naming the first file of `digests` that is missing or whose bytes
    differ from its recorded sha256; `fix` says what to do (one clause)."""
    for name, expected in digests.items():
        path = Path(folder) / name
        if not path.is_file():
            raise CorruptFileError(f"{path} is missing; {fix}")
        if sha256_of(path) != expected:
            raise CorruptFileError(
                f"{path} is corrupt (its sha256 differs from the one recorded when it was "
                f"written); {fix}"
            )


@contextlib.contextmanager
def folder_lock(lock_file: Path, what: str, *, remove: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (fcntl.flock) for the block, or raise FolderBusyError
    at once when another process holds it. The kernel drops the lock when the holder exits or is
    killed, so a crash never leaves a folder locked. With `remove`, the holder deletes the file
    when done (a taker checks that the file it locked is still the one at the path)."""
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_file, "a+")  # noqa: SIM115 (held for the whole block)
    held = False
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            if remove and os.fstat(handle.fileno()).st_ino != _inode(lock_file):
                raise BlockingIOError  # its holder removed it meanwhile: another may hold a new one
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise FolderBusyError(
                f"{what} is in use by {holder} (lock {lock_file}); wait for it to finish or "
                "choose another output folder"
            ) from None
        with contextlib.suppress(OSError):  # who holds it is for the message only
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}\n")
            handle.flush()
        held = True
        yield
    finally:
        if remove and held:
            with contextlib.suppress(OSError):
                os.unlink(lock_file)
        handle.close()  # closing the descriptor releases the lock


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------
# The model card


def model_card(
    *,
    model_name: str,
    base_model: str,
    dataset: str | None,
    architecture: dict,
    hyperparameters: dict,
    eval_payload: dict,
) -> ModelCard:
    """A model card: YAML metadata (with model-index results) and a readable summary; the task and
    whether it used CoT come from `eval_payload`."""
    main_score = eval_payload["main_score"]
    task, use_cot = eval_payload["dataset_config"], eval_payload["use_cot"]
    is_hub_base = not base_model.startswith("preset:") and not Path(base_model).exists()
    is_hub_dataset = dataset is not None and not Path(dataset).exists()
    results = [
        EvalResult(
            task_type="text-generation",
            dataset_type=dataset if is_hub_dataset else "copy-cot",
            dataset_name=f"copy-cot {task}",
            dataset_config=task,
            dataset_split=split,
            metric_type=eval_payload["metric"],
            metric_name=f"{eval_payload['metric']} ({main_score})",
            metric_value=scores[main_score],
        )
        for split, scores in eval_payload["results"].items()
    ]
    data = ModelCardData(
        model_name=model_name,
        base_model=base_model if is_hub_base else None,
        datasets=[dataset] if is_hub_dataset else None,
        library_name="transformers",
        pipeline_tag="text-generation",
        license="apache-2.0",
        tags=["copy-cot", "hf-copycot", architecture.get("architecture", "causal-lm")],
        eval_results=results or None,
    )
    rows = "\n".join(
        f"| {split} | {scores['num_examples']} | {scores[main_score]:.4f} |"
        for split, scores in eval_payload["results"].items()
    )
    numbers = "\n".join(f"| {key} | {value} |" for key, value in architecture.items())
    params = "\n".join(f"| {key} | {value} |" for key, value in hyperparameters.items())
    target = "`cot + answer`" if use_cot else "`answer`, without the chain of thought"
    source = dataset or "generated on the fly by `hf_copycot.tasks` (fresh rows every step)"
    body = f"""
# {model_name}

A causal language model fine-tuned with hf-copycot on the `{task}` task of copy-cot, starting
from `{base_model}`.

- Data: {source}, config `{task}`.
- Training: loss on the completion only ({target} and EOS), never on the prompt.
- Evaluation: greedy generation scored by `{eval_payload["metric"]}`; main score `{main_score}`.

## Results

| split | examples | {main_score} |
| --- | --- | --- |
{rows}

Per-length scores are in `eval_results.json`.

## Architecture (what the theory compares)

| quantity | value |
| --- | --- |
{numbers}

## Training hyperparameters

| name | value |
| --- | --- |
{params}

## Use

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

model = AutoModelForCausalLM.from_pretrained("{model_name}")
tokenizer = AutoTokenizer.from_pretrained("{model_name}")
```
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


# ---------------------------------------------------------------------------------------------
# The Hub


def push_folder(
    folder: Path,
    repo_id: str,
    *,
    repo_type: str = "model",
    kept: str,
    commit_message: str,
    private: bool = False,
    token: str | None = None,
    ignore_patterns: Sequence[str] | None = None,
    delete_patterns: Sequence[str] | None = None,
) -> str:
    """Create the Hub repo `repo_id` if needed and upload `folder`; returns the repo's URL.

    Raises PublishError (one line: what failed, then `kept`, what stays on disk) when offline,
    without a token, or when the Hub refuses.
    """
    import huggingface_hub

    if huggingface_hub.constants.HF_HUB_OFFLINE:
        raise PublishError(
            f"could not push to {repo_id}: HF_HUB_OFFLINE is set; unset it and run again ({kept})"
        )
    token = token or huggingface_hub.get_token()
    if not token:
        raise PublishError(
            f"could not push to {repo_id}: no Hugging Face token; run `hf auth login` or set "
            f"HF_TOKEN and run again ({kept})"
        )
    api = huggingface_hub.HfApi(token=token)
    try:
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            repo_type=repo_type,
            folder_path=str(folder),
            commit_message=commit_message,
            ignore_patterns=list(ignore_patterns) if ignore_patterns else None,
            delete_patterns=list(delete_patterns) if delete_patterns else None,
        )
    except Exception as error:  # network, auth, permissions: all end the same way
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise PublishError(
            f"could not push to {repo_id}: {type(error).__name__}: {reason} ({kept}; check the "
            "token and network, then run again)"
        ) from None
    return str(url)
