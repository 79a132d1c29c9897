/* A hyperparameter sweep: its children with their hyperparameters and primary metric, the
 * best run, the primary metric of the children over steps, a scatter of each hyperparameter
 * against the metric, a parallel-coordinates view of all of them, and which children the
 * early termination policy stopped. In a notebook embed (RunDetails of a sweep) the same view,
 * read with the sweep's embed ticket; "Run view" there is the sweep's embedded run page. */
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
    K.h("div.crumbs", K.embed
      ? K.link("/sweeps/" + K.enc(id), "Open in studio ↗", { target: "_blank", rel: "noopener" })
      : [K.link("/experiments", "Experiments"), " / ", K.link(K.expUrl(data.run.experiment), data.run.experiment), " /"]),
    K.h("div.title-row", K.h("h1", data.run.displayName || id), badge,
      K.h("div.actions", K.link(K.embed ? K.withTicket("/runs/" + K.enc(id) + "/embed?view=run") : K.runUrl(id),
                                "Run view", { class: "btn small run-view" }))),
    K.h("div.strip", K.h("span", K.h("b", "Primary metric "), (metric || "—") + (maximize ? " (maximize)" : " (minimize)")),
      K.h("span", K.h("b", "Sampling "), ((spec.sampling || {}).name) || "—"),
      K.h("span", K.h("b", "Policy "), ((spec.policy || {}).name) || "none"),
      K.h("span", K.h("b", "Runs "), "at most " + spec.maxTotalRuns + ", " + spec.maxConcurrentRuns + " at once"))));
  const summaryBox = K.h("div");
  const chartBox = K.h("div.charts");
  const scatterCard = K.h("section.card.scatter-card");
  const parCard = K.h("section.card.parcoords-card");
  const tableCard = K.h("section.card");
  main.appendChild(K.h("div.grid2", summaryBox, scatterCard));
  main.appendChild(parCard);
  main.appendChild(chartBox);
  main.appendChild(tableCard);

  /* A number shown to 4 significant digits, its full value in the tooltip. */
  function round4(v) {
    if (typeof v !== "number" || !isFinite(v)) return K.num(v);
    const a = Math.abs(v);
    const text = Number.isInteger(v) && a < 1e6 ? String(v)
      : a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
    return K.h("span.r4", { title: String(v) }, text);
  }
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
      ["Best " + (metric || "metric"), top ? K.h("b.best-metric", round4(top.bestMetric)) : null],
      ["Best hyperparameters", top ? K.h("code.args", Object.keys(top.hyperparameters || {}).map((k) => k + "=" + top.hyperparameters[k]).join("  ")) : null],
      ["Children", Object.keys(data.counts || {}).map((s) => data.counts[s] + " " + s).join(", ") || "none yet"],
      ["Stopped by the policy", stopped.length ? stopped.map((c) => "#" + c.index).join(", ") : "none"],
      ["Progress", (data.run.tags || {})["hyperdrive.progress"]],
      ["Policy settings", spec.policy && spec.policy.properties ? K.h("code.args", Object.keys(spec.policy.properties).map((k) => k + "=" + spec.policy.properties[k]).join("  ")) : null],
      ["Started", K.time(data.run.startTimeUtc)], ["Duration", K.duration(data.run.durationSeconds)],
    ])));
  }

  const pick = K.embed ? null : K.runSelection();  // children picked for the compare page (not in an embed)
  function drawTable() {
    const names = hpNames();
    const kids = data.children.slice().sort((a, b) => better(a.bestMetric, b.bestMetric) ? -1 : better(b.bestMetric, a.bestMetric) ? 1 : a.index - b.index);
    const top = best(data.children);
    K.clear(tableCard).appendChild(K.h("div.chart-head", K.h("h2", "Child runs (" + kids.length + ")"), pick && pick.button));
    tableCard.appendChild(kids.length ? K.h("div.table-box", K.table([
      ...(pick ? [pick.column((c) => c.runId)] : []),
      { label: "best " + (metric || "metric"), cls: "num metric best-col", get: (c) => round4(c.bestMetric) },
      { label: "#", cls: "num", get: (c) => String(c.index) },
      { label: "Run", get: (c) => K.h("span", K.runLink({ runId: c.runId }), top && c.runId === top.runId ? K.h("span.badge.st-Completed.best", " best") : null) },
      { label: "Status", get: (c) => K.h("span", K.badge(c.status), c.termination ? K.h("span.stopped", { title: c.termination }, " stopped by policy") : null) },
    ].concat(names.map((n) => ({ label: n, cls: "num hp", get: (c) => {
        const v = (c.hyperparameters || {})[n];
        return v === undefined ? "—" : typeof v === "number" ? round4(v) : String(v); } })))
     .concat([
      { label: "last", cls: "num", get: (c) => round4(c.lastMetric) },
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
    const numeric = raw.every((v) => typeof v === "number" || (v !== "" && isFinite(Number(v))));  // "NaN"/"Infinity": text
    let cats = [];
    let xs;
    if (numeric) xs = raw.map(Number);
    else { raw.forEach((v) => { if (cats.indexOf(String(v)) < 0) cats.push(String(v)); }); xs = raw.map((v) => cats.indexOf(String(v))); }
    let xmin = Math.min(...xs), xmax = Math.max(...xs);
    const sampled = (((spec.sampling || {}).parameterSpace) || {})[hp];  // the sampling says, else the spread
    const log = numeric && xmin > 0 && (Array.isArray(sampled) ? LOG_KINDS.indexOf(sampled[0]) >= 0 : xmax / xmin >= 100);
    canvas.dataset.scale = log ? "log" : "lin";
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

  // -- parallel coordinates: an axis per hyperparameter and one for the metric, a line per child --
  /* Plain SVG. Every text goes in as a text node (K.append); the parameter space, when the
   * sweep's spec has it, gives the order of the axes, the options of choice() parameters and
   * which parameters are sampled on a log scale. */
  const SVG_NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...kids) {
    const el = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach((k) => {
      const v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "class") el.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
      else if (k === "dataset") Object.keys(v).forEach((d) => el.setAttribute("data-" + d, v[d]));
      else if (k === "on") Object.keys(v).forEach((ev) => el.addEventListener(ev, v[ev]));
      else el.setAttribute(k, String(v));
    });
    return K.append(el, kids);
  }
  const LOG_KINDS = ["loguniform", "qloguniform", "lognormal", "qlognormal"];
  const PC_STOPS = [[224, 108, 0], [214, 51, 132], [112, 72, 232], [28, 126, 214], [12, 166, 120]];  // worse .. better
  function pcColor(t) {
    t = Math.max(0, Math.min(1, isFinite(t) ? t : 1)) * (PC_STOPS.length - 1);
    const i = Math.min(PC_STOPS.length - 2, Math.floor(t)), f = t - i;
    const c = PC_STOPS[i].map((v, j) => Math.round(v + (PC_STOPS[i + 1][j] - v) * f));
    return "rgb(" + c.join(",") + ")";
  }
  const valKey = (v) => JSON.stringify(v === undefined ? null : v);
  const valText = (v) => typeof v === "string" ? v : typeof v === "number" ? K.num(v) : JSON.stringify(v);
  /* A label cut to n characters; the whole text (or `full`) in a <title> where it is cut or differs. */
  const svgText = (s, n, full) => s.length > n ? [svg("title", {}, full || s), s.slice(0, n - 1) + "…"]
    : full && full !== s ? [svg("title", {}, full), s] : s;
  function pcParams() {  // the order of the parameter space, then any other name the children have
    const space = ((spec.sampling || {}).parameterSpace) || {};
    const names = Object.keys(space);
    hpNames().forEach((n) => { if (names.indexOf(n) < 0) names.push(n); });
    return names.map((n) => ({ name: n, expr: Array.isArray(space[n]) ? space[n] : null }));
  }
  /* An axis: {name, label, kind: "cat"|"lin"|"log", pos(value) -> 0..1 from the bottom or null, ticks: [[pos, text]]}. */
  function pcAxis(name, label, expr, values) {
    const present = values.filter((v) => v !== undefined && v !== null);
    const numeric = present.length > 0 && present.every((v) => typeof v === "number" && isFinite(v));
    if ((expr && expr[0] === "choice") || !numeric) {
      const cats = [], keys = [];
      const add = (v) => { const key = valKey(v); if (keys.indexOf(key) < 0) { keys.push(key); cats.push(v); } };
      if (expr && expr[0] === "choice" && Array.isArray(expr[1]) && Array.isArray(expr[1][0])) expr[1][0].forEach(add);
      present.forEach(add);
      const at = (i) => (i + 0.5) / cats.length;
      return { name: name, label: label, kind: "cat",
               pos: (v) => { const i = keys.indexOf(valKey(v)); return i < 0 ? null : at(i); },
               ticks: cats.map((c, i) => [at(i), valText(c)]) };
    }
    let lo = Math.min(...present), hi = Math.max(...present);
    const log = !!(expr && LOG_KINDS.indexOf(expr[0]) >= 0) && lo > 0;
    const f = log ? Math.log10 : (v) => v;
    const a = f(lo), b = f(hi);
    const pos = (v) => (typeof v !== "number" || !isFinite(v) || (log && v <= 0)) ? null : b === a ? 0.5 : (f(v) - a) / (b - a);
    let ticks;
    if (a === b) ticks = [[0.5, K.num(lo)]];
    else if (log && Math.floor(b) - Math.ceil(a) >= 1) {  // decades
      const dec = [];
      for (let e = Math.ceil(a - 1e-9); e <= Math.floor(b + 1e-9); e++) dec.push(e);
      const step = Math.ceil(dec.length / 6);
      ticks = dec.filter((_, i) => i % step === 0).map((e) => [(e - a) / (b - a), K.num(Math.pow(10, e))]);
    } else ticks = [0, 1, 2, 3, 4].map((i) => [i / 4, K.num(log ? Math.pow(10, a + (b - a) * i / 4) : lo + (hi - lo) * i / 4)]);
    return { name: name, label: label + (log ? " (log)" : ""), kind: log ? "log" : "lin", pos: pos, ticks: ticks };
  }
  const pcBox = K.h("div.parcoords-box");
  const pcInfo = K.h("div.pc-info.dim", "Hover a line to see its child; click it to open the run.");
  const pcLegend = K.h("div.legend-row");
  parCard.appendChild(K.h("div.chart-head", K.h("h2", "Parallel coordinates")));
  parCard.appendChild(pcBox);
  parCard.appendChild(pcInfo);
  const pcBrushInfo = K.h("div.pc-brush-info.dim");
  parCard.appendChild(pcBrushInfo);
  parCard.appendChild(pcLegend);
  let pcKey = "";
  /* Brushing: drag along an axis to keep the lines that cross it within that range (several
   * axes: all of them); a click on an axis clears its range. {axis name: [lo, hi]} in 0..1. */
  const brushes = {};
  function drawParcoords() {
    const params = pcParams();
    const kids = data.children.filter((c) => typeof c.bestMetric === "number" && isFinite(c.bestMetric));
    const top = best(data.children);
    const w = Math.max(pcBox.clientWidth || 0, 320), h = 340;
    const key = JSON.stringify([w, params.map((p) => p.name), kids.map((c) => [c.runId, c.bestMetric, c.status, c.termination])]);
    if (key === pcKey) return;
    pcKey = key;
    K.clear(pcBox);
    K.clear(pcLegend);
    if (!kids.length) { pcBox.appendChild(K.empty("No child has reported " + (metric || "the metric") + " yet.")); return; }
    const axes = params.map((p) => pcAxis(p.name, p.name.replace(/^-+/, ""), p.expr, kids.map((c) => (c.hyperparameters || {})[p.name])));
    const mAxis = pcAxis(metric || "metric", (metric || "metric") + (maximize ? " ▲ max" : " ▼ min"), null, kids.map((c) => c.bestMetric));
    mAxis.metric = true;
    axes.push(mAxis);
    const L = 90, R = 90, T = 34, B = 14;
    const n = axes.length;
    const ax = (i) => n === 1 ? w / 2 : L + (w - L - R) * i / (n - 1);
    const ay = (p) => T + (1 - p) * (h - T - B);
    const mlo = Math.min(...kids.map((c) => c.bestMetric)), mhi = Math.max(...kids.map((c) => c.bestMetric));
    const score = (v) => mhi === mlo ? 1 : maximize ? (v - mlo) / (mhi - mlo) : (mhi - v) / (mhi - mlo);
    const root = svg("svg", { class: "parcoords", width: w, height: h, viewBox: "0 0 " + w + " " + h,
                              role: "img", "aria-label": "Parallel coordinates of the hyperparameters and " + (metric || "the metric") });
    const lines = svg("g", { class: "pc-lines" });
    root.appendChild(lines);
    const axisLayer = svg("g", { class: "pc-axes" });
    root.appendChild(axisLayer);
    const runLines = [];  // [{link, pos: {axis name: 0..1 or null}}]
    const brushRects = {};
    function applyBrushes() {
      const active = Object.keys(brushes).filter((k) => axes.some((a) => a.name === k));
      let kept = 0;
      runLines.forEach((r) => {
        const inside = active.every((k) => r.pos[k] !== null && r.pos[k] >= brushes[k][0] - 1e-9 && r.pos[k] <= brushes[k][1] + 1e-9);
        r.link.classList.toggle("pc-filtered", !inside);
        if (inside) kept++;
      });
      Object.keys(brushRects).forEach((k) => {
        const b = brushes[k], rect = brushRects[k];
        rect.setAttribute("visibility", b ? "visible" : "hidden");
        if (b) { rect.setAttribute("y", ay(b[1])); rect.setAttribute("height", Math.max(1, ay(b[0]) - ay(b[1]))); }
      });
      root.dataset.brushed = String(active.length);
      root.dataset.kept = String(kept);
      root.classList.toggle("pc-brushing", active.length > 0);
      K.clear(pcBrushInfo).appendChild(document.createTextNode(active.length
        ? kept + " of " + runLines.length + " children within the ranges on " + active.map((k) => k.replace(/^-+/, "")).join(", ") + " · click an axis to clear its range"
        : "Drag along an axis to keep only the lines within a range."));
    }
    function brushArea(a, x) {
      const rect = svg("rect", { class: "pc-brush", x: x - 7, width: 14, y: T, height: 0, visibility: "hidden" });
      brushRects[a.name] = rect;
      const area = svg("rect", { class: "pc-brush-area", x: x - 12, width: 24, y: T - 4, height: h - B - T + 8,
                                 dataset: { axis: a.name } });
      const clampP = (y) => Math.max(0, Math.min(1, 1 - (y - T) / (h - T - B)));
      area.addEventListener("pointerdown", (e) => {
        e.preventDefault();
        const top = root.getBoundingClientRect().top;
        const y0 = e.clientY - top;
        let moved = false;
        const move = (ev) => {
          const y1 = ev.clientY - top;
          if (Math.abs(y1 - y0) < 3 && !moved) return;
          moved = true;
          const p0 = clampP(y0), p1 = clampP(y1);
          brushes[a.name] = [Math.min(p0, p1), Math.max(p0, p1)];
          applyBrushes();
        };
        const up = (ev) => {
          window.removeEventListener("pointermove", move);
          window.removeEventListener("pointerup", up);
          if (!moved) delete brushes[a.name];  // a click clears the axis
          else move(ev);
          applyBrushes();
        };
        window.addEventListener("pointermove", move);
        window.addEventListener("pointerup", up);
      });
      return [rect, area];
    }
    axes.forEach((a, i) => {
      const x = ax(i);
      const g = svg("g", { class: ["pc-axis", a.metric && "pc-metric-axis", "pc-" + a.kind], dataset: { name: a.name, scale: a.kind } },
        svg("line", { class: "pc-axis-line", x1: x, x2: x, y1: T, y2: h - B }),
        svg("text", { class: "pc-axis-name", x: x, y: T - 14, "text-anchor": "middle" }, svgText(a.label, 22, a.name)));
      const side = i === n - 1 && n > 1 ? 1 : -1;  // the labels of the last axis on its right
      a.ticks.forEach(([p, text]) => {
        const y = ay(p);
        g.appendChild(svg("line", { class: "pc-tick-mark", x1: x + 4 * side, x2: x, y1: y, y2: y }));
        g.appendChild(svg("text", { class: "pc-tick", x: x + 7 * side, y: y + 4, "text-anchor": side > 0 ? "start" : "end" }, svgText(text, 14)));
      });
      K.append(g, brushArea(a, x));
      axisLayer.appendChild(g);
    });
    const ordered = kids.filter((c) => !(top && c.runId === top.runId)).sort((x, y) => score(x.bestMetric) - score(y.bestMetric));
    if (top && kids.indexOf(top) >= 0) ordered.push(top);  // the best on top
    ordered.forEach((c) => {
      const isBest = !!(top && c.runId === top.runId);
      const stopped = !!c.termination || c.status === "Canceled" || c.status === "CancelRequested";
      let d = "", pen = false;
      const pos = {};
      axes.forEach((a, i) => {
        const p = a.pos(a.metric ? c.bestMetric : (c.hyperparameters || {})[a.name]);
        pos[a.name] = p;
        if (p === null) { pen = false; return; }
        d += (pen ? " L" : " M") + ax(i).toFixed(1) + "," + ay(p).toFixed(1);
        pen = true;
      });
      const hp = c.hyperparameters || {};
      const desc = "#" + c.index + " " + c.runId + (isBest ? " (best)" : "") + " · " + c.status + (c.termination ? " (stopped by the policy)" : "") +
        "\n" + params.map((p) => p.name + " = " + (hp[p.name] === undefined ? "—" : valText(hp[p.name]))).join("\n") +
        "\n" + (metric || "metric") + " = " + K.num(c.bestMetric);
      const color = pcColor(score(c.bestMetric));
      const link = svg("a", { class: ["pc-run", isBest && "pc-best", stopped && "pc-stopped"], href: K.runUrl(c.runId),
                              target: K.embed ? "_blank" : null, rel: K.embed ? "noopener" : null, dataset: { run: c.runId },
                              on: { mouseenter: () => pcHover(c, link, desc), mouseleave: () => pcHover(null, link) } },
        svg("title", {}, desc),
        svg("path", { class: "pc-hit", d: d.trim() }),
        svg("path", { class: ["pc-line", isBest && "pc-best", stopped && "pc-stopped"], d: d.trim(), stroke: color,
                      dataset: { run: c.runId, index: c.index, metric: c.bestMetric } }));
      lines.appendChild(link);
      runLines.push({ link: link, pos: pos });
    });
    function pcHover(c, link, desc) {
      root.classList.toggle("pc-hovering", !!c);
      link.classList.toggle("pc-hover", !!c);
      K.clear(pcInfo).appendChild(document.createTextNode(c ? desc.replace(/\n/g, "  ·  ") : "Hover a line to see its child; click it to open the run."));
    }
    pcBox.appendChild(root);
    applyBrushes();
    pcLegend.appendChild(K.h("span", "best " + (metric || "metric") + " of each child: "));
    pcLegend.appendChild(K.h("span", K.num(maximize ? mlo : mhi) + " ",
      K.h("span.pc-scale", { style: "background:linear-gradient(to right," + [0, 0.25, 0.5, 0.75, 1].map(pcColor).join(",") + ")" }),
      " " + K.num(maximize ? mhi : mlo) + " (best)"));
    pcLegend.appendChild(K.h("span", K.h("span.pc-key.pc-key-best"), "best run"));
    pcLegend.appendChild(K.h("span", K.h("span.pc-key.pc-key-stopped"), "stopped by the policy or canceled"));
    const missing = data.children.length - kids.length;
    if (missing) pcLegend.appendChild(K.h("span.dim", missing + " child" + (missing === 1 ? "" : "ren") + " without " + (metric || "the metric") + " not drawn"));
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

  function drawAll() { drawSummary(); drawTable(); drawScatter(); drawParcoords(); return drawChart(); }
  await drawAll();
  K.every(3000, async () => {
    if (K.isTerminal(data.run.status) && data.children.every((c) => K.isTerminal(c.status))) return false;
    data = await K.api("/api/sweeps/" + K.enc(id));
    await drawAll();
  });
  window.addEventListener("resize", () => { drawScatter(); drawParcoords(); });
};
