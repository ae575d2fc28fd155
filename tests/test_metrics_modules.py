"""The eval/ modules as users meet them: evaluate.load offline, doctests, cards, Space app."""

from __future__ import annotations

import ast
import doctest
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import types

import evaluate
import pandas as pd
import pytest
import yaml
from metric_helpers import EVAL_DIR, METRIC_NAMES, REPO_ROOT, load_metric, scoring_module

HUB_ORG = "hf-copycot"
SHARED_BLOCK = re.compile(r"# >>> shared helpers.*?# <<< shared helpers\n", re.DOTALL)
ALLOWED_IMPORTS = {"evaluate", "datasets", "numpy"} | set(sys.stdlib_module_names)


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_loads_from_relative_and_absolute_folder(name, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    for path in (f"eval/{name}", str(EVAL_DIR / name), str(EVAL_DIR / name / f"{name}.py")):
        metric = evaluate.load(path)
        assert metric.name == name
        assert set(metric.features) == {"predictions", "references"}
        assert isinstance(metric.compute(predictions=["1|1"], references=["1"]), dict)


def test_loads_offline_from_a_bare_copy_of_eval(tmp_path):
    """A fresh HF_HOME, offline, only eval/ on disk: the modules need nothing from hf_copycot."""
    shutil.copytree(EVAL_DIR, tmp_path / "eval")
    script = """
import json, sys, evaluate
out = {}
out["copy"] = evaluate.load("eval/copy_accuracy").compute(predictions=["ab"], references=["ab"])
out["phonebook"] = evaluate.load("eval/phonebook_accuracy").compute(
    predictions=[" 6123456789"], references=[" 6123456789"])
out["dp"] = evaluate.load("eval/dp_cot_accuracy").compute(
    predictions=["1 2|2"], references=["2"], prompts=["1 2|"])
out["hf_copycot_imported"] = any(m.startswith("hf_copycot") for m in sys.modules)
print(json.dumps(out))
"""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "HF_HOME"}}
    env.update(HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["copy"]["exact_match"] == 1.0
    assert out["phonebook"]["exact_match"] == 1.0
    assert out["dp"]["exact_match"] == 1.0
    assert out["hf_copycot_imported"] is False


def _load_hub_id_from_folder(monkeypatch) -> None:
    """Make `evaluate.load("hf-copycot/<name>")` in examples load eval/<name>, as the Hub would."""
    real_load = evaluate.load

    def load(path, *args, **kwargs):
        org, _, name = path.rpartition("/")
        assert org == HUB_ORG and name in METRIC_NAMES, f"examples must load {HUB_ORG}/<name>"
        return real_load(str(EVAL_DIR / name), *args, **kwargs)

    monkeypatch.setattr(evaluate, "load", load)


def _run_doctest(source: str, label: str) -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(source, {"evaluate": evaluate}, label, label, 0)
    assert test.examples, f"{label} has no examples"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_kwargs_description_doctests(name, monkeypatch):
    module = scoring_module(name)
    _load_hub_id_from_folder(monkeypatch)
    _run_doctest(module._KWARGS_DESCRIPTION, f"{name}._KWARGS_DESCRIPTION")


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_card_examples_run(name, monkeypatch):
    _load_hub_id_from_folder(monkeypatch)
    card = (EVAL_DIR / name / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", card, re.DOTALL)
    _run_doctest("\n".join(block for block in blocks if ">>>" in block), f"{name}/README.md")


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_card_is_a_space_page_with_every_section(name):
    card = (EVAL_DIR / name / "README.md").read_text()
    front_matter = yaml.safe_load(card.split("---\n")[1])
    assert front_matter["sdk"] == "gradio" and front_matter["app_file"] == "app.py"
    assert {"evaluate", "metric"} <= set(front_matter["tags"])
    assert front_matter["title"] and front_matter["description"]
    headings = re.findall(r"^#+ (.+)$", card, re.MULTILINE)
    for section in (
        "Metric Description",
        "How to Use",
        "Inputs",
        "Output Values",
        "Examples",
        "Limitations and Bias",
        "Citation",
    ):
        assert section in headings, f"{name}/README.md lacks a '{section}' section"
    requirements = (EVAL_DIR / name / "requirements.txt").read_text().split()
    assert {re.split(r"[<>=]", line)[0] for line in requirements} == {
        "evaluate",
        "datasets",
        "numpy",
    }


def test_shared_helpers_are_identical_in_every_module():
    blocks = {
        name: SHARED_BLOCK.findall((EVAL_DIR / name / f"{name}.py").read_text())
        for name in METRIC_NAMES
    }
    assert all(len(found) == 1 for found in blocks.values())
    assert len({found[0] for found in blocks.values()}) == 1


def test_stamped_helper_copies_are_current():
    """Each module's block is byte for byte what `make metrics` writes from eval/shared_helpers.py."""
    stamp = runpy.run_path(str(EVAL_DIR / "stamp_helpers.py"))
    block = stamp["helper_block"]()
    modules = stamp["modules"]()
    assert sorted(path.parent.name for path in modules) == sorted(METRIC_NAMES)
    for module in modules:
        text = module.read_text(encoding="utf-8")
        assert stamp["stamped"](text, block) == text, f"{module} is stale: run `make metrics`"
        assert SHARED_BLOCK.findall(text) == [block]


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_module_imports_only_evaluate_datasets_numpy_and_stdlib(name):
    tree = ast.parse((EVAL_DIR / name / f"{name}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports would need extra files on the Hub"
            imported.add(node.module.split(".")[0])
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_space_app_wires_the_module_into_evaluates_widget(name, monkeypatch):
    """app.py runs evaluate's widget; gradio 3 (the Space's sdk_version) is stubbed, not installed."""
    captured = {}

    class Interface:
        def __init__(self, fn, inputs, outputs, description, title, article):
            captured.update(fn=fn, headers=inputs.headers, title=title, article=article)

        def launch(self):
            captured["launched"] = True

    gradio = types.SimpleNamespace(
        Interface=Interface,
        inputs=types.SimpleNamespace(Dataframe=lambda **kw: types.SimpleNamespace(**kw)),
        outputs=types.SimpleNamespace(Textbox=lambda **kw: None),
    )
    monkeypatch.setitem(sys.modules, "gradio", gradio)
    folder = EVAL_DIR / name
    monkeypatch.setattr(sys, "path", [str(folder), *sys.path])  # as when Spaces runs app.py
    runpy.run_path(str(folder / "app.py"), run_name="__main__")
    assert captured["launched"] and captured["title"] == f"Metric: {name}"
    assert list(captured["headers"]) == ["predictions", "references"]
    assert captured["article"].lstrip().startswith("# Metric Card for")
    # The widget passes a table of JSON-quoted strings.
    table = pd.DataFrame({"predictions": ['"1 2|2"'], "references": ['"2"']})
    results = captured["fn"](table)
    assert isinstance(results, dict) and results


def test_loaded_module_is_the_one_in_eval():
    for name in METRIC_NAMES:
        assert load_metric(name).name == name
        assert hasattr(scoring_module(name), "DEFAULT_END_MARKERS")


def test_loads_by_hub_id_from_a_space_on_a_local_hub(tmp_path):
    """`evaluate.load("hf-copycot/<name>")` as a user would once the folders are pushed as Spaces:
    evaluate resolves the id to `{HF_ENDPOINT}/spaces/<id>/resolve/main/<name>.py`, here served by
    olah from git repos holding exactly what eval/<name>/ holds."""
    from tests.local_hub import LocalHub

    script = f"""
import json, evaluate
out = {{}}
out["copy"] = evaluate.load("{HUB_ORG}/copy_accuracy").compute(
    predictions=["abc", "abd"], references=["abc", "abc"])
out["phonebook"] = evaluate.load("{HUB_ORG}/phonebook_accuracy").compute(
    predictions=[" 6123456789"], references=[" 6123456789"])
out["dp"] = evaluate.load("{HUB_ORG}/dp_cot_accuracy").compute(
    predictions=["1 2|2"], references=["2"], prompts=["1 2|"])
print(json.dumps(out))
"""
    with LocalHub(tmp_path / "hub") as hub:
        for name in METRIC_NAMES:
            hub.add_repo("space", f"{HUB_ORG}/{name}", EVAL_DIR / name)
        # evaluate first asks for its own version tag (v0.4.6) and falls back to `main` on a 404;
        # olah answers an unknown revision with 401, so ask for `main` directly.
        proc = hub.run_python(script, timeout=180, HF_SCRIPTS_VERSION="main")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["copy"]["exact_match"] == 0.5
    assert out["phonebook"]["exact_match"] == 1.0
    assert out["dp"]["answer_accuracy"] == 1.0


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_metric_info_is_complete_and_links_this_code(name, monkeypatch):
    """What the Hub shows for a metric: description, citation, homepage, license, code link."""
    from hf_copycot import CODE_URL

    info = load_metric(name).info
    assert info.description.strip() and info.citation.strip() and info.inputs_description.strip()
    assert info.homepage == f"https://huggingface.co/spaces/hf-copycot/{name}"
    assert info.license == "apache-2.0"
    assert info.codebase_urls == [f"{CODE_URL}/tree/main/eval/{name}"]
    assert info.reference_urls
