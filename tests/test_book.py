"""The built book, as a reader sees it: headless Chromium opens pages from disk, offline.

Checks that math is typeset by the MathJax copied into the book (no raw TeX left), that
every image loads, that nothing is fetched from the network, that lesson pages carry
their "Open in Colab" link, and, on every page at 1280 px (tests/book_measure.js), that
no code, output or equation is wider than its column, no figure is shown below 85 % of
its width, no raw MyST shows and no worked answer is in view outside a closed solution;
at a phone's 390 px the page itself must not scroll sideways. The book is built first if `_build/html` is missing.
Needs Debian's `chromium` and `chromium-driver`; scripts/test.sh installs them. Under
CI=true a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
MEASURE = (ROOT / "tests" / "book_measure.js").read_text(encoding="utf-8")
LESSONS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
PAGES = [f"book/{p.stem}.html" for p in sorted((ROOT / "book").glob("*.md"))] + [
    f"notebooks/{name}.html" for name in LESSONS
]
WITHOUT_MATH = {"book/performance.html", "book/bibliography.html"}
LESSON = "notebooks/00_getting_started.html"
WIDTH, PHONE = 1280, 390


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
        f"--window-size={WIDTH},900",
        # Any host name fails to resolve: a page that needs the network cannot get it.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ]:
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(driver), options=options)
    session.set_script_timeout(30)
    yield session
    session.quit()


def measure(browser, book: Path, page: str) -> dict:
    """Load a page, wait for MathJax, and run tests/book_measure.js on what it shows."""
    open_page(browser, book, page)
    return browser.execute_script(MEASURE)


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
    # Every image finished (loaded or failed), or 10 s passed: measuring earlier would
    # read a loading image as broken, or as having no size.
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const pending = [...document.images].filter(i => !i.complete);"
        "setTimeout(done, 10000);"
        "Promise.all(pending.map(i => new Promise(r => { i.onload = r; i.onerror = r; })))"
        "  .then(() => done(true));"
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


@pytest.mark.parametrize("page", [p for p in PAGES if p not in WITHOUT_MATH])
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


@pytest.mark.parametrize("page", sorted(WITHOUT_MATH))
def test_page_without_math_loads_offline(browser, book, page):
    seen = open_page(browser, book, page)
    assert len(seen["text"]) > 500 and not seen["broken"], page
    remote = [
        r for r in seen["requests"] if not r.startswith(("file://", "data:", "blob:"))
    ]
    assert not remote, f"{page} asked the network for {remote}"


@pytest.mark.parametrize("page", PAGES)
def test_page_reads_at_a_glance(browser, book, page):
    """At 1280 px nothing scrolls sideways, no equation is clipped, no figure is shrunk
    below 85 % of its width, no raw MyST or TeX shows, and no worked answer is in view
    outside a closed solution."""
    browser.set_window_size(WIDTH, 900)
    seen = measure(browser, book, page)
    for key in ["wide_code", "wide_math", "shrunk", "broken", "raw", "answers"]:
        assert not seen[key], f"{page}: {key}: " + "; ".join(seen[key][:5])
    assert not seen["page_scrolls"], f"{page} scrolls sideways at {WIDTH} px"


@pytest.mark.parametrize("page", PAGES)
def test_page_does_not_scroll_sideways_on_a_phone(browser, book, page):
    """At a phone's width a long line may scroll inside its own box, never the page."""
    browser.set_window_size(PHONE, 800)
    try:
        seen = measure(browser, book, page)
    finally:
        browser.set_window_size(WIDTH, 900)
    assert not seen["page_scrolls"], f"{page} scrolls sideways at {PHONE} px"


def test_lesson_page_has_images_and_colab_link(browser, book):
    seen = open_page(browser, book, LESSON)
    assert seen["images"] >= 1 and not seen["broken"]
    repo = repository_url().removeprefix("https://github.com/")
    colab = [
        link
        for link in seen["links"]
        if link.startswith("https://colab.research.google.com/")
    ]
    edition = "editions/colab/" + LESSON.replace(".html", ".ipynb")
    assert (ROOT / edition).is_file(), f"{edition} is missing: run scripts/editions.py"
    assert any(f"github/{repo}/blob/main/{edition}" in link for link in colab), colab


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


def equation_numbers(book: Path) -> dict[str, int]:
    """The number the built book prints for each labelled equation."""
    numbers = {}
    for page in book.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        for label, number in re.findall(
            r'id="equation-([\w-]+)">\s*<span class="eqno">\((\d+)\)', html
        ):
            numbers[label] = int(number)
    return numbers


def test_code_refers_to_equations_by_the_numbers_the_book_prints(book):
    """Code cells say "Eq. (31)", as the page does; the cell's metadata names the label
    each number stands for, so a renumbered book fails here instead of drifting."""
    numbers, seen = equation_numbers(book), 0
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            refs = cell["metadata"].get("ddpm_lite", {}).get("equations", {})
            assert not re.search(r"eq-\d\d-", source), f"{path.name} cell {index}"
            written = {int(n) for n in re.findall(r"Eq\. \((\d+)\)", source)}
            assert written == set(refs.values()), (
                f"{path.name} cell {index}: writes Eq. {sorted(written)}, "
                f"metadata ddpm_lite.equations says {refs}"
            )
            for label, number in refs.items():
                seen += 1
                assert numbers.get(label) == number, (
                    f"{path.name} cell {index}: the book numbers {label} "
                    f"{numbers.get(label)}, the code says Eq. ({number})"
                )
    assert seen >= 30


SCRUB = """
const players = [...document.querySelectorAll(".ddpm-lite-player")];
return players.map((player) => {
  const range = player.querySelector("input[type=range]");
  const shown = () => [...player.querySelectorAll("img")]
    .filter((img) => img.style.display !== "none").map((img) => img.dataset.value);
  const before = shown();
  const target = range.value === range.max ? 0 : Number(range.max);
  range.value = target;
  range.dispatchEvent(new Event("input"));
  const images = [...player.querySelectorAll("img")];
  return {before, after: shown(), target: images[target].dataset.value,
          label: player.querySelector("output").textContent, frames: images.length,
          loaded: images.every((img) => img.complete && img.naturalWidth > 0)};
});
"""


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_lesson_has_a_player_that_scrubs_offline(browser, book, lesson):
    """Each lesson's slider is, on the static page, a set of frames and a range control:
    moving the control shows another frame, and only that one."""
    open_page(browser, book, f"notebooks/{lesson}.html")
    players = browser.execute_script(SCRUB)
    assert players, f"{lesson}: no still-frame player on the page"
    for p in players:
        assert p["loaded"] and p["frames"] >= 3, p
        assert len(p["before"]) == 1 and p["after"] == [p["target"]] == [p["label"]], p
        assert p["before"] != p["after"], p


FAULTS = {  # what tests/book_measure.js must catch, planted in a copy of a lesson page
    "wide_code": ("</pre>", "# " + "x" * 120 + "\n</pre>"),
    "wide_math": (
        "</main>",
        '<div class="math notranslate nohighlight">\\['
        + "a + " * 90
        + "b\\]</div></main>",
    ),
    "shrunk": ('<img alt="../_images/', '<img style="width: 30%" alt="../_images/'),
    "broken": (
        "</main>",
        '<div class="cell_output"><img src="missing.png"></div></main>',
    ),
    "raw": (
        "</main>",
        "<p>as {cite:t}`ho2020ddpm` show, Eq. (eq-01-closed)</p></main>",
    ),
    "answers": (
        "</main>",
        '<div class="cell_input"><pre>def f(x):\n    return x\n\n\n'
        'assert ddpm_lite.exercises.check("00-half", f)</pre></div></main>',
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_the_measurement_catches_each_fault(browser, book, tmp_path, fault):
    """Plant one fault of each kind in a copy of a lesson page: the measurement flags it
    (and flags nothing on the unaltered copy)."""
    page = book / "notebooks" / "01_forward_process.html"
    html = page.read_text(encoding="utf-8")
    old, new = FAULTS[fault]
    assert old in html
    copy = tmp_path / "notebooks"
    copy.mkdir()
    for name, text in [("clean", html), ("faulty", html.replace(old, new, 1))]:
        text = text.replace(
            "../", f"{book.as_uri()}/"
        )  # the copy loads the book's files
        (copy / f"{name}.html").write_text(text, encoding="utf-8")
    clean = measure(browser, tmp_path, "notebooks/clean.html")
    faulty = measure(browser, tmp_path, "notebooks/faulty.html")
    assert not clean[fault], clean[fault]
    assert faulty[fault], f"{fault} planted but not flagged"
