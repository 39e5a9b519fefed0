"""JupyterLab as an analyst uses it: open a notebook, Run All Cells, read what it shows.

JupyterLab runs from this environment on a free loopback port with a token, no
news or update checks; Debian's chromium, headless, is driven through
chromium-driver and Selenium (no browser download, nothing phones home). The
notebooks are copies in a temporary folder (JupyterLab autosaves), over a demo
lake the test builds; the lake reaches the kernels through the server's
environment. Each test keeps a screenshot in its temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from flywheel_lib.backend import get_backend
from flywheel_lib.checks import require_passed
from flywheel_lib.config import load_settings
from flywheel_lib.kernel_spec import KERNEL_NAME, KERNELSPEC
from flywheel_lib.mapping import load_mapping
from flywheel_lib.snapshots import resolve_snapshots
from flywheel_lib.synthetic import write_snapshot

REPO = Path(__file__).resolve().parent.parent
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SMALL_MAPPING = REPO / "tests" / "fixtures" / "engine_mapping.csv"
RUN_TIMEOUT_S = 300


def _need_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} missing in CI: .ci/run should have installed them")
        pytest.skip("needs Debian's chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def publish_demo_month(env: dict) -> None:
    """A published month of 300 customers and a 3-table mapping, made in this process (the
    stage notebooks through the driver would cost minutes), so an operation has tables to plan for."""
    env.update(FLYWHEEL_MAPPING=str(SMALL_MAPPING))
    write_snapshot(env["FLYWHEEL_DATA_ROOT"], "2026-09-01", 300, seed=3, mapping=load_mapping(SMALL_MAPPING))
    backend = get_backend(load_settings("local", environ=env))
    pair = resolve_snapshots(load_settings("local", environ=env), "2026-09")
    for snapshot in (pair.addressable, pair.infobase):
        backend.split(snapshot, "lab-fixture")
        backend.register(snapshot, "lab-fixture")
    backend.repair("lab-fixture")
    require_passed(backend.validate(pair, "lab-fixture"))
    backend.publish("lab-fixture")


class Lab:
    """A JupyterLab server over copies of the notebooks and a demo lake."""

    def __init__(self, root: Path):
        self.root, self.port, self.token = root, _free_port(), os.urandom(16).hex()
        shutil.copytree(REPO / "notebooks", root / "notebooks")
        config = root / "jupyter-config"
        (config / "labconfig").mkdir(parents=True)
        (config / "labconfig" / "page_config.json").write_text(json.dumps(
            {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
        # Every cell in the page (not only those scrolled into view), so the test can read them all.
        tracker = root / "lab-settings" / "@jupyterlab" / "notebook-extension"
        tracker.mkdir(parents=True)
        (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        self.env = dict(
            os.environ, FLYWHEEL_DATA_ROOT=str(root / "data"), FLYWHEEL_RUNS_DIR=str(root / "runs"),
            FLYWHEEL_ENV="local", JUPYTER_CONFIG_DIR=str(config), JUPYTER_PREFER_ENV_PATH="1",
            JUPYTER_DATA_DIR=str(root / "jupyter-data"), JUPYTER_RUNTIME_DIR=str(root / "jupyter-runtime"),
            IPYTHONDIR=str(root / "ipython"), MPLCONFIGDIR=str(root / "mpl"))
        publish_demo_month(self.env)
        self.log = open(root / "jupyterlab.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root / 'notebooks'}",
             "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",  # no PyPI look-ups
             *(["--allow-root"] if os.geteuid() == 0 else []),  # CI runs as root
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             f"--LabApp.user_settings_dir={root / 'lab-settings'}",
             f"--LabApp.workspaces_dir={root / 'lab-workspaces'}"],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def wait_until_up(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_text()
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=5) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        pytest.fail("JupyterLab did not answer in time:\n" + self.log_text())

    def kernel_spec_argv(self) -> list[str]:
        with urllib.request.urlopen(self.url("api/kernelspecs"), timeout=10) as answer:
            specs = json.load(answer)["kernelspecs"]
        assert KERNEL_NAME in specs, f"kernel {KERNEL_NAME} is not registered: run make setup"
        return specs[KERNEL_NAME]["spec"]["argv"]

    def log_text(self) -> str:
        self.log.flush()
        return (self.root / "jupyterlab.log").read_text()[-3000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    _need_browser()
    server = Lab(tmp_path_factory.mktemp("lab"))
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


@pytest.fixture
def browser(tmp_path):
    _need_browser()
    os.environ["SE_AVOID_STATS"] = "true"  # Selenium Manager: no usage statistics sent
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1400,2400", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def run_all_cells(browser, lab: Lab, notebook: str, screenshot: Path) -> None:
    """Open the notebook, choose Run > Run All Cells, wait until every code cell has run."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    # A workspace of its own: only this notebook open, whatever an earlier test opened.
    browser.get(lab.url(f"lab/workspaces/{screenshot.stem}/tree/{notebook}"))
    wait = WebDriverWait(browser, 120)
    try:
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, ".jp-Notebook .jp-CodeCell")),
                   "the notebook did not open")
        wait.until(_kernel_ready, "the kernel did not start")
        wait.until(ready.element_to_be_clickable(
            (By.XPATH, "//div[contains(@class,'lm-MenuBar-itemLabel') and text()='Run']"))).click()
        wait.until(ready.element_to_be_clickable(
            (By.XPATH, "//div[contains(@class,'lm-Menu-itemLabel') and text()='Run All Cells']"))).click()
        wait.until(lambda b: "[ ]:" not in _prompts(b), "Run All Cells did not start the cells")
        WebDriverWait(browser, RUN_TIMEOUT_S, poll_frequency=1).until(
            _all_cells_ran, "the cells did not all run")
    finally:
        browser.save_screenshot(str(screenshot))


def _kernel_idle(browser) -> bool:
    return browser.execute_script(
        "const s = document.querySelector('.jp-Notebook-ExecutionIndicator');"
        "return s !== null && s.getAttribute('data-status') === 'idle';")


def _kernel_ready(browser) -> bool:
    """The project's kernel is named in the toolbar and stays idle (the indicator says idle
    for a moment before the kernel starts)."""
    name = browser.execute_script(
        "const k = document.querySelector('.jp-KernelName'); return k ? k.textContent : '';")
    if name.strip() != KERNELSPEC["display_name"] or not _kernel_idle(browser):
        return False
    time.sleep(3)
    return _kernel_idle(browser)


def _prompts(browser) -> list[str]:
    return browser.execute_script(
        "return [...document.querySelectorAll("
        "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]"
        ".map(p => p.textContent.trim());")


def _all_cells_ran(browser) -> bool:
    prompts = _prompts(browser)
    return bool(prompts) and all(p[1:-2].isdigit() for p in prompts) and _kernel_idle(browser)


def errors_shown(browser) -> list[str]:
    return browser.execute_script(
        "return [...document.querySelectorAll("
        "'.jp-OutputArea-output[data-mime-type=\"application/vnd.jupyter.stderr\"]')]"
        ".map(e => e.textContent).filter(t => /Error|Traceback/.test(t));")


def test_the_project_kernel_runs_this_environment(lab):
    argv = lab.kernel_spec_argv()
    assert Path(argv[0]).resolve() == Path(sys.executable).resolve()


def test_an_analyst_runs_the_first_stage_in_jupyterlab(lab, browser, tmp_path):
    run_all_cells(browser, lab, "refresh/01_addr_part.ipynb", tmp_path / "01_addr_part.png")
    assert errors_shown(browser) == []
    tables = browser.execute_script(
        "return [...document.querySelectorAll('.jp-OutputArea-output table')].map(t => t.textContent);")
    assert any("part_addressable_ids" in t and "rows" in t for t in tables), tables
    chart_widths = browser.execute_script(
        "return [...document.querySelectorAll('.jp-OutputArea-output img')].map(i => i.naturalWidth);")
    assert chart_widths and max(chart_widths) > 500, "the bucket chart was not drawn"
    progress = browser.execute_script(
        "return [...document.querySelectorAll('.jp-OutputArea-output')].map(o => o.textContent)"
        ".filter(t => t.startsWith('Split '));")
    assert len(progress) == 1, progress  # one block, updated in place
    assert progress[0].startswith("Split addressable_ids: 1 of 1 tables, 300 rows, done in "), progress
    assert (tmp_path / "01_addr_part.png").stat().st_size > 20_000


def test_an_analyst_plans_a_clean_rooms_operation_in_jupyterlab(lab, browser, tmp_path):
    run_all_cells(browser, lab, "cleanrooms/configure_tables.ipynb", tmp_path / "configure_tables.png")
    assert errors_shown(browser) == []
    text = browser.execute_script(
        "return [...document.querySelectorAll('.jp-OutputArea-output')].map(o => o.textContent).join('\\n');")
    assert "Plan only: nothing was changed." in text
    plan = browser.execute_script(
        "return [...document.querySelectorAll('.jp-OutputArea-output table')][1].innerText;")
    for table in ("part_addressable_ids", "part_new_borrowers"):  # the published tables, each to create
        assert any(table in line and "create" in line for line in plan.splitlines()), plan
    assert (tmp_path / "configure_tables.png").stat().st_size > 20_000
