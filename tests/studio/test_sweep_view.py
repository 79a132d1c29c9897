"""The sweep view: the best-metric column first, numbers to 4 significant digits (the full
value in the tooltip), brushing on the parallel-coordinate axes, and sweep runs opening the
sweep view from the runs tables."""

import os

import pytest

from kyanite_testing import made_sweep

pytestmark = pytest.mark.timeout(120)


SPACE = {"--lr": ["uniform", [0.0, 1.0]], "--batch": ["choice", [[16, 32, 64]]]}
KIDS = [
    ({"--lr": 0.1, "--batch": 16}, [0.5, 0.123456789], "Completed"),
    ({"--lr": 0.4, "--batch": 32}, [0.6, 0.41], "Completed"),
    ({"--lr": 0.7, "--batch": 64}, [0.9, 0.77777777], "Completed"),
    ({"--lr": 0.9, "--batch": 16}, [0.95, 0.9], "Completed"),
]


@pytest.fixture(scope="module")
def sweep(ws):
    return made_sweep(ws, "studio-sweep-view", SPACE, "minimize", "loss", KIDS)


def _drag(page, axis, frm, to):
    """Drag along ``axis`` from fraction ``frm`` to ``to`` of its height (0 = top)."""
    box = page.locator('.pc-brush-area[data-axis="%s"]' % axis).bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + box["height"] * frm)
    page.mouse.down()
    page.mouse.move(x, box["y"] + box["height"] * (frm + to) / 2, steps=3)
    page.mouse.move(x, box["y"] + box["height"] * to, steps=3)
    page.mouse.up()


def test_children_table_puts_the_best_metric_first_rounded(ws, page, base_url, sweep):
    sid, ids = sweep
    page.goto(base_url + "/sweeps/%s" % sid)
    table = page.locator("div.table-box table.grid")
    table.locator("tbody tr").nth(3).wait_for()
    assert table.locator("thead th:not(.check)").first.inner_text() == "best loss"
    first = table.locator("tbody tr").first
    assert first.get_attribute("data-key") == ids[0]  # the lowest loss: the goal is to minimize
    cell = first.locator("td:not(.check)").first.locator("span.r4")
    assert cell.inner_text() == "0.1235"
    assert cell.get_attribute("title") == "0.123456789"
    third = table.locator('tbody tr[data-key="%s"] td:not(.check)' % ids[2]).first
    assert third.inner_text() == "0.7778"
    assert page.locator("b.best-metric").inner_text() == "0.1235"


def test_brushing_the_parallel_coordinate_axes(ws, page, base_url, sweep, artifacts_dir):
    sid, ids = sweep
    page.goto(base_url + "/sweeps/%s" % sid)
    svg = page.locator("svg.parcoords")
    svg.wait_for()
    svg.scroll_into_view_if_needed()
    kept = lambda: sorted(svg.locator("a.pc-run:not(.pc-filtered)").evaluate_all("els => els.map(e => e.dataset.run)"))
    assert svg.get_attribute("data-brushed") == "0"
    # --lr runs 0.1 .. 0.9 bottom to top: the lower half keeps 0.1 and 0.4
    _drag(page, "--lr", 0.45, 1.0)
    assert svg.get_attribute("data-brushed") == "1"
    assert kept() == sorted(ids[:2])
    assert "2 of 4" in page.locator(".pc-brush-info").inner_text()
    # a second axis: AND. --batch 16 is the bottom third
    _drag(page, "--batch", 0.7, 0.98)
    assert svg.get_attribute("data-brushed") == "2"
    assert kept() == [ids[0]]
    page.locator("section.parcoords-card").screenshot(path=os.path.join(artifacts_dir, "sweep-parcoords-brushed.png"))
    # a click on an axis clears its range
    box = page.locator('.pc-brush-area[data-axis="--lr"]').bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.5)
    assert svg.get_attribute("data-brushed") == "1"
    assert kept() == sorted([ids[0], ids[3]])
    box = page.locator('.pc-brush-area[data-axis="--batch"]').bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.5)
    assert svg.get_attribute("data-brushed") == "0"
    assert kept() == sorted(ids)


def test_sweep_runs_open_the_sweep_view_from_the_runs_tables(ws, page, base_url, sweep):
    sid, _ids = sweep
    page.goto(base_url + "/experiments/studio-sweep-view")
    link = page.locator('a[href="/sweeps/%s"]' % sid)
    link.first.wait_for()
    page.goto(base_url + "/experiments")
    page.locator('a[href="/sweeps/%s"]' % sid).first.wait_for()
    page.locator('a[href="/sweeps/%s"]' % sid).first.click()
    page.wait_for_url("**/sweeps/%s" % sid)
    page.locator("div.table-box table.grid tbody tr").first.wait_for()
    # and the sweep's run page links to it
    page.goto(base_url + "/runs/%s" % sid)
    assert page.locator("a.btn", has_text="Sweep view").get_attribute("href") == "/sweeps/%s" % sid


def test_sweep_run_metrics_tab_charts_the_childrens_primary_metric(ws, page, base_url, sweep):
    sid, ids = sweep
    page.goto(base_url + "/runs/%s#metrics" % sid)
    chart = page.locator('.panel[data-panel="metrics"] .sweep-chart[data-metric="loss"]')
    chart.locator("canvas").wait_for()
    assert chart.locator(".u-legend .u-series").count() == 1 + len(ids)  # step + one line per child
    assert "#0" in chart.locator(".u-legend").inner_text()


def test_sweep_widget_shows_the_children_with_their_metric(ws, browser, base_url, sweep, artifacts_dir):
    """RunDetails(sweep run) in a notebook (another site: the embed ticket, no cookie): the
    sweep view with the children and their primary metric, the charts of their series, and
    the sweep's run page one click away, with no request refused."""
    from kyanite.core import Run
    from kyanite.widgets import RunDetails
    sid, ids = sweep
    html = RunDetails(Run.get(ws, sid))._repr_html_()
    assert "/runs/%s/embed?ticket=" % sid in html
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = ctx.new_page()
    errors, refused = [], []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("response", lambda r: refused.append(r.url) if r.status >= 400 else None)
    pg.set_content('<html><body style="margin:0">%s</body></html>' % html.replace('height="720"', 'height="880"'))
    frame = pg.frame_locator("iframe")
    table = frame.locator("div.table-box table.grid")
    table.locator("tbody tr").nth(len(ids) - 1).wait_for()
    assert table.locator("thead th").first.inner_text() == "best loss"
    assert table.locator("tbody tr").first.get_attribute("data-key") == ids[0]
    assert table.locator("tbody tr").first.locator("td").first.inner_text() == "0.1235"
    assert frame.locator("b.best-metric").inner_text() == "0.1235"
    assert frame.locator("input.pick").count() == 0  # the compare page needs the studio itself
    chart = frame.locator('.chart[data-metric="loss"]')
    chart.locator("canvas").wait_for()
    frame.locator(".chart-info", has_text="%d points" % (2 * len(ids))).wait_for()
    assert frame.locator("svg.parcoords path.pc-line").count() == len(ids)
    pg.screenshot(path=os.path.join(artifacts_dir, "sweep-widget.png"))
    # the sweep's run page, its metrics tab charting the children's series
    frame.locator("a.run-view").click()
    frame.locator("a.sweep-view").wait_for()
    frame.locator("button[data-tab=metrics]").click()
    frame.locator('.sweep-chart[data-metric="loss"] canvas').wait_for()
    frame.locator("button[data-tab=children]").click()
    frame.locator('.panel[data-panel="children"] tbody tr').nth(len(ids) - 1).wait_for()
    ctx.close()
    assert not errors and not refused, (errors, refused)
