/* A hyperparameter sweep: its children with their hyperparameters and primary metric, the
 * best run, the primary metric of the children over steps, a scatter of each hyperparameter
 * against the metric, and which children the early termination policy stopped. */
"use strict";
K.pages.sweep = async function (main, params) {
  const id = params.run_id;
  let data = await K.api("/api/sweeps/" + K.enc(id));
  const spec = data.spec || {};
  const metric = spec.primaryMetricName;
  const maximize = (spec.primaryMetricGoal || "maximize").toLowerCase().startsWith("max");
  K.title("Sweep " + (data.run.displayName || id));

  const badge = K.h("span.status-slot");
  main.appendChild(K.h("div.page-head",
    K.h("div.crumbs", K.link("/experiments", "Experiments"), " / ", K.link(K.expUrl(data.run.experiment), data.run.experiment), " /"),
    K.h("div.title-row", K.h("h1", data.run.displayName || id), badge,
      K.h("div.actions", K.link(K.runUrl(id), "Run view", { class: "btn small" }))),
    K.h("div.strip", K.h("span", K.h("b", "Primary metric "), (metric || "—") + (maximize ? " (maximize)" : " (minimize)")),
      K.h("span", K.h("b", "Sampling "), ((spec.sampling || {}).name) || "—"),
      K.h("span", K.h("b", "Policy "), ((spec.policy || {}).name) || "none"),
      K.h("span", K.h("b", "Runs "), "at most " + spec.maxTotalRuns + ", " + spec.maxConcurrentRuns + " at once"))));
  const summaryBox = K.h("div");
  const chartBox = K.h("div.charts");
  const scatterCard = K.h("section.card.scatter-card");
  const tableCard = K.h("section.card");
  main.appendChild(K.h("div.grid2", summaryBox, scatterCard));
  main.appendChild(chartBox);
  main.appendChild(tableCard);

  const better = (a, b) => (a === null || a === undefined) ? false : (b === null || b === undefined) ? true : maximize ? a > b : a < b;
  function best(children) {
    let top = null;
    children.forEach((c) => { if (better(c.bestMetric, top && top.bestMetric)) top = c; });
    return top;
  }
  const hpNames = () => {
    const names = [];
    data.children.forEach((c) => Object.keys(c.hyperparameters || {}).forEach((k) => { if (names.indexOf(k) < 0) names.push(k); }));
    return names;
  };

  function drawSummary() {
    K.clear(badge).appendChild(K.badge(data.run.status));
    const top = best(data.children);
    const stopped = data.children.filter((c) => c.termination);
    K.clear(summaryBox).appendChild(K.section("Summary", K.kv([
      ["Best run", top ? K.h("span", K.runLink({ runId: top.runId }, "#" + top.index + " " + top.runId)) : "none yet"],
      ["Best " + (metric || "metric"), top ? K.h("b.best-metric", K.num(top.bestMetric)) : null],
      ["Best hyperparameters", top ? K.h("code.args", Object.keys(top.hyperparameters || {}).map((k) => k + "=" + top.hyperparameters[k]).join("  ")) : null],
      ["Children", Object.keys(data.counts || {}).map((s) => data.counts[s] + " " + s).join(", ") || "none yet"],
      ["Stopped by the policy", stopped.length ? stopped.map((c) => "#" + c.index).join(", ") : "none"],
      ["Progress", (data.run.tags || {})["hyperdrive.progress"]],
      ["Policy settings", spec.policy && spec.policy.properties ? K.h("code.args", Object.keys(spec.policy.properties).map((k) => k + "=" + spec.policy.properties[k]).join("  ")) : null],
      ["Started", K.time(data.run.startTimeUtc)], ["Duration", K.duration(data.run.durationSeconds)],
    ])));
  }

  function drawTable() {
    const names = hpNames();
    const kids = data.children.slice().sort((a, b) => better(a.bestMetric, b.bestMetric) ? -1 : better(b.bestMetric, a.bestMetric) ? 1 : a.index - b.index);
    const top = best(data.children);
    K.clear(tableCard).appendChild(K.h("h2", "Child runs (" + kids.length + ")"));
    tableCard.appendChild(kids.length ? K.h("div.table-box", K.table([
      { label: "#", cls: "num", get: (c) => String(c.index) },
      { label: "Run", get: (c) => K.h("span", K.runLink({ runId: c.runId }), top && c.runId === top.runId ? K.h("span.badge.st-Completed.best", " best") : null) },
      { label: "Status", get: (c) => K.h("span", K.badge(c.status), c.termination ? K.h("span.stopped", { title: c.termination }, " stopped by policy") : null) },
    ].concat(names.map((n) => ({ label: n, cls: "num hp", get: (c) => String((c.hyperparameters || {})[n] === undefined ? "—" : c.hyperparameters[n]) })))
     .concat([
      { label: "best " + (metric || "metric"), cls: "num metric", get: (c) => K.num(c.bestMetric) },
      { label: "last", cls: "num", get: (c) => K.num(c.lastMetric) },
      { label: "points", cls: "num", get: (c) => String(c.metricCount || 0) },
      { label: "Duration", cls: "num", get: (c) => c.startTimeUtc ? K.duration(((c.endTimeUtc ? Date.parse(c.endTimeUtc) : Date.now()) - Date.parse(c.startTimeUtc)) / 1000) : "—" },
      { label: "Note", get: (c) => K.h("span.wrap.dim", c.termination || c.error || "") },
    ]), kids, { rowKey: (c) => c.runId })) : K.empty("No child runs yet."));
  }

  // -- scatter: one hyperparameter against the primary metric ---------------------------------
  const hpSel = K.h("select", { "aria-label": "hyperparameter" });
  const canvas = K.h("canvas.scatter");
  const legend = K.h("div.legend-row");
  scatterCard.appendChild(K.h("div.chart-head", K.h("h2", "Hyperparameter against " + (metric || "metric")), hpSel));
  scatterCard.appendChild(canvas);
  scatterCard.appendChild(legend);
  hpSel.addEventListener("change", () => drawScatter());
  const COLORS = { Completed: "#2f855a", Running: "#2b6cb0", Failed: "#c53030", Canceled: "#dd6b20", stopped: "#dd6b20", other: "#718096" };
  function drawScatter() {
    const names = hpNames();
    if (hpSel.options.length !== names.length) {
      const cur = hpSel.value;
      K.clear(hpSel);
      names.forEach((n) => hpSel.appendChild(K.h("option", { value: n, selected: n === cur }, n)));
    }
    const hp = hpSel.value;
    const pts = data.children.filter((c) => c.bestMetric !== null && c.bestMetric !== undefined && hp && (c.hyperparameters || {})[hp] !== undefined);
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 500, h = canvas.clientHeight || 300;
    canvas.width = w * dpr; canvas.height = h * dpr;
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    g.font = "12px system-ui, sans-serif";
    canvas.dataset.points = String(pts.length);
    if (!pts.length) { g.fillStyle = "#718096"; g.fillText("No child has reported " + (metric || "the metric") + " yet.", 12, 24); return; }
    const raw = pts.map((c) => c.hyperparameters[hp]);
    const numeric = raw.every((v) => typeof v === "number" || (v !== "" && !isNaN(Number(v))));
    let cats = [];
    let xs;
    if (numeric) xs = raw.map(Number);
    else { raw.forEach((v) => { if (cats.indexOf(String(v)) < 0) cats.push(String(v)); }); xs = raw.map((v) => cats.indexOf(String(v))); }
    let xmin = Math.min(...xs), xmax = Math.max(...xs);
    const log = numeric && xmin > 0 && xmax / xmin >= 100;
    const fx = log ? Math.log10 : (v) => v;
    let a = fx(xmin), b = fx(xmax);
    if (a === b) { a -= 1; b += 1; }
    if (!numeric) { a = -0.5; b = cats.length - 0.5; }
    const ys = pts.map((c) => c.bestMetric);
    let ymin = Math.min(...ys), ymax = Math.max(...ys);
    if (ymin === ymax) { ymin -= 1; ymax += 1; }
    const padY = (ymax - ymin) * 0.08; ymin -= padY; ymax += padY;
    const L = 60, R = 14, T = 10, B = 42;
    const px = (v) => L + (fx(v) - a) / (b - a) * (w - L - R);
    const pxc = (i) => L + (i - a) / (b - a) * (w - L - R);
    const py = (v) => T + (1 - (v - ymin) / (ymax - ymin)) * (h - T - B);
    g.strokeStyle = "#edf2f7"; g.fillStyle = "#4a5568"; g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = ymin + (ymax - ymin) * i / 4, y = py(v);
      g.beginPath(); g.moveTo(L, y); g.lineTo(w - R, y); g.stroke();
      g.fillText(K.num(v), 4, y + 4);
    }
    let ticks = numeric ? [0, 1, 2, 3, 4].map((i) => a + (b - a) * i / 4) : cats.map((_, i) => i);
    if (log) {  // decades
      const dec = [];
      for (let e = Math.ceil(a - 1e-9); e <= Math.floor(b + 1e-9); e++) dec.push(e);
      if (dec.length >= 2) ticks = dec;
    }
    ticks.forEach((t) => {
      const x = numeric ? L + (t - a) / (b - a) * (w - L - R) : pxc(t);
      const label = numeric ? K.num(log ? Math.pow(10, t) : t) : cats[t];
      g.beginPath(); g.moveTo(x, T); g.lineTo(x, h - B); g.stroke();
      g.fillText(label, x - g.measureText(label).width / 2, h - B + 16);
    });
    g.fillText(hp + (log ? " (log scale)" : ""), w / 2 - 40, h - 3);
    const top = best(data.children);
    pts.forEach((c, i) => {
      const x = numeric ? px(xs[i]) : pxc(xs[i]) + ((c.index % 5) - 2) * 3, y = py(c.bestMetric);
      g.beginPath(); g.arc(x, y, top && c.runId === top.runId ? 7 : 5, 0, 2 * Math.PI);
      g.fillStyle = c.termination ? COLORS.stopped : (COLORS[c.status] || COLORS.other);
      g.globalAlpha = 0.85; g.fill(); g.globalAlpha = 1;
      if (top && c.runId === top.runId) { g.strokeStyle = "#1a202c"; g.lineWidth = 2; g.stroke(); g.lineWidth = 1; g.strokeStyle = "#edf2f7"; }
    });
    K.clear(legend).appendChild(K.h("span", "best " + (metric || "metric") + " of each child: "));
    [["Completed", "completed"], ["Running", "running"], ["stopped", "stopped by the policy or canceled"], ["Failed", "failed"]].forEach(([k, label]) =>
      legend.appendChild(K.h("span", K.h("span.swatch", { style: "background:" + COLORS[k] }), label)));
  }

  // -- the primary metric of the children over steps --------------------------------------------
  let chart = null, chartKey = "";
  async function drawChart() {
    if (!metric) return;
    const ranked = data.children.filter((c) => c.metricCount > 0)
      .sort((x, y) => better(x.bestMetric, y.bestMetric) ? -1 : better(y.bestMetric, x.bestMetric) ? 1 : x.index - y.index)
      .slice(0, 10);
    const key = ranked.map((c) => c.runId).join(",");
    if (key !== chartKey) {
      if (chart) chart.destroy();
      K.clear(chartBox);
      chart = null;
      chartKey = key;
      if (!ranked.length) { chartBox.appendChild(K.empty("No child has logged " + metric + " yet.")); return; }
      chart = new K.MetricChart(chartBox, metric, ranked.map((c) => ({ runId: c.runId,
        label: "#" + c.index + " " + Object.keys(c.hyperparameters || {}).map((k) => k.replace(/^-+/, "") + "=" + c.hyperparameters[k]).join(" ") })));
      chart.el.classList.add("wide");
      if (data.children.filter((c) => c.metricCount > 0).length > ranked.length)
        chart.info.dataset.note = "the best 10 children";
    }
    await chart.load();
  }

  function drawAll() { drawSummary(); drawTable(); drawScatter(); return drawChart(); }
  await drawAll();
  K.every(3000, async () => {
    if (K.isTerminal(data.run.status) && data.children.every((c) => K.isTerminal(c.status))) return false;
    data = await K.api("/api/sweeps/" + K.enc(id));
    await drawAll();
  });
  window.addEventListener("resize", () => drawScatter());
};
