"""reproduce/ in three parts: what runs (runs.py), what it means (studies/: pure jobs, numbers,
verdict), how it reads (prose/, report.py). The import rules are checked on the source; the
numbers -> verdict -> prose path on synthetic run results, with no training."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pytest

from hf_copycot.reproduce import statistics
from hf_copycot.reproduce.prose import PROSE
from hf_copycot.reproduce.runner import Job, unique_jobs
from hf_copycot.reproduce.scales import SCALES
from hf_copycot.reproduce.studies import STUDIES, copy_length, state_size

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "hf_copycot" / "reproduce"
STUDY_PACKAGE = "hf_copycot.reproduce.studies"
PROSE_PACKAGE = "hf_copycot.reproduce.prose"


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, `from X import Y` counted as X and X.Y."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def reaches(path: Path, package: str) -> set[str]:
    return {name for name in imports_of(path) if name == package or name.startswith(package + ".")}


def test_every_study_has_its_prose_and_nothing_else_does():
    assert list(PROSE) == [study.NAME for study in STUDIES]
    files = {p.stem for p in (PACKAGE / "studies").glob("*.py")} - {"__init__"}
    assert files == {p.stem for p in (PACKAGE / "prose").glob("*.py")} - {"__init__"} == set(PROSE)


@pytest.mark.parametrize("study", [s.NAME for s in STUDIES])
def test_a_study_imports_no_other_study_no_prose_and_draws_nothing(study):
    source = PACKAGE / "studies" / f"{study}.py"
    assert not reaches(source, STUDY_PACKAGE), "a study reaches another through runs.py"
    assert not reaches(source, PROSE_PACKAGE)
    assert not {"hf_copycot.reproduce.plots", "hf_copycot.reproduce.report"} & imports_of(source)


@pytest.mark.parametrize("study", [s.NAME for s in STUDIES])
def test_prose_reads_only_its_own_study(study):
    reached = reaches(PACKAGE / "prose" / f"{study}.py", STUDY_PACKAGE) - {STUDY_PACKAGE}
    assert reached and all(name.startswith(f"{STUDY_PACKAGE}.{study}") for name in reached)


@pytest.mark.parametrize(
    "path",
    [
        "hf_copycot/reproduce/runs.py",
        "hf_copycot/reproduce/tune.py",
        "hf_copycot/reproduce/gpu_hours.py",
        "hf_copycot/reproduce/report.py",
        "hf_copycot/reproduce/statistics.py",
        "spaces/copy_arena/app.py",
        "benchmarks/gpu_check.py",
        "benchmarks/pilots.py",
    ],
)
def test_what_runs_imports_no_study(path):
    assert not reaches(REPO / path, STUDY_PACKAGE) and not reaches(REPO / path, PROSE_PACKAGE)


class World:
    """Synthetic results for every job of a scale: a Mamba that copies its training range and
    nothing beyond, a Hard-ALiBi Transformer that copies everything, a RoPE/NoPE one in between;
    the longest length a shallow Mamba copies grows with d_state; DP accuracies per lag."""

    def __init__(self, scale, alibi_beyond: float = 1.0):
        self.scale = scale
        self.alibi_beyond = alibi_beyond
        self.plan = {job.key: job for job in unique_jobs(j for s in STUDIES for j in s.jobs(scale))}

    def origin(self, job: Job) -> Job:
        """The finetune job that built the model `job` reads, followed to the first one."""
        while job.needs is not None:
            job = self.plan[job.needs]
        return job

    def copies_up_to(self, trained: Job) -> float:
        overrides = trained.args[0].config_overrides or ""
        model, high, seed = trained.info["model"], trained.info["lengths"][1], trained.info["seed"]
        if "state_size=" in overrides:
            return 4 + int(overrides.split("state_size=")[1]) // 2 + seed % 2
        return math.inf if model.endswith("hard-alibi") else high

    def __call__(self, job: Job) -> dict:
        trained = self.origin(job)
        seed = trained.info["seed"]
        if job.kind == "finetune":
            layers = 2 if "num_hidden_layers" in (trained.args[0].config_overrides or "") else 4
            return {
                "stopped_at_gate": 100 * (seed + 1) * (2 if "mamba" in job.info["model"] else 1),
                "main_score": "exact_match",
                "results": {"validation": {"exact_match": 0.95}},
                "architecture": {
                    "num_layers": layers,
                    "ssm_state_floats_per_layer": 128,
                    "conv_state_floats_per_layer": 96,
                },
            }
        if job.kind == "inference_cost":
            mamba = "mamba" in job.info["model"]
            return {
                "contexts": {
                    str(c): {"seconds_per_token": 1e-3, "cache_bytes": 1000 if mamba else 10 * c}
                    for c in self.scale.cost_contexts
                }
            }
        data = job.args[1]
        if data.dataset_config == "copy":
            reach, high = self.copies_up_to(trained), trained.info["lengths"][1]

            def exact_match(n: int) -> float:
                if reach == math.inf and n > high:
                    return self.alibi_beyond
                return 1.0 - 0.01 * seed if n <= reach else 0.02 * seed

            curve = {
                str(n): {"exact_match": exact_match(n)}
                for n in range(data.min_length, data.max_length + 1)
            }
            return {"main_score": "exact_match", "results": {"test": {"by_length": curve}}}
        accuracy = 0.9 - 0.01 * seed if trained.args[1].use_cot else 0.3 + 0.01 * seed
        slices = {
            f"m={m}": {"answer_accuracy": accuracy, "count": 40} for m in self.scale.dp_windows
        }
        return {
            "main_score": "answer_accuracy",
            "results": {"test": {"answer_accuracy": accuracy, "by_slice": slices}},
        }


@pytest.mark.parametrize("scale_name", ["smoke", "cpu"])
def test_numbers_are_json_and_verdicts_follow_them(scale_name, tmp_path):
    scale = SCALES[scale_name]
    world = World(scale)
    for study in STUDIES:
        numbers = study.numbers(scale, world)
        again = json.loads(json.dumps(numbers))  # results.json keeps them
        assert json.dumps(again, sort_keys=True) == json.dumps(numbers, sort_keys=True)
        verdict = study.verdict(scale, numbers)
        assert verdict in statistics.VERDICTS and verdict == study.verdict(scale, numbers)
        section = PROSE[study.NAME].section(scale, numbers, verdict, tmp_path)
        assert (section.name, section.verdict, section.numbers) == (study.NAME, verdict, numbers)
        assert section.paragraph
        if section.figure:
            assert (tmp_path / section.figure).read_bytes()[:4] == b"\x89PNG"


def test_copy_length_reads_each_half_off_the_runs():
    scale = SCALES["cpu"]
    numbers = copy_length.numbers(scale, World(scale))
    halves = numbers["halves"]
    assert halves[copy_length.mamba_claim(scale)]["verdict"] == statistics.SUPPORTED
    alibi = copy_length.transformer_claim(scale, "pythia-tiny-hard-alibi")
    assert halves[alibi]["verdict"] == statistics.SUPPORTED and halves[alibi]["gap"] > 0.9
    rope = copy_length.transformer_claim(scale, scale.transformer)
    assert halves[rope]["verdict"] == statistics.CONTRADICTED  # it copies nothing beyond
    assert copy_length.verdict(scale, numbers) == statistics.SUPPORTED
    # A Hard-ALiBi that does not generalise either: the claim fails at this scale.
    flat = copy_length.numbers(scale, World(scale, alibi_beyond=0.0))
    assert copy_length.verdict(scale, flat) == statistics.CONTRADICTED


def test_state_size_reads_capacity_off_the_longest_copied():
    scale = SCALES["cpu"]
    numbers = state_size.numbers(scale, World(scale))
    small, large = min(scale.state_sizes), max(scale.state_sizes)
    assert numbers[f"N={large}"]["longest_copied"] > numbers[f"N={small}"]["longest_copied"]
    # The control continues the smallest state's runs: in this world it copies as far as they do.
    assert numbers["control"]["longest_copied"] == numbers[f"N={small}"]["longest_copied"]
    assert numbers["gaps"][f"N={large} - N={small}"]["gap"] == 8
    assert state_size.verdict(scale, numbers) == statistics.SUPPORTED
