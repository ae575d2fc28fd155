"""`make gpu-check` (benchmarks/gpu_check.py): its CPU-side parts. No GPU here, so the CUDA steps
are checked for what they would run and, where they can run on a CPU, run there."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402


def test_arguments_and_plan():
    args = gpu_check.parse_args([])
    assert (args.copy_steps, args.install_timeout, args.budget) == (400, 120, 450)
    assert args.bench_lengths == [256, 1024] and not args.dry_run
    plan = "\n".join(gpu_check.plan(args))
    assert "pip install --no-build-isolation mamba-ssm causal-conv1d" in plan
    assert "bench_mamba_scan.py --device cuda --lengths 256 1024 --quick" in plan
    assert "accelerate launch --config_file configs/accelerate/single_gpu.yaml" in plan
    assert "docs/BENCHMARKS.md" in plan
    no_install = "\n".join(gpu_check.plan(gpu_check.parse_args(["--no_install", "--bench_full"])))
    assert "skipped (--no_install)" in no_install and "--quick" not in no_install
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--copy_steps", "0"])


def test_section_is_added_once_then_replaced_in_place():
    text = "# Benchmarks\n\n## Other\n\nkept\n"
    first = gpu_check.replace_section(text, "figures one")
    assert first.startswith(text.rstrip("\n")) and first.count(gpu_check.START) == 1
    assert f"{gpu_check.HEADING}\n\n{gpu_check.START}\nfigures one\n{gpu_check.END}" in first
    second = gpu_check.replace_section(first + "\n## After\n\nalso kept\n", "figures two")
    assert "figures one" not in second and "figures two" in second
    assert second.count(gpu_check.HEADING) == 1 and "also kept" in second and "kept\n" in second
    # The shipped BENCHMARKS.md already has the markers: a run replaces only its section.
    shipped = (ROOT / "docs" / "BENCHMARKS.md").read_text()
    assert shipped.count(gpu_check.START) == 1 and shipped.count(gpu_check.END) == 1
    updated = gpu_check.replace_section(shipped, "new")
    assert updated.split(gpu_check.START)[0] == shipped.split(gpu_check.START)[0]


def test_render_names_the_device_every_step_and_its_figures():
    steps = [
        gpu_check.Step("environment", "ok", "NVIDIA H100 80GB HBM3", "| python |\n|---|"),
        gpu_check.Step("install", "failed", "mamba-ssm: could not install (no network)"),
        gpu_check.Step("equivalence", "ok", "all paths match", "| path |\n|---|", seconds=12),
    ]
    body = gpu_check.render(steps, "NVIDIA H100 80GB HBM3", "2026-12-02 10:00 UTC")
    assert body.startswith("Device: **NVIDIA H100 80GB HBM3**; 2026-12-02 10:00 UTC")
    assert "| install | failed | mamba-ssm: could not install (no network) |" in body
    assert "### equivalence" in body and "### install" not in body  # no figures, no heading


def test_dry_run_on_this_cpu_reports_the_cuda_steps_skipped_and_writes_nothing(tmp_path, capsys):
    target = tmp_path / "BENCHMARKS.md"
    assert gpu_check.main(["--benchmarks_file", str(target)]) == 0
    out = capsys.readouterr().out
    assert "dry run (no CUDA device" in out
    for step in ("install", "equivalence", "throughput", "copy_pair"):
        assert f"[{step}] skipped: no CUDA device" in out
    assert "| python | torch | transformers |" in out  # the environment step still reports
    assert not target.exists() and "nothing written to" in out


def test_a_gpu_run_writes_its_section_and_fails_on_a_failed_check(tmp_path, monkeypatch):
    """main() on a (pretend) GPU: each step's record goes into the file; exit 1 on a mismatch."""
    monkeypatch.setattr(gpu_check, "_cuda", lambda: (True, "Pretend GPU"))
    env = gpu_check.Step("environment", "ok", "Pretend GPU", data={"device": "Pretend GPU"})
    monkeypatch.setattr(gpu_check, "environment", lambda: env)
    monkeypatch.setattr(gpu_check, "install", lambda a, b: gpu_check.Step("install", "ok", "x"))
    monkeypatch.setattr(
        gpu_check, "equivalence", lambda: gpu_check.Step("equivalence", "failed", "cuda differs")
    )
    monkeypatch.setattr(gpu_check, "throughput", lambda a, b: 1 / 0)  # a bug is a failed step
    monkeypatch.setattr(
        gpu_check, "copy_pair", lambda a, w, b: gpu_check.Step("copy_pair", "ok", "trained")
    )
    target = tmp_path / "BENCHMARKS.md"
    target.write_text("# Benchmarks\n")
    argv = ["--benchmarks_file", str(target), "--work_dir", str(tmp_path / "work")]
    assert gpu_check.main(argv) == 1
    text = target.read_text()
    assert "Device: **Pretend GPU**" in text
    assert "| throughput | failed | ZeroDivisionError: division by zero |" in text
    assert "| equivalence | failed | cuda differs |" in text


def test_bench_tables_keep_what_the_benchmark_printed():
    output = (
        "machine: H100, 16 cores\n\nTraining throughput, tokens/s, cuda fp32\n| L | neox |\n"
        "|---|---|\n| 256 | 1,000 |\n\n12 s, load average at the end 0.50\n"
        "min mamba/neox training throughput ratio: 0.90\n"
    )
    tables = gpu_check.bench_tables(output)
    assert tables.startswith("Training throughput") and "| 256 | 1,000 |" in tables
    assert "load average" not in tables and "machine:" not in tables
    assert tables.endswith("ratio: 0.90")


@pytest.mark.slow
def test_equivalence_check_runs_on_the_cpu():
    """The CUDA check's own code, on the CPU: chunked vs transformers' reference agree."""
    step = gpu_check.equivalence("cpu")
    assert step.status == "ok", step.line
    assert "| chunked |" in step.figures and "100%" in step.figures


@pytest.mark.slow
def test_copy_pair_runs_under_accelerate_launch_on_the_cpu(tmp_path):
    """Step 5's command lines, run at the smoke scale with the CPU config: both models train and
    the table reads their logs and eval_results.json."""
    from hf_copycot.reproduce.scales import SMOKE

    args = gpu_check.parse_args(["--copy_steps", "3"])
    cpu = ROOT / "configs" / "accelerate" / "cpu.yaml"
    step = gpu_check.copy_pair(args, tmp_path, gpu_check.Budget(600), SMOKE, cpu)
    assert step.status == "ok", step.figures
    assert (
        "| mamba-tiny | no | numba |" in step.figures and "| pythia-tiny | no | - |" in step.figures
    )
    assert (tmp_path / "mamba-tiny-copy" / "eval_results.json").exists()
