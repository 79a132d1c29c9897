"""Comparing runs in headless Chromium: pick three runs in the runs table, Compare opens
/compare?runs=a,b,c with their parameters and final metrics side by side (differences
marked, an only-differences toggle), the series overlaid on one chart per metric, single
values as bars, parallel coordinates and a parameter/metric scatter; the deep link reloads
to the same view. The runs page's filter box filters rows on the server and shows where a
malformed filter goes wrong; the run page lists the parameters parsed from its arguments."""

import os

import pytest

pytestmark = pytest.mark.timeout(180)

EXP = "studio-compare"


@pytest.fixture(scope="module")
def runs(ws):
    made = []
    for i, (bs, lr) in enumerate([(50, 0.001), (50, 0.01), (32, 0.01)]):
        run = ws._client.post("/api/runs", {
            "experiment": EXP, "status": "Running", "display_name": "cmp-%d" % i, "tags": {"team": "vision"},
            "definition": {"arguments": ["--batch-size", str(bs), "--lr=%s" % lr, "--opt", "adam", "--amp"]}})
        rid = run["runId"]
        ws._client.post("/api/runs/%s/metrics" % rid, {"metrics": [
            {"name": "loss", "kind": "scalar", "values": [1.0 / (k + 1 + i) for k in range(20)],
             "ts": [1700000000.0 + k for k in range(20)]},
            {"name": "final_acc", "kind": "scalar", "values": [0.9 + 0.02 * i], "ts": [1700000100.0]}]})
        ws._client.post("/api/runs/%s/status" % rid, {"status": "Completed"})
        made.append(rid)
    return made


def rows(page):
    return page.locator(".table-box table.grid tbody tr")


def test_filter_box_filters_rows_and_names_the_error(page, base_url, runs, artifacts_dir):
    page.goto(base_url + "/experiments/" + EXP)
    page.wait_for_function("n => document.querySelectorAll('.table-box tbody tr').length === n", arg=3)
    box = page.locator("input.filter")
    box.fill("params.batch_size = 50 and metrics.final_acc > 0.91")
    box.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('.table-box tbody tr').length === 1")
    assert rows(page).first.get_attribute("data-key") == runs[1]
    assert "filter=" in page.url
    box.fill("params.batch_size = 50 or tags.team = 'x'")
    box.press("Enter")
    err = page.locator(".filter-error")
    err.wait_for()
    assert "character 24" in err.text_content() and "AND" in err.text_content()
    box.fill("tags.team = 'vision'")
    box.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('.table-box tbody tr').length === 3")
    assert err.text_content() == ""
    # the column picker adds parameters as columns
    page.locator("details.col-picker summary").click()
    page.locator('details.col-picker input[data-param="lr"]').check()
    page.wait_for_function("() => [...document.querySelectorAll('.table-box th')].some(t => t.textContent === 'lr')")
    page.screenshot(path=os.path.join(artifacts_dir, "runs-filter.png"), full_page=True)


def test_select_three_runs_and_compare(page, base_url, runs, artifacts_dir):
    page.goto(base_url + "/experiments/" + EXP)
    page.wait_for_function("n => document.querySelectorAll('.table-box tbody tr').length === n", arg=3)
    button = page.locator("button.compare-btn")
    assert button.is_disabled()
    for rid in runs:
        page.locator('input.pick[data-run="%s"]' % rid).check()
    assert button.text_content() == "Compare (3)"
    button.click()
    page.wait_for_url("**/compare?runs=*")
    assert sorted(page.url.split("runs=")[1].split(",")) == sorted(runs)
    check_compare(page, runs)
    page.screenshot(path=os.path.join(artifacts_dir, "compare.png"), full_page=True)
    page.reload()  # the deep link draws the same view
    check_compare(page, runs)


def check_compare(page, runs):
    page.locator("table.compare-table").wait_for()
    diff = page.locator('tr[data-kind="param"][data-key="batch_size"]')
    assert "differs" in diff.get_attribute("class") and diff.locator("td.diff").count() == 3
    assert [c.text_content() for c in page.locator('tr[data-kind="param"][data-key="lr"] td').all()] == \
        ["0.001", "0.01", "0.01"]
    same = page.locator('tr[data-kind="param"][data-key="opt"]')
    assert "differs" not in (same.get_attribute("class") or "") and same.locator("td.diff").count() == 0
    assert page.locator('tr[data-kind="metric"][data-key="final_acc"].differs').count() == 1
    page.locator("input.only-diff").check()
    assert page.locator('tr[data-kind="param"][data-key="opt"]').count() == 0
    assert page.locator('tr[data-kind="param"][data-key="amp"]').count() == 0
    assert page.locator('tr[data-kind="param"][data-key="batch_size"]').count() == 1
    page.locator("input.only-diff").uncheck()
    assert page.locator('tr[data-kind="param"][data-key="amp"]').count() == 1
    # one chart for loss with a line per run; final_acc (one point each) as bars, not a chart
    page.wait_for_function("() => K.charts.loss && K.charts.loss.plotted() && "
                           "K.charts.loss.plotted().series.filter(s => !s.raw && s.x.length === 20).length === 3")
    p = page.evaluate("() => K.charts.loss.plotted()")
    assert sorted(l["runId"] for l in p["lines"]) == sorted(runs)
    assert page.locator('.chart[data-metric="final_acc"]').count() == 0
    bars = page.locator('svg.bar-chart[data-metric="final_acc"] rect.bar')
    assert bars.count() == 3
    widths = [float(b.get_attribute("width")) for b in bars.all()]
    assert all(w > 1 for w in widths) and widths[0] < widths[1] < widths[2]
    assert page.locator("svg.compare-pc polyline.pc-line").count() == 3
    assert page.locator("svg.compare-scatter circle.scatter-point").count() == 3


def test_run_page_lists_parameters(page, base_url, runs, artifacts_dir):
    page.goto(base_url + "/runs/" + runs[0])
    card = page.locator(".params-card")
    card.wait_for()
    cells = dict((r.locator("td").nth(0).text_content(), r.locator("td").nth(1).text_content())
                 for r in card.locator("tbody tr").all())
    assert cells == {"amp": "True", "batch_size": "50", "lr": "0.001", "opt": "adam"}


def test_a_run_page_compare_link_opens_the_compare_view(page, base_url, runs):
    page.goto(base_url + "/runs/" + runs[0] + "?compare=" + runs[1] + "," + runs[2])
    page.wait_for_url("**/compare?runs=*")
    assert page.url.endswith("/compare?runs=" + ",".join(runs[:3]))
