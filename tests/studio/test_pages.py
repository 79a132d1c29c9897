"""The studio in headless Chromium: sign in, watch a run from Queued to Completed with its log
streaming, its charts and its files, the runs page updating live, the notebook widget, a sweep,
a model's lineage and an endpoint."""

import json
import os
import re

import pytest

from kyanite.core import Experiment, ScriptRunConfig
from kyanite.core.compute import AmlCompute, ComputeTarget
from kyanite.widgets import RunDetails
from kyanite_testing import made_sweep

pytestmark = pytest.mark.timeout(180)

BLOCKER = """
import os, sys, time
deadline = time.time() + 60
while not os.path.exists(sys.argv[1]) and time.time() < deadline:
    time.sleep(0.05)
"""

TRAIN = """
import math, os, sys, time
from kyanite.core import Run
run = Run.get_context()
for i in range(1, 6):
    print("training step %d" % i, flush=True)
    run.log("loss", 1.0 / i)
    run.log("accuracy", 1 - 0.5 / i)
    run.flush()
run.log_table("confusion", {"label": ["cat", "dog"], "cat": [9, 1], "dog": [2, 8]})
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.txt", "w") as f:
    f.write("trained weights")
deadline = time.time() + 60
while not os.path.exists(sys.argv[1]) and time.time() < deadline:
    time.sleep(0.05)
print("done", flush=True)
"""


@pytest.fixture(scope="module")
def one_slot(ws):
    t = ComputeTarget.create(ws, "studio-1", AmlCompute.provisioning_configuration(vm_size="cpu", max_nodes=1))
    t.wait_for_completion()
    return t


def _submit(ws, tmp_path, target, env, body, flag, name):
    src = tmp_path / name
    src.mkdir()
    (src / "train.py").write_text(body)
    return Experiment(ws, "studio-live").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=[str(flag)], compute_target=target,
        environment=env))


def test_watch_a_run_from_queued_to_completed(ws, page, browser, base_url, token, tmp_path, one_slot,
                                              current_env, artifacts_dir):
    go, finish = tmp_path / "go", tmp_path / "finish"
    blocker = _submit(ws, tmp_path, one_slot, current_env, BLOCKER, go, "blocker")
    run = _submit(ws, tmp_path, one_slot, current_env, TRAIN, finish, "train")
    try:
        assert run.get_status() == "Queued"
        # the runs page lists both, with live status
        runs_page = page.context.new_page()
        runs_page.goto(base_url + "/experiments/studio-live")
        row = runs_page.locator('tr[data-key="%s"]' % run.id)
        row.locator(".badge", has_text="Queued").wait_for()
        # the compute page: the blocker runs on the one slot, the run waits in the queue
        page.goto(base_url + "/compute")
        page.locator("section.card", has_text="Queue (1)").locator("a", has_text=run.id).wait_for()
        assert page.locator('tr[data-key="studio-1"] td').nth(4).inner_text() == "1"  # running
        # the run page, on its log tab, while the run waits
        page.goto(base_url + "/runs/%s#logs" % run.id)
        page.locator(".title-row .badge", has_text="Queued").wait_for()
        go.write_text("go")  # the blocker ends; the run starts
        page.locator("pre.log", has_text="training step 5").wait_for(timeout=60000)
        assert page.locator(".title-row .badge").inner_text() in ("Running", "Finalizing")
        assert run.get_status() == "Running"  # the log streamed while the run ran
        row.locator(".badge", has_text="Running").wait_for()
        # a chart per metric, with points, while it runs
        page.click("button[data-tab=metrics]")
        chart = page.locator('.chart[data-metric="loss"]')
        chart.locator("canvas").wait_for()
        page.wait_for_function("document.querySelector('.chart[data-metric=\"loss\"]').dataset.points >= 5")
        assert page.locator('.chart[data-metric="accuracy"] canvas').count() == 1
        page.locator('.metric-table[data-metric="confusion"] td', has_text="dog").first.wait_for()
        page.screenshot(path=os.path.join(artifacts_dir, "run-page-running.png"), full_page=True)
        finish.write_text("done")
        page.locator(".title-row .badge", has_text="Completed").wait_for(timeout=60000)
        row.locator(".badge", has_text="Completed").wait_for()
        page.wait_for_selector("body[data-run-ended='1']")
        page.click("button[data-tab=logs]")
        page.locator("pre.log", has_text="done").wait_for()
        # files with download links
        page.click("button[data-tab=files]")
        link = page.locator('a.file[data-path="outputs/model.txt"]')
        link.wait_for()
        with page.expect_download() as dl:
            link.click()
        path = dl.value.path()
        with open(path) as f:
            assert f.read() == "trained weights"
        page.click("button[data-tab=overview]")
        page.locator("table.kv td", has_text="studio-1").wait_for()
        page.screenshot(path=os.path.join(artifacts_dir, "run-page.png"), full_page=True)
        runs_page.screenshot(path=os.path.join(artifacts_dir, "runs-page.png"), full_page=True)
        print("studio screenshots in", artifacts_dir)
    finally:
        go.write_text("go")
        finish.write_text("done")
        blocker.wait_for_completion(raise_on_error=False)
        run.wait_for_completion(raise_on_error=False)


def test_runs_page_sorts_filters_and_pages(ws, page, base_url):
    exp = Experiment(ws, "studio-many")
    evil = exp.start_logging(display_name='<img id="xss" src="x" onerror="window.pwned=1">')
    evil.complete()
    for i in range(30):
        r = exp.start_logging(display_name="trial-%02d" % i)
        r.log("score", float(i))
        if i % 3 == 0:
            r.fail(error_details="bad trial")
        else:
            r.complete()
    page.goto(base_url + "/experiments/studio-many?size=25")
    page.locator(".pager .range", has_text="1–25 of 31").wait_for()
    assert page.locator("table.grid tbody tr").count() == 25
    page.locator("th.metric", has_text="score").wait_for()
    # two runs compared on the compare page: one value of score each, drawn as two bars
    page.locator("tbody tr td.check input").nth(0).check()
    page.locator("tbody tr td.check input").nth(1).check()
    page.click("button:has-text('Compare (2)')")
    page.locator('svg.bar-chart[data-metric="score"]').wait_for()
    assert page.locator('svg.bar-chart[data-metric="score"] rect.bar').count() == 2
    page.go_back()
    page.locator(".pager .range", has_text="1–25 of 31").wait_for()
    page.click("text=Next ›")
    page.locator(".pager .range", has_text="26–31 of 31").wait_for()
    assert page.locator("#xss").count() == 0 and page.evaluate("window.pwned") is None
    assert page.locator("a", has_text='<img id="xss"').count() == 1  # shown as text
    page.select_option("select[aria-label=status]", "Failed")
    page.locator(".pager .range", has_text="1–10 of 10").wait_for()
    page.fill("input.search", "trial-2")
    page.locator(".pager .range", has_text="1–3 of 3").wait_for()  # trial-21, -24 and -27 failed
    names = page.locator("tbody tr td:nth-child(3) a").all_inner_texts()
    assert all(n.startswith("trial-2") for n in names)
    page.click("th:has-text('Run')")  # sort by name
    page.wait_for_url(re.compile(r".*sort=name.*"))
    assert "q=trial-2" in page.url and "status=Failed" in page.url
    page.click("th.metric:has-text('score')")  # by the newest score, highest first, then lowest
    page.wait_for_url(re.compile(r".*sort=metric%3Ascore.*"))
    page.locator("tbody tr:first-child td:nth-child(3) a", has_text="trial-27").wait_for()
    assert page.locator("tbody tr td:nth-child(3) a").all_inner_texts() == ["trial-27", "trial-24", "trial-21"]
    page.click("th.metric:has-text('score')")
    page.locator("tbody tr:first-child td:nth-child(3) a", has_text="trial-21").wait_for()
    assert page.locator("th.metric.asc", has_text="score").count() == 1


def test_widget_shows_the_live_page_in_an_iframe_without_the_cookie(ws, browser, base_url, artifacts_dir):
    run = Experiment(ws, "studio-widget").start_logging()
    for i in range(20):
        run.log("loss", 1.0 / (i + 1))
    png = os.path.join(artifacts_dir, "pixel.png")
    with open(png, "wb") as f:  # a 1x1 PNG
        f.write(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                              "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a4"
                              "5d6b9a0000000049454e44ae426082"))
    run.log_image("sample", path=png)
    run.complete()
    html = RunDetails(run)._repr_html_()
    assert "<iframe" in html and ws._client.token not in html
    src = re.search(r'src="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert src.startswith(base_url + "/runs/%s/embed?ticket=" % run.id)
    # a notebook front end is another site: no studio cookie there, only the ticket
    ctx = browser.new_context(viewport={"width": 1000, "height": 700})
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_content('<html><body style="margin:0">%s</body></html>' % html)
    frame = pg.frame_locator("iframe")
    frame.locator(".title-row .badge", has_text="Completed").wait_for()
    frame.locator("button[data-tab=metrics]").click()
    frame.locator('.chart[data-metric="loss"] canvas').wait_for()
    frame.locator("button[data-tab=images]").click()  # images load with the ticket too
    img = frame.locator(".images img")
    img.wait_for()
    pg.wait_for_timeout(300)
    assert img.evaluate("i => i.complete && i.naturalWidth") == 1
    pg.screenshot(path=os.path.join(artifacts_dir, "widget.png"))
    ctx.close()
    assert not errors
    # `run` as the last expression of a cell: a table with a link to the studio page
    assert 'href="%s/runs/%s"' % (base_url, run.id) in run._repr_html_()


SWEEP_SCRIPT = """
import argparse, math
from kyanite.core import Run
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, required=True)
a = p.parse_args()
run = Run.get_context()
for epoch in range(1, 5):
    run.log("Accuracy", a.lr * 5 * (1 - math.exp(-epoch)))
import os
os.makedirs("outputs/model", exist_ok=True)
open("outputs/model/weights.txt", "w").write(str(a.lr))
"""


def test_sweep_page_and_model_lineage(ws, page, base_url, tmp_path, current_env, artifacts_dir):
    from kyanite.core import Dataset
    from kyanite.train.hyperdrive import GridParameterSampling, HyperDriveConfig, PrimaryMetricGoal, choice
    src = tmp_path / "sweep"
    src.mkdir()
    (src / "train.py").write_text(SWEEP_SCRIPT)
    data = tmp_path / "labels.csv"
    data.write_text("label\n1\n")
    ds = Dataset.File.from_files(path=str(data)).register(workspace=ws, name="studio-labels")
    hd = HyperDriveConfig(
        run_config=ScriptRunConfig(source_directory=str(src), script="train.py", environment=current_env),
        hyperparameter_sampling=GridParameterSampling({"--lr": choice(0.05, 0.1, 0.15)}),
        primary_metric_name="Accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=3, max_concurrent_runs=2)
    sweep = Experiment(ws, "studio-sweep").submit(hd)
    sweep.wait_for_completion()
    best = sweep.get_best_run_by_primary_metric()
    model = best.register_model(model_name="studio-model", model_path="outputs/model",
                                datasets=[("training data", ds)])

    page.goto(base_url + "/sweeps/%s" % sweep.id)
    page.locator(".title-row .badge", has_text="Completed").wait_for()
    rows = page.locator("section.card table.grid tbody tr")
    rows.nth(2).wait_for()
    assert rows.count() == 3
    first = rows.nth(0)  # best first
    assert best.id in first.inner_text() and "best" in first.inner_text()
    assert "0.15" in first.inner_text()
    page.locator('.chart[data-metric="Accuracy"] canvas').wait_for()
    page.wait_for_function("document.querySelector('canvas.scatter').dataset.points === '3'")
    assert page.locator(".u-legend .u-series").count() == 4  # step + one line per child
    page.screenshot(path=os.path.join(artifacts_dir, "sweep-page.png"), full_page=True)
    # the sweep's run page lists the children and links back to the sweep view
    page.goto(base_url + "/runs/%s#children" % sweep.id)
    page.locator("table.grid tbody tr").nth(2).wait_for()
    assert page.locator("a.btn", has_text="Sweep view").count() == 1

    # model lineage: dataset -> run -> model, and back from the run and the dataset
    page.goto(base_url + "/models/studio-model")
    lineage = page.locator(".lineage")
    lineage.locator("a", has_text=best.id).wait_for()
    assert lineage.locator("a", has_text="studio-labels").count() == 1
    assert "studio-model:%s" % model.version in lineage.inner_text()
    page.locator("a.file", has_text="weights.txt").wait_for()
    page.screenshot(path=os.path.join(artifacts_dir, "model-page.png"), full_page=True)
    page.goto(base_url + "/runs/%s" % best.id)
    page.locator("section.card a", has_text="studio-model:%s" % model.version).wait_for()
    page.goto(base_url + "/datasets/studio-labels")
    page.locator("section.card a", has_text="studio-model:%s" % model.version).wait_for()



PC_XSS = '<img id="pcxss" src="x" onerror="window.pwned=1">'


def test_sweep_page_parallel_coordinates(ws, page, base_url, artifacts_dir):
    space = {"--lr": ["loguniform", [-9, -1]], "--batch": ["choice", [[16, 32, 64]]],
             "--optimizer": ["choice", [["adam", "sgd", PC_XSS]]], "--dropout": ["uniform", [0.0, 0.5]]}
    sid, ids = made_sweep(ws, "studio-parcoords", space, "minimize", "loss", [
        ({"--lr": 0.001, "--batch": 32, "--optimizer": "adam", "--dropout": 0.1}, [0.9, 0.5, 0.3], "Completed", None),
        ({"--lr": 0.05, "--batch": 64, "--optimizer": "sgd", "--dropout": 0.4}, [0.8, 0.6], "Completed", None),
        ({"--lr": 0.0002, "--batch": 16, "--optimizer": "adam", "--dropout": 0.2}, [0.7, 0.12], "Completed", None),
        ({"--lr": 0.2, "--batch": 16, "--optimizer": "sgd", "--dropout": 0.3}, [1.5], "Canceled",
         "Early termination by BanditPolicy"),
        ({"--lr": 0.01, "--batch": 32, "--optimizer": PC_XSS, "--dropout": 0.0}, [], "Failed", None),
    ])
    best = ids[2]  # the lowest loss: the goal is to minimize
    page.goto(base_url + "/sweeps/%s" % sid)
    svg = page.locator("svg.parcoords")
    svg.wait_for()
    axes = svg.locator(".pc-axis")
    # an axis per hyperparameter, in the order of the parameter space, then the metric
    assert axes.evaluate_all("els => els.map(e => e.dataset.name)") == list(space) + ["loss"]
    assert svg.locator('.pc-axis[data-name="--lr"]').get_attribute("data-scale") == "log"
    assert svg.locator('.pc-axis[data-name="--dropout"]').get_attribute("data-scale") == "lin"
    scatter = page.locator("canvas[data-scale]")  # the scatter follows the same sampling
    page.select_option("select[aria-label=hyperparameter]", "--lr")
    page.wait_for_function("() => document.querySelector('canvas[data-scale]').dataset.scale === 'log'")
    page.select_option("select[aria-label=hyperparameter]", "--dropout")
    page.wait_for_function("() => document.querySelector('canvas[data-scale]').dataset.scale === 'lin'")
    assert scatter.count() == 1
    assert svg.locator('.pc-axis[data-name="--batch"] .pc-tick').all_text_contents() == ["16", "32", "64"]
    assert svg.locator('.pc-axis[data-name="--optimizer"] .pc-tick').evaluate_all(  # a long label is cut, whole in its title
        "els => els.map(e => e.querySelector('title') ? e.querySelector('title').textContent : e.textContent)") \
        == ["adam", "sgd", PC_XSS]
    assert page.locator("#pcxss").count() == 0 and page.evaluate("window.pwned") is None  # shown as text
    # a line per child that logged the metric (not the failed one), the best one on top and marked
    lines = svg.locator("path.pc-line")
    assert sorted(lines.evaluate_all("els => els.map(e => e.dataset.run)")) == sorted(ids[:4])
    assert svg.locator("path.pc-line.pc-best").count() == 1
    assert svg.locator("path.pc-line.pc-best").get_attribute("data-run") == best
    assert lines.last.get_attribute("data-run") == best
    assert svg.locator("path.pc-line.pc-stopped").evaluate_all("els => els.map(e => e.dataset.run)") == [ids[3]]
    assert best in svg.locator('a.pc-run[data-run="%s"] > title' % best).text_content()
    page.screenshot(path=os.path.join(artifacts_dir, "sweep-parcoords.png"), full_page=True)
    # hovering a line highlights it; clicking it opens that child's run page
    target = ids[1]
    point = page.evaluate("""(rid) => {
        const p = document.querySelector('path.pc-line[data-run="' + rid + '"]');
        p.scrollIntoView({block: "center"});
        const n = p.getTotalLength(), m = p.getScreenCTM();
        for (let i = 1; i < 200; i++) {
            const q = p.getPointAtLength(n * i / 200);
            const x = m.a * q.x + m.c * q.y + m.e, y = m.b * q.x + m.d * q.y + m.f;
            const hit = document.elementFromPoint(x, y);
            if (hit && hit.closest("[data-run]") && hit.closest("[data-run]").dataset.run === rid) return [x, y];
        }
        return null;
    }""", target)
    assert point, "no point of the line of %s is clear of the other lines" % target
    page.mouse.move(point[0], point[1])
    page.locator('a.pc-run.pc-hover[data-run="%s"]' % target).wait_for()
    assert target in page.locator(".pc-info").inner_text()
    page.locator("section.parcoords-card").screenshot(path=os.path.join(artifacts_dir, "sweep-parcoords-hover.png"))
    page.mouse.click(point[0], point[1])
    page.wait_for_url("**/runs/%s" % target)
    page.locator("h1", has_text=target).wait_for()

SCORE = """
import json
import numpy as np
from kyanite.core import Model

def init():
    global w
    w = np.load(Model.get_model_path("studio-lin"))

def run(raw_data):
    return (np.asarray(json.loads(raw_data)["data"], dtype=float) @ w).tolist()
"""


def test_endpoint_page_sends_a_request_without_showing_the_key(ws, page, base_url, http, tmp_path, deployed,
                                                               artifacts_dir):
    import numpy as np
    np.save(str(tmp_path / "w.npy"), np.array([1.0, 2.0]))
    (tmp_path / "score.py").write_text(SCORE)
    with deployed("studio-svc", tmp_path / "w.npy", "studio-lin", tmp_path) as (svc, key):
        page.goto(base_url + "/endpoints")
        page.locator('tr[data-key="studio-svc"] .badge', has_text="Healthy").wait_for()
        page.click("text=studio-svc")
        page.locator("table.kv code", has_text="/score").wait_for()
        page.fill("textarea", '{"data": [[1, 1], [2, 3]]}')
        page.click("text=Send request")
        page.locator("pre.result[data-status='200']").wait_for()
        assert json.loads(page.locator("pre.result").inner_text()) == [3.0, 8.0]
        assert key not in page.content()
        page.screenshot(path=os.path.join(artifacts_dir, "endpoint-page.png"), full_page=True)
        page.goto(base_url + "/models/studio-lin")
        page.locator(".lineage a", has_text="studio-svc").wait_for()
