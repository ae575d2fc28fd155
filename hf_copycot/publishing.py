"""Write a trained model's folder all at once, describe it in a model card, push it to the Hub.

The output folder is assembled in a staging folder next to it and swapped in with renames, so an
interrupted save never leaves a folder that looks complete. Anything already in the output folder
that the new save does not replace (checkpoints, tracker logs) is carried over.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData


def holds_trained_model(folder: Path) -> bool:
    """Whether `folder` already has a finished model (weights and config)."""
    has_weights = any(folder.glob("*.safetensors"))
    return folder.is_dir() and has_weights and (folder / "config.json").exists()


def staging_dir(output_dir: Path) -> Path:
    staging = output_dir.parent / f".{output_dir.name}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def swap_in(staging: Path, output_dir: Path) -> None:
    """Make `staging` the new `output_dir`, keeping entries of the old one that it lacks."""
    if output_dir.exists():
        for entry in output_dir.iterdir():
            if not (staging / entry.name).exists():
                entry.rename(staging / entry.name)
        retired = output_dir.parent / f".{output_dir.name}.old"
        shutil.rmtree(retired, ignore_errors=True)
        output_dir.rename(retired)
        staging.rename(output_dir)
        shutil.rmtree(retired)
    else:
        staging.rename(output_dir)


def model_card(
    *,
    model_name: str,
    base_model: str,
    dataset: str | None,
    task: str,
    use_cot: bool,
    architecture: dict,
    hyperparameters: dict,
    eval_payload: dict,
) -> ModelCard:
    """A model card: YAML metadata (with model-index results) and a readable summary."""
    main_score = eval_payload["main_score"]
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


def push_folder(folder: Path, repo_id: str, *, private: bool = False) -> str:
    """Upload `folder` (without checkpoints and logs) to the model repo `repo_id`; return its URL.

    Raises RuntimeError with a one-line message (the folder stays as it is) when the Hub cannot
    be reached or refuses.
    """
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            ignore_patterns=["checkpoints/*", "logs/*", ".*"],
            commit_message="Upload model trained with hf-copycot",
        )
    except Exception as err:  # network, auth, offline mode: all end the same way
        reason = " ".join(str(err).split()) or type(err).__name__
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
            reason = "HF_HUB_OFFLINE is set"
        raise RuntimeError(
            f"push to {repo_id!r} failed ({reason[:200]}); the model is saved in {folder}; "
            f"upload it later with `hf upload {repo_id} {folder}`"
        ) from err
    return f"https://huggingface.co/{repo_id}"


def write_json(path: Path, payload: dict) -> None:
    """Write JSON through a temporary file and a rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)
