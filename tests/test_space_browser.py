"""End to end: `copycot space` serves the arena, Debian's chromium (driven by Playwright) runs both
models, and the page shows the highlighted copies and their scores. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_models import save_tiny_model

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def arena_url(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: run `make chromium` (apt-get install chromium)")
    root = tmp_path_factory.mktemp("arena")
    mamba = save_tiny_model("mamba", root / "mamba-tiny")
    # Always writes "a": its copy of "aaaabcd" is right for 4 characters, then wrong.
    pythia = save_tiny_model("gpt_neox", root / "pythia-tiny", constant="a")
    (root / "no-models").mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "COPYCOT_MODEL_A": "", "COPYCOT_MODEL_B": ""}
    env.pop("SPACE_ID", None)
    command = [sys.executable, "-m", "hf_copycot.cli", "space", "--port", str(free_port())]
    command += ["--model_a", str(mamba), "--model_b", str(pythia)]
    command += ["--models_dir", str(root / "no-models"), "--max_input_chars", "300"]
    log = (root / "server.log").open("w")
    server = subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=log, text=True
    )
    try:
        line = server.stdout.readline()  # the first line printed is the URL
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert match, f"no URL in {line!r}; log: {(root / 'server.log').read_text()[-2000:]}"
        yield match.group(1)
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def wait_for_text(page, selector: str, text: str, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(
        "([sel, text]) => { const el = document.querySelector(sel);"
        " return el !== null && el.innerText.includes(text); }",
        arg=[selector, text],
        timeout=timeout_ms,
    )


def test_arena_runs_both_models_in_the_browser(arena_url, tmp_path):
    from playwright.sync_api import sync_playwright

    requested_hosts = set()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.on("request", lambda request: requested_hosts.add(request.url.split("/")[2]))
            page.goto(arena_url)

            page.locator("#input-text textarea").fill("aaaabcd")
            wait_for_text(page, "#input-status", "length 7")
            page.locator("#run").click()
            for column in ("a", "b"):
                wait_for_text(page, f"#stats-{column}", "memory held")
                wait_for_text(page, f"#stats-{column}", "exact match\tno")

            spans = page.locator("#output-b .textfield > span")
            texts = [span.inner_text().strip() for span in spans.all()]
            assert texts == ["aaaa", "a" * 11]
            wrong = page.locator("#output-b .highlighted")
            assert wrong.count() == 1 and wrong.inner_text().strip() == "a" * 11
            assert "239, 68, 68" in wrong.get_attribute("style")  # red
            stats_b = page.locator("#stats-b").inner_text()
            assert "correct prefix\t4 / 7 characters" in stats_b
            assert "character accuracy\t26.7%" in stats_b and "KV cache" in stats_b
            assert re.search(r"time to first token\t[\d.]+ ms", stats_b)
            assert re.search(r"decode speed\t[\d,]+ tokens/s", stats_b)
            stats_a = page.locator("#stats-a").inner_text()
            assert "recurrent state (constant" in stats_a
            page.screenshot(path=str(tmp_path / "arena.png"), full_page=True)

            # The sweep: two lengths, three examples each.
            page.get_by_label("Lengths").fill("4, 8")
            page.locator("#sweep").click()
            wait_for_text(page, "#sweep-status", "lengths done: 4, 8")
            cells = page.locator("#sweep-table [role=gridcell]").all_inner_texts()
            assert [cell.strip() for cell in cells].count("A: mamba-tiny") == 2  # lengths 4 and 8

            page.locator("#input-text textarea").fill("ab|cd")
            page.locator("#run").click()
            toast = page.locator("[data-testid=toast-body]")
            toast.first.wait_for(timeout=20_000)
            assert "the string contains '|'" in toast.first.inner_text()
            page.screenshot(path=str(tmp_path / "arena-error.png"), full_page=True)

            # The phone book (drawn by the dataset's generator): 10 entries are over the 300-character
            # cap this server runs with, 5 fit.
            page.get_by_label("Task").click()
            page.get_by_role("option", name="phone book").click()
            wait_for_text(page, "#input-status", "over this arena's cap of 300")
            wait_for_text(page, "#random", "new example")
            assert not page.locator("#input-text").is_visible()
            entries = page.locator("input[type=number][aria-label*='Phone book entries']")
            entries.fill("5")
            entries.press("Enter")
            wait_for_text(page, "#input-status", "looking up")
        finally:
            browser.close()
    port = arena_url.split(":")[2].rstrip("/")
    assert requested_hosts == {f"127.0.0.1:{port}"}
