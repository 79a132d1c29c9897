/* Compare runs: /compare?runs=a,b,c (the deep link of a selection made in a runs table).
 * Parameters and final metric values side by side (cells that differ are marked, "only
 * differences" hides the rest), metric series overlaid in one chart per metric (K.MetricChart
 * with one source per run), metrics with a single value as bars, a parallel-coordinates view
 * (an axis per parameter that differs and per final metric, a line per run) and a scatter of a
 * chosen parameter against a chosen metric. Everything comes from one list request
 * (GET /api/runs?all=true&filter=attributes.run_id IN (...)&params=true&metrics=true) and the
 * charts' series requests. */
"use strict";
K.pages.compare = async function (main) {
  K.title("Compare runs");
  const ids = (new URL(location.href).searchParams.get("runs") || "").split(",").map((s) => s.trim()).filter(Boolean);
  main.appendChild(K.h("div.page-head", K.h("div.crumbs", K.link("/experiments", "Experiments"), " / "),
    K.h("h1", "Compare " + ids.length + " runs")));
  if (ids.length < 1) { main.appendChild(K.empty("Pick runs in a runs table, then Compare.")); return; }
  const quote = (s) => "'" + s.replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'";
  const data = await K.api("/api/runs", { all: "true", params: "true", metrics: "true", limit: 500,
                                          filter: "attributes.run_id IN (" + ids.map(quote).join(", ") + ")" });
  const byId = {};
  data.runs.forEach((r) => { byId[r.runId] = r; });
  const runs = ids.map((id) => byId[id]).filter(Boolean);
  const missing = ids.filter((id) => !byId[id]);
  if (missing.length) main.appendChild(K.h("p.error", "Not found: " + missing.join(", ")));
  if (!runs.length) return;
  const color = (i) => K.palette[i % K.palette.length];
  const label = (r) => r.displayName || r.runId;
  const params = (r) => (data.params || {})[r.runId] || {};
  const summaries = (r) => (data.metrics || {})[r.runId] || [];
  const finals = (r) => {
    const out = {};
    summaries(r).forEach((m) => { if (m.kind === "scalar") out[m.name] = m.last; });
    return out;
  };
  const union = (f) => {
    const keys = new Set();
    runs.forEach((r) => Object.keys(f(r)).forEach((k) => keys.add(k)));
    return Array.from(keys).sort();
  };
  const paramKeys = union(params), metricKeys = union(finals);
  const show = (v) => v === undefined ? "—" : K.num(v);

  // -- side by side ------------------------------------------------------------------------------
  const onlyDiff = K.h("input.only-diff", { type: "checkbox", "aria-label": "only differences" });
  const sideBox = K.h("div.table-box");
  main.appendChild(K.h("section.card.compare-side", K.h("div.chart-head", K.h("h2", "Parameters and final metrics"),
    K.h("label", onlyDiff, " only differences")), sideBox));
  function drawSide() {
    const head = K.h("tr", K.h("th", ""), runs.map((r, i) => K.h("th", K.h("span.swatch", { style: "background:" + color(i) }), " ",
      K.runLink(r, label(r)), K.h("div.sub", r.runId))));
    const rows = [];
    const group = (title, keys, get, kind) => {
      rows.push(K.h("tr.group", K.h("th", { colspan: String(runs.length + 1) }, title)));
      keys.forEach((k) => {
        const vals = runs.map((r) => get(r)[k]);
        const differs = vals.some((v) => JSON.stringify(v) !== JSON.stringify(vals[0]));
        if (onlyDiff.checked && !differs) return;
        rows.push(K.h("tr" + (differs ? ".differs" : ""), { dataset: { kind: kind, key: k } }, K.h("th", k),
          vals.map((v) => K.h("td.num" + (differs ? ".diff" : ""), show(v)))));
      });
    };
    group("Attributes", ["status", "experiment", "duration"], (r) => ({ status: r.status, experiment: r.experiment,
      duration: r.durationSeconds === null || r.durationSeconds === undefined ? undefined : K.duration(r.durationSeconds) }), "attribute");
    group("Parameters", paramKeys, params, "param");
    group("Metrics (final value)", metricKeys, finals, "metric");
    K.clear(sideBox).appendChild(K.h("table.grid.compare-table", K.h("thead", head), K.h("tbody", rows)));
  }
  onlyDiff.addEventListener("change", drawSide);
  drawSide();

  // -- charts: series overlaid, single values as bars ----------------------------------------------
  const counts = {};
  runs.forEach((r) => summaries(r).forEach((m) => {
    if (m.kind === "scalar" && !/^system\//.test(m.name)) counts[m.name] = Math.max(counts[m.name] || 0, m.count);
  }));
  const seriesNames = Object.keys(counts).filter((n) => counts[n] > 1).sort();
  const singleNames = Object.keys(counts).filter((n) => counts[n] <= 1).sort();
  if (seriesNames.length) {
    const box = K.h("div.charts");
    main.appendChild(K.h("section.card", K.h("h2", "Metrics"), box));
    seriesNames.forEach((n) => {
      const sources = runs.map((r, i) => ({ runId: r.runId, label: label(r), i: i }))
        .filter((s) => summaries(runs[s.i]).some((m) => m.name === n));
      new K.MetricChart(box, n, sources).load().catch((e) => console.warn(e));
    });
  }
  const SVG_NS = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs, ...kids) => {
    const el = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach((k) => el.setAttribute(k, attrs[k]));
    kids.forEach((c) => el.appendChild(typeof c === "string" ? document.createTextNode(c) : c));
    return el;
  };
  const fin = (v) => typeof v === "number" && isFinite(v);
  if (singleNames.length) {
    const box = K.h("div.bars");
    main.appendChild(K.h("section.card", K.h("h2", "Single values"), box));
    singleNames.forEach((n) => {
      const vals = runs.map((r) => finals(r)[n]);
      const nums = vals.filter(fin);
      const W = 420, rowH = 22, L = 140, h = runs.length * rowH + 10;
      const lo = Math.min(0, ...nums), hi = Math.max(0, ...nums), span = hi - lo || 1;
      const x = (v) => L + (v - lo) / span * (W - L - 70);
      const root = svg("svg", { class: "bar-chart", width: W, height: h, viewBox: "0 0 " + W + " " + h, "data-metric": n });
      runs.forEach((r, i) => {
        const v = vals[i], y = 5 + i * rowH;
        root.appendChild(svg("text", { x: L - 6, y: y + 14, "text-anchor": "end", class: "bar-label" }, label(r).slice(0, 20)));
        if (fin(v)) {
          root.appendChild(svg("rect", { class: "bar", x: Math.min(x(0), x(v)), y: y + 2, height: rowH - 6,
            width: Math.max(1, Math.abs(x(v) - x(0))), fill: color(i), "data-run": r.runId, "data-value": String(v) },
            svg("title", {}, label(r) + ": " + v)));
          root.appendChild(svg("text", { x: Math.max(x(0), x(v)) + 4, y: y + 14, class: "bar-value" }, K.num(v)));
        } else {
          root.appendChild(svg("text", { x: L + 4, y: y + 14, class: "bar-value" }, v === undefined ? "—" : String(v)));
        }
      });
      box.appendChild(K.h("div.bar-box", K.h("h3", n), root));
    });
  }

  // -- parallel coordinates and scatter -------------------------------------------------------------
  // an axis per parameter whose values differ, then per final metric; text values are spread evenly
  const axes = [];
  const addAxis = (key, kind, get) => {
    const vals = runs.map(get);
    const present = vals.filter((v) => v !== undefined && v !== null);
    if (!present.length) return;
    const numeric = present.every(fin);
    const cats = numeric ? null : Array.from(new Set(present.map(String))).sort();
    const lo = numeric ? Math.min(...present) : 0, hi = numeric ? Math.max(...present) : Math.max(1, cats.length - 1);
    const pos = vals.map((v) => v === undefined || v === null ? null
      : numeric ? (hi > lo ? (v - lo) / (hi - lo) : 0.5) : (cats.length > 1 ? cats.indexOf(String(v)) / (cats.length - 1) : 0.5));
    axes.push({ key: key, kind: kind, pos: pos, lo: numeric ? K.num(lo) : cats[0], hi: numeric ? K.num(hi) : cats[cats.length - 1] });
  };
  paramKeys.forEach((k) => {
    const vals = runs.map((r) => JSON.stringify(params(r)[k]));
    if (vals.some((v) => v !== vals[0])) addAxis(k, "param", (r) => params(r)[k]);
  });
  metricKeys.forEach((k) => addAxis(k, "metric", (r) => finals(r)[k]));
  if (axes.length >= 2) {
    const W = Math.max(480, axes.length * 130), H = 260, T = 34, B = 30, P = 60;
    const root = svg("svg", { class: "parcoords compare-pc", width: W, height: H, viewBox: "0 0 " + W + " " + H });
    const ax = (j) => P + j * (W - 2 * P) / (axes.length - 1);
    const ay = (p) => T + (1 - p) * (H - T - B);
    runs.forEach((r, i) => {
      const pts = axes.map((a, j) => a.pos[i] === null ? null : ax(j) + "," + ay(a.pos[i])).filter(Boolean);
      root.appendChild(svg("polyline", { class: "pc-line", points: pts.join(" "), fill: "none", stroke: color(i),
        "stroke-width": "2", "data-run": r.runId }, svg("title", {}, label(r))));
    });
    axes.forEach((a, j) => {
      root.appendChild(svg("line", { class: "pc-axis-line", x1: ax(j), x2: ax(j), y1: T, y2: H - B, stroke: "#999" }));
      root.appendChild(svg("text", { x: ax(j), y: T - 16, "text-anchor": "middle", class: "pc-axis-name" },
        (a.kind === "metric" ? "metrics." : "params.") + a.key));
      root.appendChild(svg("text", { x: ax(j), y: T - 4, "text-anchor": "middle", class: "pc-tick" }, String(a.hi)));
      root.appendChild(svg("text", { x: ax(j), y: H - B + 14, "text-anchor": "middle", class: "pc-tick" }, String(a.lo)));
    });
    main.appendChild(K.h("section.card", K.h("h2", "Parallel coordinates"), K.h("div.table-box", root)));
  }
  if (paramKeys.length && metricKeys.length) {
    const pSel = K.h("select.scatter-param", { "aria-label": "parameter" }, paramKeys.map((k) => K.h("option", { value: k }, k)));
    const mSel = K.h("select.scatter-metric", { "aria-label": "metric" }, metricKeys.map((k) => K.h("option", { value: k }, k)));
    const firstDiff = axes.find((x) => x.kind === "param");  // start with a parameter that differs
    if (firstDiff) pSel.value = firstDiff.key;
    const plot = K.h("div.scatter-box");
    main.appendChild(K.h("section.card", K.h("div.chart-head", K.h("h2", "Parameter against metric"), pSel, " vs ", mSel), plot));
    const drawScatter = () => {
      const W = 520, H = 300, L = 60, R = 20, T = 16, B = 40;
      const pts = runs.map((r, i) => ({ r: r, i: i, x: params(r)[pSel.value], y: finals(r)[mSel.value] }))
        .filter((p) => p.x !== undefined && fin(p.y));
      const numX = pts.every((p) => fin(p.x));
      const cats = numX ? null : Array.from(new Set(pts.map((p) => String(p.x)))).sort();
      const xs = pts.map((p) => numX ? p.x : cats.indexOf(String(p.x))), ys = pts.map((p) => p.y);
      const range = (v) => { const lo = Math.min(...v), hi = Math.max(...v); return hi > lo ? [lo, hi] : [lo - 1, hi + 1]; };
      const [x0, x1] = xs.length ? range(xs) : [0, 1], [y0, y1] = ys.length ? range(ys) : [0, 1];
      const sx = (v) => L + (v - x0) / (x1 - x0) * (W - L - R), sy = (v) => H - B - (v - y0) / (y1 - y0) * (H - T - B);
      const root = svg("svg", { class: "compare-scatter", width: W, height: H, viewBox: "0 0 " + W + " " + H });
      root.appendChild(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#999" }));
      root.appendChild(svg("line", { x1: L, x2: L, y1: T, y2: H - B, stroke: "#999" }));
      root.appendChild(svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", class: "pc-axis-name" }, "params." + pSel.value));
      root.appendChild(svg("text", { x: L + 6, y: T + 4, class: "pc-axis-name" }, mSel.value));
      root.appendChild(svg("text", { x: L, y: H - B + 14, "text-anchor": "middle", class: "pc-tick" }, numX ? K.num(x0) : (cats[0] || "")));
      root.appendChild(svg("text", { x: W - R, y: H - B + 14, "text-anchor": "end", class: "pc-tick" }, numX ? K.num(x1) : (cats[cats.length - 1] || "")));
      root.appendChild(svg("text", { x: L - 4, y: H - B, "text-anchor": "end", class: "pc-tick" }, K.num(y0)));
      root.appendChild(svg("text", { x: L - 4, y: T + 8, "text-anchor": "end", class: "pc-tick" }, K.num(y1)));
      pts.forEach((p, k) => root.appendChild(svg("circle", { class: "scatter-point", cx: sx(xs[k]), cy: sy(ys[k]), r: 6,
        fill: color(p.i), "data-run": p.r.runId }, svg("title", {}, label(p.r) + ": " + p.x + " → " + K.num(p.y)))));
      K.clear(plot).appendChild(root);
    };
    pSel.addEventListener("change", drawScatter);
    mSel.addEventListener("change", drawScatter);
    drawScatter();
  }
};
