"""The built book, as a reader sees it: headless Chromium opens pages from disk, offline.

Checks that math is typeset by the MathJax copied into the book (no raw TeX left), that
every image loads, that nothing is fetched from the network, and that lesson pages carry
their "Open in Colab" link. The book is built first if `_build/html` is missing.
Needs Debian's `chromium` and `chromium-driver`; scripts/test.sh installs them. Under
CI=true a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
PAGES = [
    "book/intro.html",
    "book/notation.html",
    "book/errata.html",
    "notebooks/00_getting_started.html",
    "notebooks/01_forward_process.html",
    "notebooks/02_posterior.html",
    "notebooks/03_variational_bound.html",
    "notebooks/04_predicting_noise.html",
    "notebooks/05_unet.html",
    "notebooks/06_training_sampling.html",
    "notebooks/07_what_the_model_learned.html",
    "notebooks/09_scores_langevin.html",
    "notebooks/10_sde_ode.html",
    "notebooks/08_ddim.html",
    "notebooks/11_fast_solvers.html",
    "notebooks/12_guidance.html",
    "notebooks/13_beyond.html",
]
LESSON = "notebooks/00_getting_started.html"


def repository_url() -> str:
    match = re.search(
        r"^repository:\s*\n\s+url:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M
    )
    assert match, "_config.yml must set repository.url"
    return match.group(1)


@pytest.fixture(scope="module")
def book() -> Path:
    if not (HTML / "index.html").exists():
        jb = Path(sys.executable).with_name("jupyter-book")
        subprocess.run(
            [str(jb), "build", str(ROOT), "-W", "--keep-going", "-q"], check=True
        )
    return HTML


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        message = "chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--allow-file-access-from-files",
        "--window-size=1200,1600",
        # Any host name fails to resolve: a page that needs the network cannot get it.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ]:
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(driver), options=options)
    session.set_script_timeout(30)
    yield session
    session.quit()


def open_page(browser, book: Path, page: str) -> dict:
    """Load a page, wait for MathJax to finish, and report what a reader would see."""
    browser.get((book / page).as_uri())
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (![...document.scripts].some(s => s.src.includes('mathjax'))) { done(false); return; }"
        "const wait = () => (window.MathJax && MathJax.startup && MathJax.startup.promise)"
        "  ? MathJax.startup.promise.then(() => done(true)) : setTimeout(wait, 50);"
        "wait();"
    )
    shots = book.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    browser.save_screenshot(str(shots / (page.replace("/", "_") + ".png")))
    return browser.execute_script("""
        const imgs = [...document.images];
        const text = document.querySelector('main') ? document.querySelector('main').innerText : document.body.innerText;
        return {
          typeset: document.querySelectorAll('mjx-container').length,
          mathjax: [...document.scripts].map(s => s.src).filter(s => s.includes('mathjax')),
          broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80)),
          images: imgs.length,
          text: text,
          requests: performance.getEntriesByType('resource').map(r => r.name),
          links: [...document.querySelectorAll('a')].map(a => a.href),
        };""")


@pytest.mark.parametrize("page", PAGES)
def test_page_typesets_math_offline(browser, book, page):
    seen = open_page(browser, book, page)
    assert seen["mathjax"] and all(
        src.startswith("file://") for src in seen["mathjax"]
    ), seen["mathjax"]
    assert seen["typeset"] >= 5, f"only {seen['typeset']} typeset formulas on {page}"
    assert "$$" not in seen["text"] and "\\frac" not in seen["text"], (
        f"raw TeX left on {page}"
    )
    assert not seen["broken"], f"images that did not load on {page}: {seen['broken']}"
    remote = [
        r for r in seen["requests"] if not r.startswith(("file://", "data:", "blob:"))
    ]
    assert not remote, f"{page} asked the network for {remote}"


@pytest.mark.parametrize("page", ["book/performance.html", "book/bibliography.html"])
def test_page_without_math_loads_offline(browser, book, page):
    seen = open_page(browser, book, page)
    assert len(seen["text"]) > 500 and not seen["broken"], page
    remote = [
        r for r in seen["requests"] if not r.startswith(("file://", "data:", "blob:"))
    ]
    assert not remote, f"{page} asked the network for {remote}"


def test_lesson_page_has_images_and_colab_link(browser, book):
    seen = open_page(browser, book, LESSON)
    assert seen["images"] >= 1 and not seen["broken"]
    repo = repository_url().removeprefix("https://github.com/")
    colab = [
        link
        for link in seen["links"]
        if link.startswith("https://colab.research.google.com/")
    ]
    assert any(
        f"github/{repo}/blob/main/{LESSON.replace('.html', '.ipynb')}" in link
        for link in colab
    ), colab


def test_no_page_loads_mathjax_from_a_cdn(book):
    pages = list(book.rglob("*.html"))
    assert len(pages) >= 4
    cdn = re.compile(r"""<script[^>]+src=["']https?://[^"']*mathjax""", re.I)
    offenders = [
        str(p.relative_to(book))
        for p in pages
        if cdn.search(p.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"pages loading MathJax from the network: {offenders}"
