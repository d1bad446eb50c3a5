"""A real browser over the built book (not part of `make test`: run `make browser-test` after `make book`).

Needs Debian's chromium (/usr/bin/chromium, or set CHROMIUM) and the Python playwright
package; playwright's own browser download is never used. For every page in the toc:
it loads from file:// with no network, every image has loaded (natural width > 0),
the console shows no errors other than unreachable CDNs, the equations are typeset
by the book's own copy of MathJax (no raw LaTeX shows), the Colab and Binder buttons
point at that page's notebook, and each static explorer switches figures when its
sliders move, and each exercise's solution is folded (closed until its "Show solution" is
clicked). The course's edition (`make book SOLUTIONS=hidden`, in _build/course) withholds
every solution: no built file (pages, the sources behind the download buttons, the
search index) holds a line of one, every local file a page links to is searched too,
the launch buttons open the student notebooks and every page says it is the course
edition. Its tests skip when that edition was not built, unless
TMS_REQUIRE_COURSE_EDITION is set (as .ci/run does). A screenshot of every page goes to
_build/screenshots/. A bare `pytest` (the repository's testpaths include tests/) skips
these tests where playwright, chromium or the built book is missing; `make browser-test`
sets TMS_REQUIRE_BROWSER, so there a missing piece fails.
"""

import json
import os
import re
from pathlib import Path

import pytest
import yaml
# `make browser-test` (and .ci/run) require everything below; a bare `pytest` skips these tests cleanly
# where playwright, chromium or a built book is missing
REQUIRED = bool(os.environ.get("TMS_REQUIRE_BROWSER") or os.environ.get("TMS_REQUIRE_COURSE_EDITION"))
try:
    from playwright import sync_api as playwright_api
except ImportError:
    if REQUIRED:
        raise
    pytest.skip("the browser tests need the playwright package (make browser-test installs it)",
                allow_module_level=True)

from tms_tutorial.exercises import EXERCISES as CHAPTER_EXERCISES


ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
COURSE_HTML = ROOT / "_build" / "course" / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
PAGES = [TOC["root"]] + [entry["file"] for entry in TOC["chapters"]]
EXERCISES = {entry["file"]: [name for name, _, _ in CHAPTER_EXERCISES.get(int(Path(entry["file"]).name[:2]), [])]
             for entry in TOC["chapters"]}
URL = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
# Console errors that only say the network (or a CDN on it) is unreachable, and the
# theme's complaint that file:// pages have no stored light/dark preference.
HARMLESS = re.compile(r"ERR_NAME_NOT_RESOLVED|ERR_INTERNET_DISCONNECTED|ERR_CONNECTION|invalid theme mode")


@pytest.fixture(scope="module")
def browser():
    if not (HTML / "index.html").exists():
        (pytest.fail if REQUIRED else pytest.skip)("no built book: run `make book` first")
    if not Path(CHROMIUM).exists():
        (pytest.fail if REQUIRED else pytest.skip)(f"no chromium at {CHROMIUM}: apt-get install chromium, or set "
                                                   "CHROMIUM")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # no background connections: the network is closed here
        browser = p.chromium.launch(executable_path=CHROMIUM, args=flags)
        yield browser
        browser.close()


@pytest.mark.parametrize("page_path", PAGES)
def test_page(browser, page_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto((HTML / f"{page_path}.html").as_uri(), wait_until="load")

    if page_path != TOC["root"]:  # every chapter has equations: MathJax, served from the book, typesets them
        page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.document", timeout=20_000)
        page.evaluate("MathJax.startup.promise")
        assert page.evaluate("document.querySelectorAll('mjx-container').length") > 0, "no equation was typeset"
        raw = page.evaluate("document.querySelector('article').innerText")
        assert "\\frac" not in raw and "\\mathrm" not in raw, "raw LaTeX is showing"
    page.screenshot(path=str(SHOTS / f"{Path(page_path).name}.png"), full_page=True)

    widths = page.evaluate("Array.from(document.images).map(image => image.naturalWidth)")
    assert widths and all(width > 0 for width in widths), f"{widths.count(0)} of {len(widths)} images did not load"
    assert [text for text in errors if not HARMLESS.search(text)] == []

    if page_path != TOC["root"]:
        links = page.evaluate("Array.from(document.querySelectorAll('a')).map(a => a.href)")
        repo = URL.removeprefix("https://github.com/")
        assert f"https://colab.research.google.com/github/{repo}/blob/main/{page_path}.ipynb" in links
        assert f"https://mybinder.org/v2/gh/{repo}/main?urlpath=tree/{page_path}.ipynb" in links

    shown = """e => [...e.querySelectorAll('.tms-frame')].findIndex(f => f.style.display === 'block')"""
    explorers = page.locator(".tms-explorer")
    for k in range(explorers.count()):
        explorer = explorers.nth(k)
        explorer.scroll_into_view_if_needed()
        for s in range(explorer.locator("input.tms-axis").count()):
            slider = explorer.locator("input.tms-axis").nth(s)
            before = explorer.evaluate(shown)
            top = int(slider.get_attribute("max"))
            slider.fill(str(0 if int(slider.input_value()) == top else top))
            assert explorer.evaluate(shown) != before, f"explorer {k}, slider {s}: the figure did not change"
        page.screenshot(path=str(SHOTS / f"{Path(page_path).name}_explorer{k}.png"))

    solutions = page.locator(".tms-solution > details")
    assert solutions.count() == len(EXERCISES.get(page_path, [])), "one folded solution per exercise"
    for k, name in enumerate(EXERCISES.get(page_path, [])):
        folded = solutions.nth(k)
        code = folded.locator(".cell_input")
        assert folded.evaluate("d => d.open") is False and not code.is_visible(), f"{name}: solution not folded"
        summary = folded.locator("summary")
        summary.scroll_into_view_if_needed()
        assert summary.inner_text().strip() == "Show solution"
        summary.click()
        assert code.is_visible() and f"def {name}(" in code.inner_text(), f"{name}: the solution does not unfold"
        assert "BEGIN SOLUTION" not in code.inner_text() and "# EXERCISE" not in code.inner_text()
        if k == 0:
            page.screenshot(path=str(SHOTS / f"{Path(page_path).name}_solution.png"))
    page.close()


def require_course_edition():
    if not (COURSE_HTML / "index.html").exists():
        if os.environ.get("TMS_REQUIRE_COURSE_EDITION"):
            pytest.fail("no course edition: run `make book SOLUTIONS=hidden` first")
        pytest.skip("the course edition is not built (make book SOLUTIONS=hidden)")


def solution_lines():
    """Every line between a chapter's BEGIN SOLUTION and END SOLUTION markers that could give it away:
    16 characters or more, and not already in the exercise's hint."""
    import nbformat

    lines = {}
    for entry in TOC["chapters"]:
        for cell in nbformat.read(ROOT / f"{entry['file']}.ipynb", as_version=4).cells:
            if "solution" not in cell.metadata.get("tags", []):
                continue
            hints = " ".join(line for line in cell.source.splitlines() if line.strip().startswith("# HINT:"))
            inside = False
            for line in cell.source.splitlines():
                text = line.strip()
                if text in ("# BEGIN SOLUTION", "# END SOLUTION"):
                    inside = text == "# BEGIN SOLUTION"
                elif inside and not text.startswith("# HINT:") and len(text) >= 16 and text not in hints:
                    lines[text] = entry["file"]
    return lines


def readable_text(path: Path) -> str:
    """A built file as a student reads it: raw, and for HTML also without its tags (highlighted code)."""
    import html as html_module

    raw = path.read_text(errors="ignore")
    if path.suffix == ".html":
        raw += "\n" + html_module.unescape(re.sub(r"<[^>]+>", "", raw))
    return raw


def test_course_edition_has_no_solution_line_in_any_file():
    """Pages, sources behind the download buttons, the search index: nothing built holds a solution's line."""
    require_course_edition()
    lines = solution_lines()
    assert len(lines) > 40, "the chapters' solutions were not found"
    leaks = []
    for path in sorted(COURSE_HTML.rglob("*")):
        if path.is_file() and path.suffix in (".html", ".js", ".txt", ".ipynb", ".md", ".json", ".py"):
            text = readable_text(path)
            leaks += [f"{path.relative_to(COURSE_HTML)}: {line}" for line in lines if line in text
                      or json.dumps(line)[1:-1] in text]
    assert leaks == []
    downloads = sorted((COURSE_HTML / "_sources" / "book").glob("*.ipynb"))
    assert len(downloads) == len(TOC["chapters"])
    for download in downloads:  # each chapter's download is its student notebook
        assert download.read_bytes() == (ROOT / "assignments" / download.name).read_bytes()


@pytest.mark.parametrize("page_path", [page for page in PAGES if page != TOC["root"]])
def test_course_edition_withholds_every_solution(browser, page_path):
    require_course_edition()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto((COURSE_HTML / f"{page_path}.html").as_uri(), wait_until="load")
    text = page.evaluate("document.querySelector('article').innerText")
    names = EXERCISES.get(page_path, [])
    assert page.locator(".tms-solution-withheld").count() == len(names)
    assert page.locator(".tms-solution").count() == 0 and "Show solution" not in text
    for name in names:
        assert f"def {name}(" not in text, f"{name}: its solution shows in the course edition"
        assert f"check_{name}({name})" in text, f"{name}: its check should still show"
    assert "Course edition" in page.evaluate("document.body.innerText"), "the page does not say which edition it is"
    links = page.evaluate("Array.from(document.querySelectorAll('a')).map(a => a.href)")
    repo, student = URL.removeprefix("https://github.com/"), f"assignments/{Path(page_path).name}.ipynb"
    assert f"https://colab.research.google.com/github/{repo}/blob/main/{student}" in links
    assert f"https://mybinder.org/v2/gh/{repo}/main?urlpath=tree/{student}" in links
    assert not [link for link in links if f"{page_path}.ipynb" in link and "_sources" not in link], \
        "a launch button still opens the chapter with its solutions"
    local = [link for link in links if link.startswith("file://")]
    for link in local:  # every local file the page links to, downloads included
        target = Path(link.removeprefix("file://").split("#")[0].split("?")[0])
        if target.is_file():
            found = [line for line in solution_lines() if line in readable_text(target)]
            assert found == [], f"{target.name}, linked from {page_path}, holds solution lines: {found[:3]}"
    page.close()


def test_course_edition_landing_page_says_what_it_is(browser):
    require_course_edition()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto((COURSE_HTML / f"{TOC['root']}.html").as_uri(), wait_until="load")
    text = page.evaluate("document.querySelector('article').innerText")
    assert "the solutions are folded" not in text and "This is the course" in text
    page.close()
