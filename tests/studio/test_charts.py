"""The run page's metric charts in headless Chromium: a drag-zoom draws the server's fine points
of the range (and a reset the coarse view again), EMA smoothing, log y, x by wall or relative
time, a train and a validation metric on one chart, and a series downloaded as CSV."""

import csv
import io
import math
import os

import pytest

from kyanite.core import Experiment

pytestmark = pytest.mark.timeout(180)

N = 100000
T0 = 1700000000.0


def wave(i):
    return 2.0 + math.sin(i / 5000.0)


@pytest.fixture(scope="module")
def charted(ws):
    """A completed run with 'wave' (100,000 points of a smooth function, times 10 ms apart),
    'loss' and 'val_loss' (30 points each, all > 0), 'signed' (values <= 0 among them) and a
    table."""
    run = Experiment(ws, "studio-charts").start_logging(display_name="charted")
    for a in range(0, N, 25000):
        ws._client.post("/api/runs/%s/metrics" % run.id, {"metrics": [
            {"name": "wave", "kind": "scalar", "values": [wave(i) for i in range(a, a + 25000)],
             "ts": [T0 + i * 0.01 for i in range(a, a + 25000)]}]})
    ws._client.post("/api/runs/%s/metrics" % run.id, {"metrics": [
        {"name": "loss", "kind": "scalar", "values": [1.0 / (i + 1) for i in range(30)],
         "ts": [T0 + 60 * i for i in range(30)]},
        {"name": "val_loss", "kind": "scalar", "values": [1.2 / (i + 1) for i in range(30)],
         "ts": [T0 + 60 * i + 30 for i in range(30)]},
        {"name": "signed", "kind": "scalar", "values": [math.cos(i / 3.0) for i in range(40)],
         "ts": [T0 + i for i in range(40)]}]})
    run.log_table("confusion", {"a": [1, 2], "b": [3, 4]})
    run.complete()
    return run


def open_chart(page, base_url, run, metric):
    page.goto(base_url + "/runs/%s#metrics" % run.id)
    page.locator('.chart[data-metric="%s"] canvas' % metric).wait_for()
    return page.locator('.chart[data-metric="%s"]' % metric)


def plotted(page, metric):
    return page.evaluate("(m) => K.charts[m].plotted()", metric)


def inside(p, series=0):
    """The drawn points of one series inside the shown x range, as (x, y) pairs."""
    s = p["series"][series]
    lo, hi = p["x"]["min"], p["x"]["max"]
    return [(x, y) for x, y in zip(s["x"], s["y"]) if lo <= x <= hi]


def server(page, run, metric, **params):
    return page.evaluate("([r, m, p]) => K.loadSeries(r, m, p)", [run.id, metric, params])


def test_zoom_draws_the_fine_points_and_a_reset_the_coarse_view(page, base_url, charted, artifacts_dir):
    chart = open_chart(page, base_url, charted, "wave")
    mp = page.evaluate("K.charts.wave.maxPoints()")
    coarse = server(page, charted, "wave", max_points=mp)
    assert coarse["downsampled"] and coarse["count"] == N
    p = plotted(page, "wave")
    assert p["series"][0]["x"] == coarse["steps"] and p["series"][0]["y"] == coarse["values"]

    # a drag across 2% of the chart: the finer points of that range replace the coarse ones
    box = chart.locator(".u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.41, y, steps=3)
    page.mouse.move(box["x"] + box["width"] * 0.42, y, steps=3)
    page.mouse.up()
    page.wait_for_function("() => document.querySelector('.chart[data-metric=\"wave\"]').dataset.zoomed")
    p = plotted(page, "wave")
    lo, hi = p["x"]["min"], p["x"]["max"]
    assert p["zoomed"] and 0.35 * N < lo < hi < 0.47 * N
    det = p["lines"][0]["detail"]
    fine = server(page, charted, "wave", max_points=mp, min_step=det["lo"], max_step=det["hi"])
    want = [(s, v) for s, v in zip(fine["steps"], fine["values"]) if lo <= s <= hi]
    assert inside(p) == want
    # finer than the coarse view: more points, and none of the coarse pairs between them
    assert len(want) > 3 * len([s for s in coarse["steps"] if lo <= s <= hi])
    page.screenshot(path=os.path.join(artifacts_dir, "charts-zoom-drag.png"))

    # the zoom API: a range of 400 steps comes back as the points themselves, the smooth curve
    page.evaluate("K.charts.wave.zoom(50000, 50400)")
    page.wait_for_function("() => K.charts.wave.plotted().lines[0].detail.lo === 50000")
    p = plotted(page, "wave")
    assert p["x"] == {"min": 50000, "max": 50400}
    assert inside(p) == [(i, wave(i)) for i in range(50000, 50401)]
    page.screenshot(path=os.path.join(artifacts_dir, "charts-zoom-fine.png"))

    # a double-click resets: the whole series, coarse again
    chart.locator(".u-over").dblclick()
    page.wait_for_function("() => !K.charts.wave.plotted().zoomed")
    p = plotted(page, "wave")
    assert p["series"][0]["x"] == coarse["steps"] and p["series"][0]["y"] == coarse["values"]
    assert p["lines"][0]["detail"] is None


def ema(ys, w):
    out, last, weight = [], 0.0, 0.0
    for v in ys:
        last = last * w + (1 - w) * v
        weight = weight * w + (1 - w)
        out.append(last / weight)
    return out


def test_smoothing_draws_an_ema_over_the_faint_raw_line_and_0_restores_it(page, base_url, charted, artifacts_dir):
    chart = open_chart(page, base_url, charted, "signed")
    raw = [math.cos(i / 3.0) for i in range(40)]
    assert plotted(page, "signed")["series"][0]["y"] == raw
    chart.locator("input.ema").fill("0.8")
    page.wait_for_function("() => document.querySelector('.chart[data-metric=\"signed\"]').dataset.ema === '0.8'")
    p = plotted(page, "signed")
    assert [s["raw"] for s in p["series"]] == [True, False]
    assert p["series"][0]["y"] == raw
    assert p["series"][1]["y"] == pytest.approx(ema(raw, 0.8), rel=1e-12, abs=1e-12)
    assert p["series"][1]["y"][0] == raw[0]  # debiased: the first point is not pulled toward 0
    page.screenshot(path=os.path.join(artifacts_dir, "charts-ema.png"))
    # the setting survives a reload
    chart = open_chart(page, base_url, charted, "signed")
    assert chart.locator("input.ema").input_value() == "0.8"
    assert len(plotted(page, "signed")["series"]) == 2
    chart.locator("input.ema").fill("0")
    page.wait_for_function("() => document.querySelector('.chart[data-metric=\"signed\"]').dataset.ema === '0'")
    p = plotted(page, "signed")
    assert len(p["series"]) == 1 and p["series"][0]["y"] == raw and not p["series"][0]["raw"]


def test_log_y_and_hiding_outliers(page, base_url, charted, artifacts_dir):
    chart = open_chart(page, base_url, charted, "loss")
    assert not plotted(page, "loss")["logY"]
    chart.locator("input.log-y").check()
    page.wait_for_function("() => K.charts.loss.plotted().logY")
    assert chart.get_attribute("data-log-y") == "1"
    page.screenshot(path=os.path.join(artifacts_dir, "charts-log-y.png"))
    # values <= 0: log y is not offered, and says why
    signed = page.locator('.chart[data-metric="signed"]')
    assert signed.locator("input.log-y").is_disabled()
    assert "> 0" in signed.locator("label:has(input.log-y)").get_attribute("title")
    # outliers: the y range is the 1st..99th percentile of the values drawn (padded by 5%)
    chart.locator("input.log-y").uncheck()
    page.wait_for_function("() => !K.charts.loss.plotted().logY")
    full = plotted(page, "loss")["yRange"]
    chart.locator("input.clip").check()
    page.wait_for_function("() => K.charts.loss.plotted().yRange[1] < %r" % full[1])
    vals = sorted([1.0 / (i + 1) for i in range(30)] + [1.2 / (i + 1) for i in range(30)])
    pos = (len(vals) - 1) * 0.99
    p99 = vals[int(pos)] + (pos - int(pos)) * (vals[int(pos) + 1] - vals[int(pos)])
    assert plotted(page, "loss")["yRange"][1] < max(vals) and plotted(page, "loss")["yRange"][1] >= p99


def test_x_axis_by_wall_time_and_relative_time(page, base_url, charted, artifacts_dir):
    chart = open_chart(page, base_url, charted, "loss")
    chart.locator("select.x-axis").select_option("time")
    page.wait_for_function("() => K.charts.loss.plotted().mode === 'time'")
    p = plotted(page, "loss")
    xs = [T0 + 60 * i for i in range(30)] + [T0 + 60 * i + 30 for i in range(30)]
    assert p["series"][0]["x"] == [T0 + 60 * i for i in range(30)]
    assert p["series"][1]["x"] == [T0 + 60 * i + 30 for i in range(30)]
    assert p["x"]["min"] <= min(xs) and p["x"]["max"] >= max(xs)
    page.screenshot(path=os.path.join(artifacts_dir, "charts-x-time.png"))
    chart.locator("select.x-axis").select_option("relative")
    page.wait_for_function("() => K.charts.loss.plotted().mode === 'relative'")
    p = plotted(page, "loss")
    assert p["series"][0]["x"] == [60.0 * i for i in range(30)]
    assert p["series"][1]["x"] == [60.0 * i for i in range(30)]  # each series from its own first point
    # kept over a reload
    open_chart(page, base_url, charted, "loss")
    assert plotted(page, "loss")["mode"] == "relative"
    page.locator('.chart[data-metric="loss"] select.x-axis').select_option("step")
    page.wait_for_function("() => K.charts.loss.plotted().mode === 'step'")
    assert plotted(page, "loss")["series"][0]["x"] == list(range(30))


def test_a_train_and_a_validation_metric_share_a_chart(page, base_url, charted, artifacts_dir):
    chart = open_chart(page, base_url, charted, "loss")
    assert page.locator('.chart[data-metric="val_loss"]').count() == 0
    assert chart.locator("h3").inner_text() == "loss · val_loss"
    p = plotted(page, "loss")
    assert [s["label"] for s in p["series"]] == ["loss", "val_loss"]
    assert p["series"][1]["y"] == [1.2 / (i + 1) for i in range(30)]
    assert chart.locator(".u-legend .u-series").count() == 3  # x + two lines
    assert page.evaluate("K.metricGroups(['acc', 'loss', 'val_acc', 'train/f1', 'val/f1', 'val_x', 'lr'])") == [
        ["acc", "val_acc"], ["loss"], ["train/f1", "val/f1"], ["val_x"], ["lr"]]
    chart.screenshot(path=os.path.join(artifacts_dir, "charts-train-val.png"))


def test_csv_download_has_every_point_as_logged(page, base_url, charted, http, token, artifacts_dir):
    chart = open_chart(page, base_url, charted, "wave")
    with page.expect_download() as info:
        chart.locator("a.csv-link").click()
    dl = info.value
    assert dl.suggested_filename == "%s_wave.csv" % charted.id
    with open(dl.path(), newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "value", "timestamp"] and len(rows) == N + 1
    assert [int(r[0]) for r in rows[1:]] == list(range(N))
    assert [float(r[1]) for r in rows[1:]] == [wave(i) for i in range(N)]
    assert [float(r[2]) for r in rows[1:]] == [T0 + i * 0.01 for i in range(N)]
    # one link per line on a train/validation chart
    links = page.locator('.chart[data-metric="loss"] a.csv-link')
    assert links.count() == 2 and links.nth(1).get_attribute("data-metric") == "val_loss"
    # the route: auth as the rest of the API, clear errors
    path = "/api/runs/%s/metrics/wave/csv" % charted.id
    assert http.request("GET", path)[0] == 401
    auth = {"Authorization": "Bearer " + token}
    st, headers, body, _ = http.request("GET", "/api/runs/%s/metrics/signed/csv" % charted.id, headers=auth)
    assert st == 200 and headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(body.decode())))[1] == ["0", "1.0", repr(T0)]
    st, _, body, _ = http.request("GET", "/api/runs/%s/metrics/nope/csv" % charted.id, headers=auth)
    assert st == 404 and b"nope" in body
    st, _, body, _ = http.request("GET", "/api/runs/%s/metrics/confusion/csv" % charted.id, headers=auth)
    assert st == 400 and b"confusion" in body


def test_series_carry_point_times(ws, charted):
    out = ws._client.get("/api/runs/%s/metrics/wave/series" % charted.id, params={"max_points": 1000})
    assert out["downsampled"] and out["firstTs"] == T0
    assert out["ts"] == [T0 + s * 0.01 for s in out["steps"]]
    out = ws._client.get("/api/runs/%s/metrics/wave/series" % charted.id,
                         params={"max_points": 1000, "min_step": 10, "max_step": 19})
    assert not out["downsampled"] and out["ts"] == [T0 + s * 0.01 for s in range(10, 20)]
