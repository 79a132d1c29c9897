/* Metric charts: one chart per metric (or per train/validation pair), one line per run and
 * metric (several runs overlaid when compared).
 *
 * Series come from GET /api/runs/{id}/metrics/{name}/series, at most a few thousand points
 * (the server keeps each bucket's lowest and highest value). Zooming (drag across the chart;
 * double-click to reset) fetches the finer points of the visible range, which replace the
 * coarse points inside it; a reset goes back to the coarse view.
 *
 * Each chart has a toolbar, its settings kept per metric name in localStorage
 * ("kyanite.chart.<name>"), so they survive reloads:
 *   smoothing  EMA with TensorBoard's debiasing over the points drawn, 0..0.99; the raw
 *              line stays, faint, behind the smoothed one
 *   x axis     step, wall time or time since the series' first point
 *   log y      offered only while every value drawn is > 0 (a note says why otherwise)
 *   outliers   "clip" sets the y range to the 1st..99th percentile of the values drawn
 *   CSV        each series at full resolution from GET .../metrics/{name}/csv
 *
 * K.charts[key] is the registry of live charts (key: the chart's first metric name); a
 * chart's plotted() tells what uPlot is drawing, for tests and the console. */
"use strict";
(function () {
  const K = window.K;
  K.palette = ["#2b6cb0", "#dd6b20", "#38a169", "#d53f8c", "#805ad5", "#319795", "#c53030", "#718096",
               "#b7791f", "#2c7a7b"];
  K.charts = {};

  const STEP_INCRS = [];  // steps are whole numbers: ticks at 1, 2, 5, 10, 20, 25, 50, ...
  for (let e = 1; e <= 1e9; e *= 10) STEP_INCRS.push(e, 2 * e, 2.5 * e, 5 * e);
  STEP_INCRS.splice(2, 1);  // no 2.5
  const X_MODES = { step: "Step", time: "Wall time", relative: "Relative time" };

  K.seriesUrl = (runId, name) =>
    "/api/runs/" + K.enc(runId) + "/metrics/" + K.enc(name) + "/series";
  K.csvUrl = (runId, name) =>
    K.withTicket("/api/runs/" + K.enc(runId) + "/metrics/" + K.enc(name) + "/csv");

  K.loadSeries = function (runId, name, params) {
    return K.api(K.seriesUrl(runId, name), Object.assign({ max_points: 2000 }, params || {}));
  };

  /* Metric names -> chart groups: [[name], [train, val], ...] in the order of the names.
   * "x" pairs with "val_x", "train_x" with "val_x", "train/x" with "val/x". */
  K.metricGroups = function (names) {
    const have = new Set(names), paired = {}, taken = new Set();
    names.forEach((n) => {
      const v = n.startsWith("train_") ? "val_" + n.slice(6) : n.startsWith("train/") ? "val/" + n.slice(6)
        : n.startsWith("val_") || n.startsWith("val/") ? null : "val_" + n;
      if (v && have.has(v) && !taken.has(v)) { paired[n] = v; taken.add(v); }
    });
    return names.filter((n) => !taken.has(n)).map((n) => paired[n] ? [n, paired[n]] : [n]);
  };

  /* Exponential moving average with TensorBoard's debiasing (the first points are not
   * pulled toward 0); null and non-finite values are kept as they are. */
  K.ema = function (ys, w) {
    if (!w) return ys.slice();
    const out = new Array(ys.length);
    let last = 0, weight = 0;
    for (let i = 0; i < ys.length; i++) {
      const v = ys[i];
      if (v === null || v === undefined || !isFinite(v)) { out[i] = v; continue; }
      last = last * w + (1 - w) * v;
      weight = weight * w + (1 - w);
      out[i] = last / weight;
    }
    return out;
  };

  function quantile(sorted, q) {
    const pos = (sorted.length - 1) * q, i = Math.floor(pos), f = pos - i;
    return i + 1 < sorted.length ? sorted[i] + f * (sorted[i + 1] - sorted[i]) : sorted[i];
  }

  function fade(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  const DEFAULTS = { ema: 0, x: "step", logY: false, clip: false };
  function loadSettings(key) {
    try {
      const s = JSON.parse(localStorage.getItem("kyanite.chart." + key) || "{}");
      const out = Object.assign({}, DEFAULTS, s);
      out.ema = Math.max(0, Math.min(0.99, Number(out.ema) || 0));
      if (!X_MODES[out.x]) out.x = "step";
      return out;
    } catch (e) { return Object.assign({}, DEFAULTS); }
  }

  class MetricChart {
    /* sources: [{runId, label}]; names: the metrics drawn (default [name]), e.g. a train
     * metric and its validation metric. */
    constructor(container, name, sources, names) {
      this.name = name;
      this.names = names && names.length ? names : [name];
      this.sources = sources;
      this.settings = loadSettings(name);
      // one line per (source, metric): {runId, name, label, color, dash, full, detail}
      this.lines = [];
      sources.forEach((s, si) => this.names.forEach((n, ni) => {
        const many = sources.length > 1;
        this.lines.push({
          runId: s.runId, name: n, full: null, detail: null,
          label: many ? s.label + (this.names.length > 1 ? " · " + n : "") : (this.names.length > 1 ? n : s.label),
          color: K.palette[(many ? si : ni) % K.palette.length],
          dash: many && ni > 0 ? [6, 4] : null,
        });
      }));
      this.zoomed = false;      // the x range shown when zoomed: {min, max}, or false
      this.plot = null;
      this.el = K.h("div.chart", { dataset: { metric: name, points: "0" } });
      this.info = K.h("span.chart-info");
      this.note = K.h("span.chart-note");
      this.box = K.h("div.chart-box");
      this.tools = this.toolbar();
      this.el.appendChild(K.h("div.chart-head", K.h("h3", this.names.join(" · ")), this.info));
      this.el.appendChild(this.tools);
      this.el.appendChild(this.box);
      container.appendChild(this.el);
      this._zoomTimer = null;
      this._zoomSeq = 0;
      K.charts[name] = this;
    }

    // -- toolbar ---------------------------------------------------------------------------------
    toolbar() {
      const st = this.settings;
      const emaOut = K.h("output.ema-value", st.ema.toFixed(2));
      const ema = K.h("input.ema", { type: "range", min: "0", max: "0.99", step: "0.01", value: String(st.ema),
                                     "aria-label": "smoothing" });
      ema.addEventListener("input", () => { emaOut.textContent = Number(ema.value).toFixed(2); this.set({ ema: Number(ema.value) }); });
      const xSel = K.h("select.x-axis", { "aria-label": "x axis" },
        Object.keys(X_MODES).map((k) => K.h("option", { value: k, selected: k === st.x }, X_MODES[k])));
      xSel.addEventListener("change", () => this.set({ x: xSel.value }));
      const logY = K.h("input.log-y", { type: "checkbox", checked: st.logY });
      logY.addEventListener("change", () => this.set({ logY: logY.checked }));
      const clip = K.h("input.clip", { type: "checkbox", checked: st.clip,
                                       title: "y range clipped to the 1st–99th percentile of the values drawn" });
      clip.addEventListener("change", () => this.set({ clip: clip.checked }));
      this.csv = K.h("span.csv");
      this.controls = { ema: ema, x: xSel, logY: logY, clip: clip };
      return K.h("div.chart-tools",
        K.h("label", "Smoothing ", ema, " ", emaOut), K.h("label", "x ", xSel),
        K.h("label", logY, " log y"), K.h("label", clip, " hide outliers (1st–99th pct)"),
        this.csv, this.note);
    }

    set(change) {
      const before = this.settings;
      this.settings = Object.assign({}, before, change);
      try { localStorage.setItem("kyanite.chart." + this.name, JSON.stringify(this.settings)); } catch (e) { /* private mode */ }
      if (!this.plot) return;
      const keep = change.x === undefined || change.x === before.x ? this.zoomed : false;
      if (!keep) this.lines.forEach((l) => { l.detail = null; });
      this.zoomed = keep;
      this.rebuild();
    }

    drawCsvLinks() {
      K.clear(this.csv);
      this.lines.forEach((l) => {
        if (!l.full) return;
        const file = (l.runId + "_" + l.name).replace(/[^\w.-]+/g, "_") + ".csv";
        this.csv.appendChild(K.h("a.btn.small.csv-link", { href: K.csvUrl(l.runId, l.name), download: file,
          dataset: { run: l.runId, metric: l.name }, title: "every point of " + l.name + " as CSV" },
          this.lines.length > 1 ? "CSV " + l.label : "CSV"));
      });
    }

    // -- data ------------------------------------------------------------------------------------
    maxPoints() {
      return Math.max(200, Math.min(4000, Math.round((this.box.clientWidth || 600) * 2)));
    }

    async load() {
      const mp = this.maxPoints();
      const fulls = await Promise.all(this.lines.map((l) =>
        K.loadSeries(l.runId, l.name, { max_points: mp }).catch(() => null)));
      fulls.forEach((f, i) => { this.lines[i].full = f; });
      if (!this.zoomed) this.lines.forEach((l) => { l.detail = null; });
      if (!this.plot) this.drawCsvLinks();
      this.draw();
    }

    hasTime() {
      return this.lines.every((l) => !l.full || Array.isArray(l.full.ts));
    }

    xMode() {
      return this.settings.x !== "step" && this.hasTime() ? this.settings.x : "step";
    }

    /* One line's points as {x, steps, y}: the coarse points with the zoomed range's fine
     * points in place of those inside it. */
    table(l) {
      const f = l.full;
      if (!f) return { x: [], steps: [], y: [] };
      const d = l.detail;
      let steps = f.steps, ys = f.values, ts = f.ts || [];
      if (d) {
        steps = []; ys = []; ts = [];
        const add = (src, j) => { steps.push(src.steps[j]); ys.push(src.values[j]); ts.push(src.ts ? src.ts[j] : null); };
        for (let j = 0; j < f.steps.length && f.steps[j] < d.lo; j++) add(f, j);
        for (let j = 0; j < d.steps.length; j++) add(d, j);
        for (let j = 0; j < f.steps.length; j++) if (f.steps[j] > d.hi) add(f, j);
      }
      const mode = this.xMode();
      let x = steps;
      if (mode === "time") x = ts.slice();
      else if (mode === "relative") {
        const t0 = f.firstTs !== undefined && f.firstTs !== null ? f.firstTs : ts[0];
        x = ts.map((t) => t === null || t === undefined ? null : t - t0);
      }
      if (mode !== "step") {  // times need not grow with the steps: uPlot wants x in order
        let sorted = true;
        for (let j = 1; j < x.length; j++) if (!(x[j] >= x[j - 1])) { sorted = false; break; }
        if (!sorted) {
          const idx = x.map((_, j) => j).filter((j) => x[j] !== null).sort((a, b) => x[a] - x[b] || a - b);
          return { x: idx.map((j) => x[j]), steps: idx.map((j) => steps[j]), y: idx.map((j) => ys[j]) };
        }
      }
      return { x: x, steps: steps, y: ys };
    }

    /* uPlot's data and series options for the current settings; this.tables keeps each
     * line's {x, steps, y} and this.seriesLine which line each uPlot series draws. */
    build() {
      const st = this.settings;
      this.tables = this.lines.map((l) => this.table(l));
      const cols = [], series = [], seriesLine = [];
      this.tables.forEach((t, i) => {
        const l = this.lines[i];
        const value = (u, v) => v === null || v === undefined ? "—" : K.num(v);
        if (st.ema > 0) {
          cols.push([t.x, t.y]);
          series.push({ label: l.label + " (raw)", stroke: fade(l.color, 0.25), width: 1, spanGaps: true, dash: l.dash,
                        points: { show: false }, value: value, raw: true });
          seriesLine.push(i);
          cols.push([t.x, K.ema(t.y, st.ema)]);
          series.push({ label: l.label, stroke: l.color, width: 1.5, spanGaps: true, dash: l.dash,
                        points: { show: false }, value: value });
          seriesLine.push(i);
        } else {
          cols.push([t.x, t.y]);
          series.push({ label: l.label, stroke: l.color, width: 1.5, spanGaps: true, dash: l.dash,
                        points: { show: t.x.length <= 60, size: 5 }, value: value });
          seriesLine.push(i);
        }
      });
      this.seriesLine = seriesLine;
      const data = cols.length === 1 ? cols[0] : cols.length ? uPlot.join(cols) : [[]];
      return { data: data, series: series };
    }

    /* Which y settings can apply to the values drawn: {logOk, range|null}. */
    yScale() {
      const vals = [];
      this.tables.forEach((t) => t.y.forEach((v) => { if (v !== null && v !== undefined && isFinite(v)) vals.push(v); }));
      const logOk = vals.length > 0 && vals.every((v) => v > 0);
      let range = null;
      if (this.settings.clip && vals.length > 2) {
        vals.sort((a, b) => a - b);
        let lo = quantile(vals, 0.01), hi = quantile(vals, 0.99);
        if (this.settings.logY && logOk) { lo /= 1.05; hi *= 1.05; }
        else { const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 1; lo -= pad; hi += pad; }
        range = [lo, hi];
      }
      return { logOk: logOk, range: range };
    }

    draw() {
      if (!this.plot) { this.rebuild(); return; }
      const b = this.build();
      if (b.series.length !== this.plot.series.length - 1 || this.yScale().logOk !== this._logOk) {
        this.rebuild();
        return;
      }
      this.plot.setData(b.data, !this.zoomed);
      // setData(data, false) neither redraws nor moves uPlot's window onto the new points:
      // setting the x range does both.
      if (this.zoomed) this.plot.setScale("x", { min: this.zoomed.min, max: this.zoomed.max });
      this.describe(b.data[0].length);
    }

    describe(n) {
      this.el.dataset.points = String(n);
      const total = this.lines.filter((l) => l.full).reduce((a, l) => a + l.full.count, 0);
      const sampled = this.lines.some((l) => l.full && l.full.downsampled && !(l.detail && !l.detail.downsampled));
      this.info.textContent = K.num(total) + " points" + (sampled ? " · showing " + K.num(n) + " (each bucket's min and max)" : "");
      const notes = [];
      if (this.settings.x !== "step" && !this.hasTime()) notes.push("the server sends no times: x is the step");
      if (this.settings.logY && !this._logOk) notes.push("log y needs every value > 0");
      this.note.textContent = notes.join(" · ");
      this.controls.logY.disabled = !this._logOk && !this.settings.logY;
      this.controls.logY.parentNode.title = this._logOk ? "" : "log scale needs every value > 0";
    }

    rebuild() {
      const b = this.build();
      const y = this.yScale();
      this._logOk = y.logOk;
      const st = this.settings;
      const mode = this.xMode();
      const width = this.box.clientWidth || 600;
      const clip = y.range;
      const yScale = st.logY && y.logOk ? { distr: 3 } : {};
      if (clip) yScale.range = () => clip;
      const xAxis = { stroke: "#4a5568", grid: { stroke: "#edf2f7" } };
      if (mode === "step") xAxis.incrs = STEP_INCRS;
      if (mode === "relative") xAxis.values = (u, vals) => vals.map((v) => K.duration(v));
      const xValue = mode === "time" ? (u, v) => v === null || v === undefined ? "—" : K.time(v * 1000)
        : mode === "relative" ? (u, v) => v === null || v === undefined ? "—" : K.duration(v)
        : (u, v) => v === null || v === undefined ? "—" : K.num(v);
      const opts = {
        width: width, height: 220,
        scales: { x: { time: mode === "time" }, y: yScale },
        legend: { show: true, live: true },
        cursor: { drag: { x: true, y: false, setScale: true } },
        axes: [xAxis, { stroke: "#4a5568", grid: { stroke: "#edf2f7" }, size: 64,
                        values: (u, vals) => vals.map((v) => K.num(v)) }],
        series: [{ label: { step: "step", time: "time", relative: "since start" }[mode], value: xValue }].concat(b.series),
        hooks: { setScale: [(u, key) => { if (key === "x") this.onScale(u.scales.x.min, u.scales.x.max); }] },
      };
      const zoomed = this.zoomed;
      if (this.plot) this.plot.destroy();
      K.clear(this.box);
      this.plot = new uPlot(opts, b.data, this.box);
      this.el.dataset.x = mode;
      this.el.dataset.logY = st.logY && y.logOk ? "1" : "0";
      this.el.dataset.ema = String(st.ema);
      if (zoomed) this.plot.setScale("x", { min: zoomed.min, max: zoomed.max });
      this.describe(b.data[0].length);
      this._lastWidth = width;
      if (window.ResizeObserver && !this._ro) {
        this._ro = new ResizeObserver(() => {
          const w = this.box.clientWidth;
          if (this.plot && w && Math.abs(w - this._lastWidth) > 4) {
            this._lastWidth = w;
            this.plot.setSize({ width: w, height: 220 });
          }
        });
        this._ro.observe(this.box);
      }
    }

    // -- zoom ------------------------------------------------------------------------------------
    /* The x extent of the coarse points (what a reset shows). */
    fullRange() {
      let lo = Infinity, hi = -Infinity;
      this.lines.forEach((l) => {
        if (!l.full || !l.full.steps.length) return;
        const t = this.table({ full: l.full, detail: null });
        t.x.forEach((v) => { if (v !== null) { if (v < lo) lo = v; if (v > hi) hi = v; } });
      });
      return [lo, hi];
    }

    onScale(min, max) {
      if (min === null || max === null || !this.plot || !this.tables) return;
      const [lo, hi] = this.fullRange();
      const eps = this.xMode() === "step" ? 0.5 : (hi - lo) * 1e-9;
      if (!(min > lo + eps || max < hi - eps)) {  // the whole series: back to the coarse view
        clearTimeout(this._zoomTimer);
        this._zoomSeq++;
        if (this.zoomed) {
          this.zoomed = false;
          this.lines.forEach((l) => { l.detail = null; });
          this.draw();
        }
        return;
      }
      if (this.zoomed && this.zoomed.min === min && this.zoomed.max === max) return;  // our own redraw
      this.zoomed = { min: min, max: max };
      clearTimeout(this._zoomTimer);
      this._zoomTimer = setTimeout(() => this.zoom(min, max), 150);
    }

    /* The steps of line i that cover x in [min, max] (one point beyond each end). */
    stepRange(i, min, max) {
      const t = this.table({ full: this.lines[i].full, detail: null });
      if (this.xMode() === "step") return [Math.floor(min), Math.ceil(max)];
      let a = -1, b = -1;
      for (let j = 0; j < t.x.length; j++) {
        if (t.x[j] === null) continue;
        if (t.x[j] < min) a = j;
        if (t.x[j] > max) { b = j; break; }
      }
      const s0 = a >= 0 ? t.steps[a] : this.lines[i].full.minStep;
      const s1 = b >= 0 ? t.steps[b] : this.lines[i].full.maxStep;
      return [Math.min(s0, s1), Math.max(s0, s1)];
    }

    /* Fetch the finer points of the x range [min, max] (also the zoom API: chart.zoom(a, b)
     * shows that range as a drag across it would). */
    async zoom(min, max) {
      if (!this.zoomed || this.zoomed.min !== min || this.zoomed.max !== max) {
        this.zoomed = { min: min, max: max };
        this.plot.setScale("x", { min: min, max: max });
      }
      const seq = ++this._zoomSeq;
      const mp = this.maxPoints();
      const details = await Promise.all(this.lines.map((l, i) => {
        if (!l.full || !l.full.downsampled) return null;
        const [lo, hi] = this.stepRange(i, min, max);
        return K.loadSeries(l.runId, l.name, { max_points: mp, min_step: lo, max_step: hi })
          .then((d) => Object.assign(d, { lo: lo, hi: hi })).catch(() => null);
      }));
      if (seq !== this._zoomSeq) return;  // reset or zoomed elsewhere meanwhile
      this.lines.forEach((l, i) => { l.detail = details[i]; });
      this.draw();
      this.el.dataset.zoomed = String(this._zoomSeq);
    }

    resetZoom() {
      const [lo, hi] = this.fullRange();
      this.plot.setScale("x", { min: lo, max: hi });
    }

    /* What uPlot draws now: the x range and, per series, the points in its window. */
    plotted() {
      const u = this.plot;
      if (!u) return null;
      const [i0, i1] = u.series[0].idxs || [0, u.data[0].length - 1];
      return {
        x: { min: u.scales.x.min, max: u.scales.x.max }, mode: this.xMode(), zoomed: !!this.zoomed,
        logY: u.scales.y.distr === 3, yRange: [u.scales.y.min, u.scales.y.max],
        lines: this.lines.map((l) => ({ runId: l.runId, name: l.name, label: l.label,
                                        detail: l.detail ? { lo: l.detail.lo, hi: l.detail.hi } : null })),
        series: u.series.slice(1).map((s, k) => {
          const xs = [], ys = [];
          for (let j = i0; j <= i1; j++) {
            const v = u.data[k + 1][j];
            if (v !== null && v !== undefined) { xs.push(u.data[0][j]); ys.push(v); }
          }
          return { label: s.label, raw: !!s.raw, line: this.seriesLine[k], x: xs, y: ys };
        }),
      };
    }

    destroy() {
      if (this._ro) this._ro.disconnect();
      if (this.plot) this.plot.destroy();
      if (K.charts[this.name] === this) delete K.charts[this.name];
      this.el.remove();
    }
  }
  K.MetricChart = MetricChart;
})();
