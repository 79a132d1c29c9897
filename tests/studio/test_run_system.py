"""The run page's System tab: the run host's ``system/`` metrics (CPU, memory, GPU) charted
apart, and left out of the Overview and Metrics tabs."""

import os
import uuid

import pytest

pytestmark = pytest.mark.timeout(120)


def _made_run(ws, metrics):
    api = ws._client
    rid = "sysrun_%s" % uuid.uuid4().hex[:8]
    api.post("/api/runs", {"experiment": "studio-system", "run_id": rid, "display_name": rid, "status": "Completed"})
    api.post("/api/runs/%s/metrics" % rid, {"metrics": [
        {"name": n, "kind": "scalar", "values": v, "ts": [1700000000.0 + 5 * j for j in range(len(v))]}
        for n, v in metrics.items()]})
    return rid


def test_system_tab_charts_system_metrics_apart(ws, page, base_url, artifacts_dir):
    rid = _made_run(ws, {
        "loss": [0.9, 0.5, 0.3, 0.2],
        "system/cpu_percent": [12.0, 98.5, 101.2, 99.0],
        "system/memory_mb": [80.0, 350.5, 352.0, 351.0],
        "system/gpu0/utilization": [0.0, 87.0, 91.0, 90.0],
        "system/gpu0/memory_mb": [500.0, 10240.0, 10300.0, 10300.0],
    })
    page.goto(base_url + "/runs/%s#metrics" % rid)
    page.locator('.panel[data-panel="metrics"] .chart[data-metric="loss"] canvas').wait_for()
    assert page.locator('.panel[data-panel="metrics"] .chart[data-metric^="system/"]').count() == 0
    page.click('button.tab[data-tab="overview"]')
    overview = page.locator('.panel[data-panel="overview"]')
    overview.locator("td", has_text="loss").first.wait_for()
    assert "system/" not in overview.inner_text()
    page.click('button.tab[data-tab="system"]')
    panel = page.locator('.panel[data-panel="system"]')
    panel.locator('.chart[data-metric="system/gpu0/memory_mb"] canvas').wait_for()
    assert panel.locator(".chart").evaluate_all("els => els.map(e => e.dataset.metric)") == [
        "system/cpu_percent", "system/memory_mb", "system/gpu0/memory_mb", "system/gpu0/utilization"]
    page.wait_for_function("() => document.querySelector('.panel[data-panel=\"system\"] .chart').dataset.points === '4'")
    assert panel.locator('.chart[data-metric="loss"]').count() == 0
    page.screenshot(path=os.path.join(artifacts_dir, "run-system-tab.png"), full_page=True)


def test_no_system_tab_without_system_metrics(ws, page, base_url):
    rid = _made_run(ws, {"loss": [0.9, 0.5]})
    page.goto(base_url + "/runs/%s" % rid)
    page.locator('button.tab[data-tab="metrics"]').wait_for()
    page.locator('.panel[data-panel="overview"] td', has_text="loss").first.wait_for()
    assert page.locator('button.tab[data-tab="system"]').is_hidden()
