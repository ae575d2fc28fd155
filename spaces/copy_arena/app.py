"""Copy arena: a Mamba and a Transformer copy the same string side by side.

Run `python spaces/copy_arena/app.py` (or `copycot space`, `make space`); `--help` lists the options.
On the Hugging Face Hub this file is the Space's app; installed, it is `hf_copycot.spaces.copy_arena.app`
(what `copycot space` runs). The logic lives in `hf_copycot.arena`; this file lays it out and
serves it.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections.abc import Sequence
from pathlib import Path

# Offline by default: no telemetry or version check, whatever the environment says.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

try:
    from hf_copycot import arena
except ImportError:  # a clone run without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from hf_copycot import arena

import gradio as gr
import pandas as pd

from hf_copycot.paths import models_dir

# Hub checkpoints offered by default when running as a Space on the Hub (which can reach it).
HUB_MODELS_A = ("state-spaces/mamba-130m-hf",)
HUB_MODELS_B = ("EleutherAI/pythia-160m",)
SWEEP_COLUMNS = ["model", "length", "exact_match", "char_accuracy", "examples"]
COLOR_MAP = {arena.WRONG: "#ef4444", arena.NOT_GENERATED: "#9ca3af"}
CSS = """
#output-a, #output-b { font-family: var(--font-mono); }
.arena-note { color: var(--body-text-color-subdued); font-size: var(--text-sm); }
"""
INTRO = """# Copy arena: Mamba vs Transformer
Both models get the same prompt, in the format of the
[copy-cot](https://huggingface.co/datasets/hf-copycot/copy-cot) dataset, and continue it greedily.
The first wrong character and everything after it is **red**; expected characters a model never
wrote are **grey**. A Transformer's KV cache grows with every token; Mamba's state does not.
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="copycot space",
        description="Serve the copy arena (Gradio) and print its URL.",
    )
    parser.add_argument(
        "--model_a",
        action="append",
        default=[],
        help="a folder or Hub id for column A (repeatable; env COPYCOT_MODEL_A, comma-separated)",
    )
    parser.add_argument("--model_b", action="append", default=[], help="the same for column B")
    parser.add_argument(
        "--models_dir",
        type=Path,
        default=None,
        help="where to look for trained models (default: hf_copycot.paths.models_dir())",
    )
    parser.add_argument(
        "--host",
        default=env.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="address to serve on (default 127.0.0.1, or GRADIO_SERVER_NAME)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(env["GRADIO_SERVER_PORT"]) if env.get("GRADIO_SERVER_PORT") else None,
        help="default: the first free port from 7860",
    )
    parser.add_argument(
        "--max_input_chars",
        type=int,
        default=int(env.get("COPYCOT_MAX_INPUT_CHARS", 4000)),
        help="longest typed string accepted (default 4000, or COPYCOT_MAX_INPUT_CHARS)",
    )
    parser.add_argument(
        "--max_new_tokens",
        type=int,
        default=int(env.get("COPYCOT_MAX_NEW_TOKENS", 512)),
        help="most tokens a model writes per race (default 512, or COPYCOT_MAX_NEW_TOKENS)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=int(env.get("COPYCOT_CONCURRENCY", 1)),
        help="generations running at once (the others wait in the queue)",
    )
    parser.add_argument(
        "--queue_size",
        type=int,
        default=int(env.get("COPYCOT_QUEUE_SIZE", 16)),
        help="requests waiting at most (default 16, or COPYCOT_QUEUE_SIZE)",
    )
    parser.add_argument(
        "--dtype", default=None, help="float32 (default), bfloat16, float16 or auto"
    )
    parser.add_argument(
        "--skip_training",
        action="store_true",
        help="when no trained Mamba / Transformer pair is found, offer untrained presets instead "
        "of training the copy pair first (what `make demo` trains; a few minutes on a CPU)",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.model_a += [name for name in env.get("COPYCOT_MODEL_A", "").split(",") if name]
    args.model_b += [name for name in env.get("COPYCOT_MODEL_B", "").split(",") if name]
    if env.get("SPACE_ID"):  # running on the Hub
        args.model_a += [name for name in HUB_MODELS_A if name not in args.model_a]
        args.model_b += [name for name in HUB_MODELS_B if name not in args.model_b]
    for name in ("max_input_chars", "max_new_tokens", "concurrency", "queue_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def build_demo(args: argparse.Namespace, registry: arena.ModelRegistry | None = None) -> gr.Blocks:
    """The arena's Blocks, wired to `registry` (a new one if None)."""
    registry = registry or arena.ModelRegistry(dtype=args.dtype)
    discovered = arena.discover_models(args.models_dir or models_dir())
    choices_a, default_a = arena.column_choices(discovered, args.model_a, arena.MAMBA_TYPES)
    choices_b, default_b = arena.column_choices(discovered, args.model_b, arena.TRANSFORMER_TYPES)
    cap = args.max_input_chars
    max_length = max(1, min(cap - 8, 500))

    def example_from(task, text, seed, length, entries):
        return arena.build_example(
            task,
            text or "",
            seed=int(seed or 0),
            length=int(length),
            num_entries=int(entries),
            max_input_chars=cap,
        )

    def preview(task, text, seed, length, entries):
        try:
            example = example_from(task, text, seed, length, entries)
        except arena.ArenaError as err:
            return "", "", f"**Cannot build the prompt:** {err}"
        note = f" · {example.note}" if example.note else ""
        return (
            example.prompt,
            example.expected,
            f"length {example.length} · prompt {len(example.prompt):,} characters{note}",
        )

    def show_controls(task):
        string_task = task in arena.typed_tasks()
        entries = arena.size_control(task) == "entries"
        return (
            gr.update(visible=string_task),
            gr.update(visible=string_task),
            gr.update(visible=not entries),
            gr.update(visible=entries),
            gr.update(value="random string" if string_task else "new example"),
        )

    def new_random(task, length, alphabet_name, text):
        seed = random.randrange(1_000_000)
        if task in arena.typed_tasks():
            try:
                text = arena.random_string(task, int(length), arena.ALPHABETS[alphabet_name], seed)
            except arena.ArenaError as err:
                raise gr.Error(str(err), print_exception=False) from None
        return seed, text

    def run(task, text, seed, length, entries, model_a, model_b):
        try:
            example = example_from(task, text, seed, length, entries)
        except arena.ArenaError as err:
            raise gr.Error(str(err), print_exception=False) from None
        for a, b in arena.race(example, [model_a, model_b], registry, args.max_new_tokens):
            yield (
                arena.highlight(a.text, example.expected, finished=a.status != "running"),
                arena.stats_markdown(a, example.expected),
                arena.highlight(b.text, example.expected, finished=b.status != "running"),
                arena.stats_markdown(b, example.expected),
            )

    def plot_of(rows, metric):
        frame = pd.DataFrame(rows, columns=SWEEP_COLUMNS)
        return gr.LinePlot(value=frame, y=metric, y_title=metric.replace("_", " "))

    def run_sweep(task, lengths_text, per_length, seed, alphabet_name, model_a, model_b, metric):
        try:
            lengths = arena.parse_lengths(lengths_text, max_length)
        except arena.ArenaError as err:
            raise gr.Error(str(err), print_exception=False) from None
        results = arena.sweep(
            task,
            lengths,
            [model_a, model_b],
            registry,
            examples_per_length=int(per_length),
            seed=int(seed or 0),
            alphabet=arena.ALPHABETS[alphabet_name],
            max_new_tokens=args.max_new_tokens,
            max_input_chars=cap,
        )
        try:
            for rows, errors in results:
                done = sorted({row["length"] for row in rows})
                status = f"lengths done: {', '.join(map(str, done)) or 'none'}"
                if errors:
                    status += " · " + " · ".join(errors)
                yield rows, plot_of(rows, metric), pd.DataFrame(rows, columns=SWEEP_COLUMNS), status
        except arena.ArenaError as err:
            raise gr.Error(str(err), print_exception=False) from None

    first_text = arena.random_string("copy", 20, arena.ALPHABETS["lowercase a-z"], 0)
    first_prompt, first_expected, first_status = preview("copy", first_text, 0, 20, 10)

    with gr.Blocks(title="Copy arena", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            task = gr.Dropdown(arena.task_choices(), value="copy", label="Task")
            alphabet = gr.Dropdown(list(arena.ALPHABETS), value="lowercase a-z", label="Alphabet")
            length = gr.Slider(1, max_length, value=20, step=1, label="Length")
            entries = gr.Slider(3, 200, value=10, step=1, label="Phone book entries", visible=False)
            seed = gr.Number(0, precision=0, label="Seed", minimum=0)
        with gr.Row(equal_height=True):
            text = gr.Textbox(
                first_text,
                label="String to copy or search",
                placeholder="type a string, or press 'random string'",
                max_length=cap,
                scale=4,
                elem_id="input-text",
            )
            random_button = gr.Button("random string", scale=1, elem_id="random")
        with gr.Row():
            prompt_box = gr.Textbox(
                first_prompt, label="Prompt the models see", interactive=False, lines=2
            )
            expected_box = gr.Textbox(
                first_expected, label="Expected continuation", interactive=False, lines=2
            )
        input_status = gr.Markdown(first_status, elem_classes="arena-note", elem_id="input-status")
        run_button = gr.Button("Run both models", variant="primary", elem_id="run")
        columns = []
        with gr.Row():
            for column, choices, default, kind in (
                ("A", choices_a, default_a, "a Mamba"),
                ("B", choices_b, default_b, "a Transformer (Pythia / GPT-NeoX)"),
            ):
                with gr.Column(), gr.Group():
                    dropdown = gr.Dropdown(
                        [(choice.label, choice.name_or_path) for choice in choices],
                        value=default,
                        allow_custom_value=True,
                        label=f"Model {column}: {kind}",
                        info="a trained model, a local folder or a Hub id",
                        elem_id=f"model-{column.lower()}",
                    )
                    output = gr.HighlightedText(
                        label=f"Model {column} output",
                        color_map=COLOR_MAP,
                        show_legend=True,
                        combine_adjacent=True,
                        elem_id=f"output-{column.lower()}",
                    )
                    stats = gr.Markdown(elem_id=f"stats-{column.lower()}")
                columns.append((dropdown, output, stats))
        (model_a, output_a, stats_a), (model_b, output_b, stats_b) = columns
        with gr.Accordion("Sweep: accuracy vs length", open=True):
            with gr.Row():
                sweep_lengths = gr.Textbox("5, 10, 20, 40", label="Lengths", scale=2)
                per_length = gr.Slider(1, 20, value=3, step=1, label="Examples per length")
                metric = gr.Radio(
                    [("exact match", "exact_match"), ("character accuracy", "char_accuracy")],
                    value="exact_match",
                    label="Plot",
                )
                sweep_button = gr.Button("Sweep", elem_id="sweep")
            sweep_status = gr.Markdown(elem_classes="arena-note", elem_id="sweep-status")
            sweep_rows = gr.State([])
            plot = gr.LinePlot(
                x="length",
                y="exact_match",
                color="model",
                y_lim=[0, 1],
                x_title="length",
                y_title="exact match",
                label="Accuracy vs length",
            )
            table = gr.Dataframe(
                pd.DataFrame(columns=SWEEP_COLUMNS),
                label="Sweep results",
                interactive=False,
                elem_id="sweep-table",
            )

        example_inputs = [task, text, seed, length, entries]
        gr.on(
            [task.change, text.change, seed.change, length.change, entries.change],
            preview,
            example_inputs,
            [prompt_box, expected_box, input_status],
            concurrency_limit=None,
            show_progress="hidden",
        )
        task.change(
            show_controls,
            task,
            [text, alphabet, length, entries, random_button],
            concurrency_limit=None,
            show_progress="hidden",
        )
        random_button.click(
            new_random, [task, length, alphabet, text], [seed, text], concurrency_limit=None
        )
        # Generation and sweeps share one limit: at most args.concurrency run at once.
        run_button.click(
            run,
            [*example_inputs, model_a, model_b],
            [output_a, stats_a, output_b, stats_b],
            concurrency_id="models",
            concurrency_limit=args.concurrency,
        )
        sweep_button.click(
            run_sweep,
            [task, sweep_lengths, per_length, seed, alphabet, model_a, model_b, metric],
            [sweep_rows, plot, table, sweep_status],
            concurrency_id="models",
            concurrency_limit=args.concurrency,
        )
        metric.change(plot_of, [sweep_rows, metric], plot, concurrency_limit=None)
    demo.queue(max_size=args.queue_size, default_concurrency_limit=args.concurrency)
    return demo


def launch(demo: gr.Blocks, args: argparse.Namespace) -> str:
    """Start the server without blocking; returns the local URL."""
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        prevent_thread_lock=True,
        quiet=True,
        show_error=True,
        css=CSS,
        ssr_mode=False,
    )
    return demo.local_url


def needs_copy_pair(args: argparse.Namespace) -> bool:
    """No model was named and the models folder lacks a trained Mamba or a trained Transformer."""
    if args.model_a or args.model_b or args.skip_training:
        return False
    kinds = {c.architecture for c in arena.discover_models(args.models_dir or models_dir())}
    return not (kinds & set(arena.MAMBA_TYPES) and kinds & set(arena.TRANSFORMER_TYPES))


def ensure_copy_pair(args: argparse.Namespace, scale: str = "cpu") -> None:
    """Train the copy pair before serving, rather than racing two untrained models."""
    if not needs_copy_pair(args):
        return
    from hf_copycot.reproduce.runs import train_copy_pair

    target = args.models_dir or models_dir()
    print(
        f"No trained copy pair in {target}: training the pair `make demo` trains first "
        "(seed 0 of the copy study; a few minutes on a CPU, reused by `make demo` later). "
        "Pass --skip_training to serve untrained presets instead.",
        flush=True,
    )
    for folder in train_copy_pair(scale, target=target):
        print(f"trained {folder}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_copy_pair(args)
    demo = build_demo(args)
    url = launch(demo, args)
    print(f"Copy arena running at {url} (Ctrl+C to stop)", flush=True)
    demo.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
