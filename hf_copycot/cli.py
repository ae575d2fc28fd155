"""The `copycot` command: one entry point, each subcommand implemented in its own module.

Subcommands import lazily so that `copycot --help` stays instant and a subcommand's heavy imports
(torch, gradio) are paid only when it runs. Every subcommand speaks the same flag vocabulary
(`hf_copycot.flags`).
"""

from __future__ import annotations

import importlib
import sys

# name -> ("module:function", one-line help). Each function takes the remaining argv and returns an
# exit code.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "hf_copycot.reproduce.cli:demo",
        "the main job on the cpu scale (what `make demo` runs): reproduce --scale cpu",
    ),
    "datasets": (
        "hf_copycot.data_tour:main",
        "build the small dataset and print a few rows of every config",
    ),
    "finetune": ("hf_copycot.finetune:main", "fine-tune a model (same flags as finetune.py)"),
    "evaluate": ("hf_copycot.evaluation:main", "score a model by greedy generation"),
    "reproduce": (
        "hf_copycot.reproduce.cli:main",
        "reproduce the papers' COPY and CoT claims: runs, report.md, plots",
    ),
    "peers": (
        "hf_copycot.peers:main",
        "import / export the peers' formats (Feng et al.'s LIS and ED files, Jelassi et al.'s "
        "copy and phone-book prompts)",
    ),
    "space": (
        "hf_copycot.spaces.copy_arena.app:main",
        "the copy arena in the browser (Gradio), on 127.0.0.1",
    ),
}


def _usage() -> str:
    width = max(len(name) for name in SUBCOMMANDS)
    lines = ["usage: copycot <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines += ["", "Run `copycot <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(
            f"copycot: error: unknown command {name!r}; choose one of: {', '.join(SUBCOMMANDS)}",
            file=sys.stderr,
        )
        return 2
    module_name, func_name = SUBCOMMANDS[name][0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
