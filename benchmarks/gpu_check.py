"""`make gpu-check`: what this project has never run on a GPU, in one prepared run (under 8 minutes
on one modern GPU), every figure written to docs/BENCHMARKS.md with the device's name.

Steps (`--dry_run` prints them and runs none of the CUDA ones; without a CUDA device it is a dry run):
  1. environment: Python, torch and its CUDA, the GPU, the packages that matter;
  2. install the GPU extra (mamba-ssm, causal-conv1d) with pip where it can be had; what cannot
     install (no network, no wheel for this torch and CUDA, a source build over the time limit) is
     recorded and the check goes on without it;
  3. equivalence on CUDA, float32: the "chunked" scan and mamba-ssm's kernels ("cuda", where they
     import) against transformers' PyTorch reference: logits and every gradient of a training
     step, and greedy generate;
  4. training throughput, float32 and bf16, of each scan path and a same-size GPT-NeoX:
     benchmarks/bench_mamba_scan.py --device cuda;
  5. a short gpu-scale copy pair (mamba-base and pythia-base with the gpu scale's batch, learning
     rate and lengths, `--copy_steps` updates) under `accelerate launch --config_file
     configs/accelerate/single_gpu.yaml` (bf16);
  6. docs/BENCHMARKS.md: the section between the gpu-check markers replaced by this run's.

Which Python: the one it is run with (`make gpu-check` passes GPU_PYTHON, by default the machine's
`python3`), because the project's .venv pins the CPU build of torch. Use the environment you would
train in, with a CUDA build of torch; this project is imported from the clone (PYTHONPATH) and
step 2 installs only the GPU extra into that environment (`--no_install` installs nothing).

    python benchmarks/gpu_check.py                  # on the GPU machine
    python benchmarks/gpu_check.py --dry_run        # the plan, anywhere
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import importlib
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"
START = "<!-- gpu-check: start (benchmarks/gpu_check.py replaces this section on each run) -->"
END = "<!-- gpu-check: end -->"
HEADING = "## GPU check (`make gpu-check`)"
GPU_EXTRA = ("mamba-ssm", "causal-conv1d")
SINGLE_GPU = ROOT / "configs" / "accelerate" / "single_gpu.yaml"
# transformers' reference and ours should agree to float32 rounding; mamba-ssm's kernels sum in
# another order (tests/test_mamba_scan.py uses the same bounds).
TOLERANCE = {"chunked": 1e-5, "cuda": 1e-3}
STEPS = ("environment", "install", "equivalence", "throughput", "copy_pair", "write")


@dataclass
class Budget:
    """The run's time limit: a step's subprocess gets at most its own cap and what the later steps
    leave it (so the whole check ends within `--budget` seconds plus the in-process check)."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def left(self, reserve: float = 0.0, cap: float = float("inf")) -> float:
        return max(0.0, min(cap, self.seconds - (time.monotonic() - self.started) - reserve))


@dataclass
class Step:
    """What one step did: `status` ok / failed / skipped, one line, and its markdown figures."""

    name: str
    status: str
    line: str
    figures: str = ""
    seconds: float = 0.0
    data: dict = field(default_factory=dict)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry_run", action="store_true", help="print the plan, run no CUDA step")
    parser.add_argument("--no_install", action="store_true", help="install nothing (step 2)")
    parser.add_argument(
        "--install_timeout", type=int, default=120, help="seconds for all of step 2"
    )
    parser.add_argument(
        "--budget", type=int, default=450, help="seconds for the whole check (under 8 minutes)"
    )
    parser.add_argument(
        "--bench_full", action="store_true", help="step 4 also times mambapy and the reference"
    )
    parser.add_argument(
        "--bench_lengths", type=int, nargs="+", default=[256, 1024], help="step 4's L"
    )
    parser.add_argument("--copy_steps", type=int, default=400, help="step 5's updates per model")
    parser.add_argument(
        "--benchmarks_file", type=Path, default=BENCHMARKS, help="where step 6 writes"
    )
    parser.add_argument(
        "--work_dir", type=Path, default=ROOT / "outputs" / "gpu-check", help="models and logs"
    )
    args = parser.parse_args(argv)
    if args.copy_steps < 1 or args.budget < 1 or min(args.bench_lengths) < 1:
        parser.error("--copy_steps, --budget and --bench_lengths must be positive")
    if args.install_timeout < 0:
        parser.error("--install_timeout must be 0 or more")
    return args


def plan(args: argparse.Namespace) -> list[str]:
    """The steps, as one line each, with the commands they run."""
    lengths = " ".join(map(str, args.bench_lengths))
    install = (
        "skipped (--no_install)"
        if args.no_install
        else f"{sys.executable} -m pip install --no-build-isolation {' '.join(GPU_EXTRA)} "
        f"(where missing; {args.install_timeout} s at most)"
    )
    return [
        "1. environment: Python, torch, CUDA, the GPU, packages",
        f"2. install the GPU extra: {install}",
        "3. equivalence on CUDA: chunked and cuda (mamba-ssm) vs transformers' reference: "
        "logits, gradients, greedy generate",
        f"4. throughput: benchmarks/bench_mamba_scan.py --device cuda --lengths {lengths}"
        + ("" if args.bench_full else " --quick"),
        f"5. copy pair: accelerate launch --config_file {_shown(SINGLE_GPU)} "
        f"hf_copycot/finetune.py (mamba-base, pythia-base; gpu scale; {args.copy_steps} updates)",
        f"6. write the '{HEADING[3:]}' section of {_shown(args.benchmarks_file)}",
        f"   (every subprocess within a budget of {args.budget} s)",
    ]


def _shown(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(ROOT))
    return str(path)


def _cuda() -> tuple[bool, str]:
    """Whether a CUDA device is usable here, and why not."""
    try:
        import torch
    except ImportError:
        return False, "torch does not import"
    if not torch.cuda.is_available():
        build = torch.version.cuda or "a CPU-only build"
        return False, f"no CUDA device (torch {torch.__version__}, {build})"
    return True, torch.cuda.get_device_name()


# ---------------------------------------------------------------------------------------------
# The steps


def environment() -> Step:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in ("torch", "transformers", "accelerate", "mamba-ssm", "causal-conv1d", "mambapy"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    ok, device = _cuda()
    if ok:
        import torch

        versions["cuda"] = torch.version.cuda
        props = torch.cuda.get_device_properties(0)
        device = (
            f"{device}, {props.total_memory / 2**30:.0f} GiB, compute {props.major}.{props.minor}"
        )
    figures = "| " + " | ".join(versions) + " |\n|" + "---|" * len(versions) + "\n| "
    figures += " | ".join(versions.values()) + " |"
    return Step("environment", "ok", device, figures, data={"device": device, **versions})


def _run_group(command: list[str], timeout: float, **kwargs) -> tuple[int | None, str]:
    """Run `command` in its own process group; on timeout end that group (what it started too,
    e.g. a compiler under pip). Returns (exit code or None on timeout, output)."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **kwargs,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        return process.returncode, output
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return None, output


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


PROJECT_MODULES = ("transformers", "accelerate", "datasets", "evaluate", "numba", "matplotlib")


def install(args: argparse.Namespace, budget: Budget) -> Step:
    """pip install of what is missing, within `--install_timeout` in all; never fatal: first this
    project's dependencies (`pip install -e .`, keeping the CUDA torch there is), then the GPU
    extra (mamba-ssm, causal-conv1d; they build against that torch, hence no build isolation)."""
    from importlib.util import find_spec

    wanted = {"mamba-ssm": "mamba_ssm", "causal-conv1d": "causal_conv1d"}
    commands = []
    if any(find_spec(module) is None for module in PROJECT_MODULES):
        commands.append(("hf-copycot's dependencies", ["-e", str(ROOT)]))
    missing = [name for name, module in wanted.items() if find_spec(module) is None]
    if missing:
        commands.append((", ".join(missing), ["--no-build-isolation", *missing]))
    if not commands:
        return Step("install", "ok", f"nothing to install; kernels {_kernels_state()}")
    if args.no_install:
        names = "; ".join(name for name, _ in commands)
        return Step("install", "skipped", f"--no_install: not installed: {names}")
    limit = budget.left(reserve=300, cap=args.install_timeout)
    started = time.perf_counter()
    outcomes = []
    for name, pip_args in commands:
        left = limit - (time.perf_counter() - started)
        if left <= 0:
            outcomes.append(f"{name}: not tried (time limit)")
            continue
        command = [sys.executable, "-m", "pip", "install", "--retries", "1", "--timeout", "15"]
        code, output = _run_group([*command, *pip_args], left)
        if code == 0:
            outcomes.append(f"{name}: installed")
        elif code is None:
            outcomes.append(f"{name}: stopped at the {limit:.0f} s limit (a source build?)")
        else:
            outcomes.append(f"{name}: could not install ({_last_line(output)})")
    importlib.invalidate_caches()
    state = _kernels_state()
    status = "ok" if state == "import" else "failed"
    return Step("install", status, "; ".join(outcomes) + f"; kernels {state}")


def _kernels_state() -> str:
    from hf_copycot.mamba_scan import cuda_kernels_available

    cuda_kernels_available.cache_clear()
    return "import" if cuda_kernels_available() else "do not import"


def _rel(ours, ref) -> float:
    return ((ours - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def equivalence(device: str = "cuda") -> Step:
    """Each fast path against transformers' PyTorch reference, on `device` (CUDA; the tests run
    it on the CPU), float32."""
    import torch
    import transformers
    from transformers import MambaConfig, MambaForCausalLM

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_mamba_scan import _use_transformers_fallback

    from hf_copycot.mamba_scan import cuda_kernels_available, enable_fast_mamba

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    config = MambaConfig(vocab_size=64, hidden_size=64, state_size=16, num_hidden_layers=2)
    base = MambaForCausalLM(config).to(device)
    ids = torch.randint(0, 64, (4, 64), device=device)
    prompts = ids[:, :16]

    def run(model) -> tuple:
        model.train()
        model.zero_grad(set_to_none=True)
        out = model(ids, labels=ids)
        out.loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        model.eval()
        with torch.no_grad():
            tokens = model.generate(
                prompts,
                attention_mask=torch.ones_like(prompts),
                max_new_tokens=32,
                min_new_tokens=32,
                do_sample=False,
                pad_token_id=0,
            )
        return out.logits.detach(), grads, tokens

    kernels = device == "cuda" and cuda_kernels_available()
    reference = copy.deepcopy(base)
    enable_fast_mamba(reference, "reference")
    restore = _use_transformers_fallback() if kernels else (lambda: None)
    try:
        ref_logits, ref_grads, ref_tokens = run(reference)
    finally:
        restore()
    rows, failures = [], []
    for path in ["chunked", *(["cuda"] if kernels else [])]:
        model = copy.deepcopy(base)
        enable_fast_mamba(model, path)
        logits, grads, tokens = run(model)
        worst = max(grads, key=lambda name: _rel(grads[name], ref_grads[name]))
        grad_error = _rel(grads[worst], ref_grads[worst])
        same = (tokens == ref_tokens).all(dim=1).float().mean().item()
        logit_error = _rel(logits, ref_logits)
        ok = max(logit_error, grad_error) < TOLERANCE[path] and same == 1.0
        rows.append(
            f"| {path} | {logit_error:.1e} | {grad_error:.1e} ({worst}) | {same:.0%} "
            f"| {'yes' if ok else '**no**'} (< {TOLERANCE[path]:g}) |"
        )
        if not ok:
            failures.append(path)
    figures = (
        "| path | logits, max rel. error | gradients, worst rel. error | greedy generate, "
        "identical rows | within tolerance |\n|---|---|---|---|---|\n" + "\n".join(rows)
    )
    skipped = "" if kernels else "; cuda: skipped (mamba-ssm kernels do not import)"
    line = ("all paths match" if not failures else f"mismatch: {', '.join(failures)}") + skipped
    return Step("equivalence", "failed" if failures else "ok", line, figures)


def throughput(args: argparse.Namespace, budget: Budget) -> Step:
    """benchmarks/bench_mamba_scan.py --device cuda, its tables kept as they print."""
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_mamba_scan.py"), "--device", "cuda"]
    command += ["--lengths", *map(str, args.bench_lengths)]
    command += [] if args.bench_full else ["--quick"]
    limit = budget.left(reserve=150, cap=300)
    code, output = _run_group(command, limit, env=_env())
    tables = bench_tables(output)
    if code != 0:
        reason = f"stopped at the {limit:.0f} s limit" if code is None else _last_line(output)
        return Step("throughput", "failed", reason, tables)
    ratio = re.search(r"ratio: (\S+)", output)
    line = f"min chunked / GPT-NeoX training ratio {ratio[1] if ratio else '?'}"
    return Step("throughput", "ok", line, tables)


def bench_tables(output: str) -> str:
    """The tables bench_mamba_scan.py printed, from the first title on, without its timing line."""
    lines = output.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("Training")), len(lines))
    return "\n".join(line for line in lines[first:] if not re.match(r"\d+ s, load", line)).strip()


def _env() -> dict:
    """This environment with the clone importable (the subprocesses import hf_copycot from it)."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def copy_pair(
    args: argparse.Namespace,
    out_dir: Path,
    budget: Budget,
    scale=None,
    config_file: Path = SINGLE_GPU,
) -> Step:
    """The scale's (gpu) copy runs, shortened to `--copy_steps`, under accelerate launch with
    `config_file` (one GPU, bf16); the tests run it on the CPU with the smoke scale."""
    from hf_copycot.flags import to_argv
    from hf_copycot.reproduce.runs import copy_run
    from hf_copycot.reproduce.scales import GPU

    scale = scale or GPU
    rows, failures = [], []
    env = _env()
    for index, model in enumerate((scale.mamba, scale.transformer)):
        job = copy_run(scale, model, 0)
        model_args, data_args, training = job.args
        out = out_dir / f"{model}-copy"
        short = (
            model_args,
            replace(data_args, max_eval_examples=200, eval_splits="test"),
            replace(
                training,
                output_dir=str(out),
                overwrite_output_dir=True,
                max_steps=args.copy_steps,
                eval_steps=None,
                early_stopping_score=None,  # a fixed number of updates: a throughput check
                warmup_steps=min(training.warmup_steps, args.copy_steps // 10),
            ),
        )
        command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file"]
        command += [str(config_file), str(ROOT / "hf_copycot" / "finetune.py"), *to_argv(*short)]
        started = time.perf_counter()
        limit = budget.left(reserve=60 if index == 0 else 0, cap=150)
        code, output = _run_group(command, limit, env=env, cwd=ROOT)
        seconds = time.perf_counter() - started
        (out_dir / f"{model}-copy.log").write_text(output)
        if code != 0:
            failures.append(model)
            why = f"stopped at the {limit:.0f} s limit" if code is None else _last_line(output)
            rows.append(f"| {model} | failed: {why} | | | | |")
            continue
        results = json.loads((out / "eval_results.json").read_text())
        precision = re.search(r"Mixed precision type: (\w+)", output)  # Accelerate's state
        rates = [float(x) for x in re.findall(r"\(([\d.]+) target tok/s\)", output)]
        score = results["results"]["test"][results["main_score"]]
        rows.append(
            f"| {model} | {precision[1] if precision else '?'} | {results.get('mamba_scan') or '-'} | "
            f"{statistics.median(rates) if rates else float('nan'):,.0f} | {score:.3f} | "
            f"{seconds:.0f} s |"
        )
    figures = (
        f"{scale.name} scale, {args.copy_steps} updates, batch {scale.batch_size}, lr "
        + ", ".join(
            f"{m} {scale.learning_rate('copy', m):g}" for m in (scale.mamba, scale.transformer)
        )
        + f", copy lengths {scale.copy_lengths[0]}-{scale.copy_lengths[1]}, "
        f"200 test rows, `accelerate launch --config_file {_shown(config_file)}`:\n\n"
        "| model | precision | scan | target tokens/s (median of logged) | test exact match | "
        "wall (launch to saved) |\n|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    line = (
        "both trained under accelerate launch" if not failures else f"failed: {', '.join(failures)}"
    )
    return Step("copy_pair", "failed" if failures else "ok", line, figures)


# ---------------------------------------------------------------------------------------------
# The BENCHMARKS.md section


def render(steps: list[Step], device: str, when: str) -> str:
    """The section's body: device, date, one line per step, then each step's figures."""
    lines = [
        f"Device: **{device}**; {when}; `python benchmarks/gpu_check.py` "
        f"({sum(step.seconds for step in steps):.0f} s).",
        "",
        "| step | status | what happened |",
        "|---|---|---|",
    ]
    lines += [f"| {step.name} | {step.status} | {step.line} |" for step in steps]
    for step in steps:
        if step.figures:
            lines += ["", f"### {step.name}", "", step.figures.strip()]
    return "\n".join(lines)


def replace_section(text: str, body: str) -> str:
    """`text` with the gpu-check section's body replaced (or the section added at the end)."""
    block = f"{START}\n{body.strip()}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        return head + block + rest.split(END, 1)[1]
    return text.rstrip("\n") + f"\n\n{HEADING}\n\n{block}\n"


# ---------------------------------------------------------------------------------------------


def _timed(name: str, function, *arguments) -> Step:
    started = time.perf_counter()
    try:
        step = function(*arguments)
    except Exception as error:  # one step's failure is a figure too; the others still run
        step = Step(name, "failed", f"{type(error).__name__}: {error}".splitlines()[0][:200])
    step.seconds = step.seconds or time.perf_counter() - started
    print(f"[{step.name}] {step.status}: {step.line} ({step.seconds:.0f} s)", flush=True)
    return step


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if str(ROOT) not in sys.path:  # this clone's hf_copycot, whatever is installed
        sys.path.insert(0, str(ROOT))
    print("gpu-check plan:")
    for line in plan(args):
        print(f"  {line}")
    ok, why = _cuda()
    dry = args.dry_run or not ok
    if dry:
        reason = "--dry_run" if args.dry_run else why
        print(f"dry run ({reason}): the CUDA steps are skipped")
    steps = [_timed("environment", environment)]
    print(steps[0].figures)
    if dry:
        skipped = "skipped: " + ("--dry_run" if args.dry_run else why)
        steps += [Step(name, "skipped", skipped) for name in STEPS[1:-1]]
        for step in steps[1:]:
            print(f"[{step.name}] {step.line}")
        print(f"nothing written to {_shown(args.benchmarks_file)} (no figure was measured)")
        return 0
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    budget = Budget(args.budget)
    steps.append(_timed("install", install, args, budget))
    steps.append(_timed("equivalence", equivalence))
    steps.append(_timed("throughput", throughput, args, budget))
    steps.append(_timed("copy_pair", copy_pair, args, work, budget))
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = render(steps, steps[0].data.get("device", why), when)
    path = args.benchmarks_file
    from hf_copycot.publishing import write_text

    write_text(path, replace_section(path.read_text() if path.exists() else "# Benchmarks\n", body))
    print(f"wrote the gpu-check section of {_shown(path)}; logs in {_shown(work)}")
    return 1 if any(step.status == "failed" for step in steps[2:]) else 0


if __name__ == "__main__":
    sys.exit(main())
