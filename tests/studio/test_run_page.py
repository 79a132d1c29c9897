"""The run page in headless Chromium: the live log (no freeze, colours, progress lines,
search, download), the error card, one fetch per metric series, tabs following the
address, the file tree with previews, the source snapshot, and editing a run."""

import base64
import json
import os
import re
import time
import urllib.parse

import pytest

from kyanite.core import Experiment, ScriptRunConfig

pytestmark = pytest.mark.timeout(240)

# a 2x2 PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==")

RICH = r'''
import json, os, sys, time
from kyanite.core import Run
run = Run.get_context()
for i in range(1, 4):
    run.log("loss", 1.0 / i)
    run.log("accuracy", 1 - 0.5 / i)
run.flush()
w = sys.stdout.write
w("\x1b[32mgreen text\x1b[0m plain \x1b[1;31mbold red\x1b[0m \x1b]0;a title\x07after osc\x1b[K\n")
for epoch in range(1, 4):
    print("Epoch %d/3" % epoch, flush=True)
    for step in range(1, 6):
        w("\r%d/5 [%s%s] - loss: %.2f" % (step, "=" * step, "." * (5 - step), 1.0 / step))
        sys.stdout.flush()
        time.sleep(0.12)   # separate chunks of the live stream
    w("\n")
w("\x1b[3")                # an escape sequence cut between two chunks
sys.stdout.flush()
time.sleep(0.4)
w("3myellow\x1b[0m done\n")
sys.stdout.flush()
os.makedirs("outputs/data", exist_ok=True)
os.makedirs("outputs/img", exist_ok=True)
with open("outputs/data/table.csv", "w") as f:
    f.write("id,name,score\n")
    for i in range(80):
        f.write('%d,"row, %d",%s\n' % (i, i, i * 0.5))
with open("outputs/config.json", "w") as f:
    json.dump({"lr": 0.01, "layers": [64, 32], "name": "mnist"}, f)
with open("outputs/img/plot.png", "wb") as f:
    f.write(bytes.fromhex(sys.argv[1]))
with open("outputs/img/icon.svg", "w") as f:
    f.write('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><script>window.svgRan=1</script>'
            '<rect width="20" height="20" fill="red"/></svg>')
with open("outputs/big.txt", "w") as f:
    f.write(("0123456789abcdef" * 64 + "\n") * 300)   # ~300 KB
'''

HELPER = "def helper():\n    return 42\n"


def _src(tmp_path, name, body, **files):
    src = tmp_path / name
    src.mkdir()
    (src / "train.py").write_text(body)
    for rel, text in files.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return src


def _submit(ws, src, env, args=(), exp="run-page"):
    return Experiment(ws, exp).submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=list(args), environment=env))


def _api(http, token, method, path, body=None):
    headers = {"Authorization": "Bearer " + token}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    status, headers, data, _ = http.request(method, path, body=body, headers=headers)
    return status, headers, data


@pytest.fixture(scope="module")
def rich_run(ws, tmp_path_factory, current_env):
    tmp = tmp_path_factory.mktemp("rich")
    src = _src(tmp, "rich", RICH, **{"pkg/helper.py": HELPER, "notes.md": "# notes\n"})
    run = _submit(ws, src, current_env, [PNG.hex()])
    run.wait_for_completion(raise_on_error=True)
    return run


def _open(page, base_url, run_id, tab):
    page.goto(base_url + "/runs/%s#%s" % (run_id, tab))
    page.wait_for_selector("button.tab.active[data-tab=%s]" % tab)


def test_live_log_lines_show_within_two_seconds_of_being_written(ws, page, base_url, tmp_path, current_env,
                                                                 artifacts_dir):
    flag = tmp_path / "go"
    body = ("import os, sys, time\n"
            "deadline = time.time() + 60\n"
            "while not os.path.exists(sys.argv[1]) and time.time() < deadline:\n"
            "    time.sleep(0.05)\n"
            "for i in range(20):\n"
            "    print('tick %d at %.3f' % (i, time.time()), flush=True)\n"
            "    time.sleep(0.5)\n")
    run = _submit(ws, _src(tmp_path, "ticks", body), current_env, [str(flag)])
    try:
        deadline = time.time() + 60
        while run.get_status() != "Running" and time.time() < deadline:
            time.sleep(0.1)
        assert run.get_status() == "Running"
        _open(page, base_url, run.id, "logs")
        page.wait_for_selector("pre.log")
        # when each tick line shows in the page (the page's clock is this machine's clock)
        page.evaluate("""() => {
            window.seen = {};
            const pre = document.querySelector('pre.log');
            new MutationObserver(() => {
              for (const m of pre.textContent.matchAll(/tick (\\d+) at ([\\d.]+)/g))
                if (!(m[1] in window.seen)) window.seen[m[1]] = { written: +m[2], shown: Date.now() / 1000 };
            }).observe(pre, { childList: true, subtree: true, characterData: true });
        }""")
        time.sleep(1.0)  # the page's first long poll is in flight
        flag.write_text("go")
        page.wait_for_function("() => Object.keys(window.seen).length >= 6", timeout=30000)
        seen = page.evaluate("window.seen")
        delays = {int(k): v["shown"] - v["written"] for k, v in seen.items()}
        print("log delays (s):", sorted(delays.items()))
        assert delays[0] < 2.0, "the first line showed %.1f s after it was written" % delays[0]
        assert max(delays[i] for i in range(6)) < 2.0, delays
        assert page.locator(".title-row .badge").inner_text() == "Running"
        page.screenshot(path=os.path.join(artifacts_dir, "run-page-live-log.png"), full_page=True)
    finally:
        flag.write_text("go")
        run.wait_for_completion(raise_on_error=False)


def test_log_colours_progress_lines_search_and_download(page, base_url, rich_run, artifacts_dir):
    _open(page, base_url, rich_run.id, "logs")
    pre = page.locator("pre.log")
    pre.locator(".ln", has_text="yellow done").wait_for()
    text = pre.text_content()
    assert "\x1b" not in text and "\r" not in text and "\b" not in text
    # colours as spans with classes; other escapes (an OSC title, erase line) dropped
    assert page.locator("pre.log span.ansi-fg-2", has_text="green text").count() == 1
    bold_red = page.locator("pre.log span.ansi-fg-1.ansi-bold", has_text="bold red")
    assert bold_red.count() == 1
    assert "a title" not in text and "after osc" in text
    assert page.locator("pre.log span.ansi-fg-3", has_text="yellow").count() == 1  # cut across two chunks
    # progress bars: only the last state of each line shows
    lines = [ln for ln in text.split("\n") if ln]
    bars = [ln for ln in lines if "/5 [" in ln]
    assert bars == ["5/5 [=====] - loss: 0.20"] * 3, bars
    assert "1/5 [" not in text
    # search: a count, highlighted matches, jumps
    page.fill("input.log-search", "epoch")
    count = page.locator(".search-count")
    page.wait_for_function("() => document.querySelector('.search-count').textContent === '1 of 3'")
    assert page.locator("pre.log mark.hit").count() == 3
    assert page.locator("pre.log mark.hit.current").inner_text() == "Epoch"
    page.press("input.log-search", "Enter")
    assert count.inner_text() == "2 of 3"
    page.click("button.search-prev")
    page.click("button.search-prev")
    assert count.inner_text() == "3 of 3"
    page.fill("input.log-search", "nothing like this")
    page.wait_for_function("() => document.querySelector('.search-count').textContent === 'no matches'")
    assert page.locator("pre.log mark.hit").count() == 0
    page.fill("input.log-search", "loss: 0.20")
    page.wait_for_function("() => document.querySelector('.search-count').textContent === '1 of 3'")
    page.screenshot(path=os.path.join(artifacts_dir, "run-page-log-search.png"), full_page=True)
    # the whole log file as a download
    with page.expect_download() as dl:
        page.click("a.log-download")
    with open(dl.value.path(), "rb") as f:
        data = f.read()
    assert dl.value.suggested_filename == "std_log.txt"
    assert b"\x1b[32mgreen text" in data and b"\r5/5 [=====]" in data


def test_the_log_view_gives_the_same_lines_however_the_stream_is_cut(page, base_url, rich_run):
    _open(page, base_url, rich_run.id, "overview")
    out = page.evaluate(r"""() => {
        const text = "a\x1b[31mred\x1b[0m\r\nprog 1\rprog 22\rprog 3\nx\x1b[1;32mB\x1b[0m\x1b]0;t\x07y\b\bZ\n12345\r\x1b[Kab\n";
        const shown = (cuts) => {
          const pre = document.createElement('pre');
          const v = new K.LogView(pre);
          let at = 0;
          for (const c of cuts.concat([text.length])) { v.feed(text.slice(at, c)); at = c; }
          return pre.innerHTML;
        };
        const whole = shown([]);
        const bad = [];
        for (let i = 1; i < text.length; i++) if (shown([i]) !== whole) bad.push(i);
        const every = shown(Array.from({length: text.length - 1}, (_, i) => i + 1));
        const pre = document.createElement('pre');
        new K.LogView(pre).feed(text);
        return { bad: bad, every: every === whole, text: pre.textContent, html: whole };
    }""")
    assert out["bad"] == [] and out["every"], out
    assert out["text"] == "ared\nprog 32\nxZy\nab\n", out["text"]
    assert '<span class="ansi-fg-1">red</span>' in out["html"]


def test_error_card_shows_the_log_tail_as_lines(ws, page, base_url, tmp_path, current_env):
    body = "for i in range(1, 4):\n    print('line %d, with a comma' % i, flush=True)\nraise SystemExit('it broke')\n"
    run = _submit(ws, _src(tmp_path, "fails", body), current_env)
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Failed"
    _open(page, base_url, run.id, "overview")
    tail = page.locator(".error-card pre")
    tail.wait_for()
    text = tail.text_content()
    assert "line 1, with a comma\nline 2, with a comma\nline 3, with a comma" in text, text
    assert "comma,line" not in text


def test_a_completed_run_fetches_each_series_once(page, base_url, rich_run):
    fetched = []
    page.on("request", lambda r: fetched.append(urllib.parse.urlsplit(r.url).path)
            if "/series" in r.url else None)
    _open(page, base_url, rich_run.id, "metrics")
    page.wait_for_selector("body[data-run-ended='1']")
    page.wait_for_function("() => document.querySelectorAll('.chart canvas').length >= 2")
    time.sleep(1.5)  # anything fetched late shows up too
    series = sorted(p.split("/metrics/")[1] for p in fetched)
    assert series == ["accuracy/series", "loss/series"], fetched


def test_tabs_follow_the_address_and_history(page, base_url, rich_run):
    _open(page, base_url, rich_run.id, "overview")
    page.evaluate("location.hash = '#files'")
    page.wait_for_selector("button.tab.active[data-tab=files]")
    # shown at once; "visible" to Playwright once the tree has drawn (an empty box is not)
    page.locator("div.panel[data-panel=files]").wait_for(state="visible", timeout=10000)
    page.click("button[data-tab=logs]")
    assert page.url.endswith("#logs")
    page.click("button[data-tab=environment]")
    page.go_back()
    page.wait_for_selector("button.tab.active[data-tab=logs]")
    page.go_back()
    page.wait_for_selector("button.tab.active[data-tab=files]")
    assert page.locator("div.panel[data-panel=logs]").is_hidden()
    page.go_forward()
    page.wait_for_selector("button.tab.active[data-tab=logs]")


def test_file_tree_and_previews(page, base_url, rich_run, artifacts_dir):
    _open(page, base_url, rich_run.id, "files")
    outputs = page.locator('details[data-folder="outputs"]')
    outputs.wait_for()
    img = page.locator('details[data-folder="outputs/img"]')
    assert img.count() == 1 and page.locator('details[data-folder="outputs/data"]').count() == 1
    # folders collapse and open
    assert outputs.evaluate("d => d.open")
    outputs.locator("summary").first.click()
    assert not outputs.evaluate("d => d.open")
    assert not page.locator('button.tree-file[data-path="outputs/config.json"]').is_visible()
    outputs.locator("summary").first.click()
    if not img.evaluate("d => d.open"):
        img.locator("summary").first.click()
    if not page.locator('details[data-folder="outputs/data"]').evaluate("d => d.open"):
        page.locator('details[data-folder="outputs/data"] summary').first.click()
    body = page.locator(".preview-body")
    # CSV: the first 50 rows as a table
    page.click('button.tree-file[data-path="outputs/data/table.csv"]')
    body.locator("table").wait_for()
    assert body.locator("thead th").all_inner_texts() == ["id", "name", "score"]
    assert body.locator("tbody tr").count() == 50
    assert body.locator("tbody tr").first.locator("td").all_inner_texts() == ["0", "row, 0", "0.0"]
    assert "first 50 rows" in body.inner_text()
    page.screenshot(path=os.path.join(artifacts_dir, "run-page-files-csv.png"), full_page=True)
    # JSON, pretty
    page.click('button.tree-file[data-path="outputs/config.json"]')
    body.locator("pre.json").wait_for()
    assert json.loads(body.locator("pre.json").text_content()) == {"lr": 0.01, "layers": [64, 32], "name": "mnist"}
    assert '\n  "lr": 0.01' in body.locator("pre.json").text_content()
    # images: a PNG, and an SVG as an <img> (its script never runs)
    page.click('button.tree-file[data-path="outputs/img/plot.png"]')
    page.wait_for_function("() => { const i = document.querySelector('.preview-body img'); "
                           "return i && i.complete && i.naturalWidth === 2; }")
    page.click('button.tree-file[data-path="outputs/img/icon.svg"]')
    page.wait_for_function("() => { const i = document.querySelector('.preview-body img'); "
                           "return i && i.src.endsWith('icon.svg') && i.complete && i.naturalWidth === 20; }")
    assert page.locator(".preview-body svg").count() == 0
    assert page.evaluate("window.svgRan") is None
    # a large file: its first 256 KB, with a note
    page.click('button.tree-file[data-path="outputs/big.txt"]')
    body.locator("p.partial").wait_for()
    assert "256 KB" in body.locator("p.partial").inner_text()
    assert len(body.locator("pre.preview").text_content()) == 262144
    # every file downloads
    with page.expect_download() as dl:
        page.click('a.file[data-path="outputs/config.json"]')
    with open(dl.value.path()) as f:
        assert json.load(f)["name"] == "mnist"
    page.screenshot(path=os.path.join(artifacts_dir, "run-page-files.png"), full_page=True)


def test_source_snapshot_is_browsable(page, base_url, http, token, rich_run, artifacts_dir):
    sha = rich_run.get_details()["runDefinition"]["snapshotId"]
    status, _, data = _api(http, token, "GET", "/api/snapshots/%s/files" % sha)
    assert status == 200
    paths = [f["path"] for f in json.loads(data)["files"]]
    assert paths == ["notes.md", "pkg/helper.py", "train.py"]
    status, headers, data = _api(http, token, "GET", "/api/snapshots/%s/files/pkg/helper.py" % sha)
    assert status == 200 and data == HELPER.encode() and headers["x-file-size"] == str(len(HELPER))
    assert headers["content-disposition"].startswith("attachment")
    status, _, data = _api(http, token, "GET", "/api/snapshots/%s/files/train.py?max_bytes=6" % sha)
    assert status == 200 and data == RICH.encode()[:6]
    # no way out of the snapshot, no unknown ids
    for bad in ("..%2F..%2Fk.db", "pkg/%2E%2E/%2E%2E/x", "%2Fetc%2Fpasswd"):
        status, _, data = _api(http, token, "GET", "/api/snapshots/%s/files/%s" % (sha, bad))
        assert status == 400 and b"not allowed" in data, (bad, status, data)
    assert _api(http, token, "GET", "/api/snapshots/%s/files/nope.py" % sha)[0] == 404
    assert _api(http, token, "GET", "/api/snapshots/%s/files" % ("0" * 64))[0] == 404
    assert _api(http, token, "GET", "/api/snapshots/not-a-sha/files")[0] == 400
    # the page: a tree with a preview
    _open(page, base_url, rich_run.id, "snapshot")
    panel = page.locator("div.panel[data-panel=snapshot]")
    panel.locator('details[data-folder="pkg"]').wait_for()
    panel.locator('button.tree-file[data-path="train.py"]').click()
    panel.locator("pre.preview", has_text="Run.get_context()").wait_for()
    panel.locator('button.tree-file[data-path="pkg/helper.py"]').click()
    panel.locator("pre.preview", has_text="return 42").wait_for()
    page.screenshot(path=os.path.join(artifacts_dir, "run-page-snapshot.png"), full_page=True)


def test_edit_name_description_and_tags_persists(ws, page, base_url, http, token, tmp_path, current_env, artifacts_dir):
    run = _submit(ws, _src(tmp_path, "edit", "print('hi')\n"), current_env)
    run.wait_for_completion(raise_on_error=True)
    status, _, _ = _api(http, token, "PATCH", "/api/runs/%s" % run.id, {"tags": {"old": "1", "keep": "yes"}})
    assert status == 200
    _open(page, base_url, run.id, "overview")
    page.click("button.edit-run")
    page.fill("#edit-name", "renamed run")
    page.fill("#edit-description", "Baseline run.\nSecond line.")
    page.click('.tag-chip[data-tag="old"] button.tag-remove')
    page.fill("#edit-tag-key", "stage")
    page.fill("#edit-tag-value", "prod")
    page.click("button.tag-add")
    page.locator('.tag-chip[data-tag="stage"]').wait_for()
    page.screenshot(path=os.path.join(artifacts_dir, "run-page-edit.png"), full_page=True)
    page.click("button.save")
    page.locator(".title-row h1", has_text="renamed run").wait_for()
    assert page.locator(".edit-card").count() == 0
    status, _, data = _api(http, token, "GET", "/api/runs/%s" % run.id)
    details = json.loads(data)
    assert details["displayName"] == "renamed run"
    assert details["description"] == "Baseline run.\nSecond line."
    assert details["tags"] == {"keep": "yes", "stage": "prod"}
    page.reload()
    page.locator(".title-row h1", has_text="renamed run").wait_for()
    page.locator("section.card", has_text="Tags").locator("td", has_text="stage").wait_for()
    assert page.locator("p.description").inner_text() == "Baseline run.\nSecond line."
    page.click("button.edit-run")
    assert page.input_value("#edit-description") == "Baseline run.\nSecond line."
    page.click("button.cancel-edit")
    # a bad edit says what is wrong and keeps the form
    page.click("button.edit-run")
    page.fill("#edit-name", "x" * 300)
    page.evaluate("document.querySelector('#edit-name').removeAttribute('maxlength')")
    page.fill("#edit-name", "x" * 300)
    page.click("button.save")
    # (the empty error line is there, bordered, from the start: wait for its text)
    page.locator(".edit-error", has_text="more than the 255 allowed").wait_for()
    assert json.loads(_api(http, token, "GET", "/api/runs/%s" % run.id)[2])["displayName"] == "renamed run"
