/* Metric charts: one chart per metric, one line per run (several runs overlaid when compared).
 * Series come from GET /api/runs/{id}/metrics/{name}/series, at most a few thousand points
 * (the server keeps each bucket's lowest and highest value), and zooming (drag across the
 * chart; double-click to reset) fetches the finer points of the visible range. */
"use strict";
(function () {
  const K = window.K;
  K.palette = ["#2b6cb0", "#dd6b20", "#38a169", "#d53f8c", "#805ad5", "#319795", "#c53030", "#718096",
               "#b7791f", "#2c7a7b"];

  const STEP_INCRS = [];  // steps are whole numbers: ticks at 1, 2, 5, 10, 20, 25, 50, ...
  for (let e = 1; e <= 1e9; e *= 10) STEP_INCRS.push(e, 2 * e, 2.5 * e, 5 * e);
  STEP_INCRS.splice(2, 1);  // no 2.5

  K.seriesUrl = (runId, name) =>
    "/api/runs/" + K.enc(runId) + "/metrics/" + K.enc(name) + "/series";

  K.loadSeries = function (runId, name, params) {
    return K.api(K.seriesUrl(runId, name), Object.assign({ max_points: 2000 }, params || {}));
  };

  class MetricChart {
    /* sources: [{runId, label}] */
    constructor(container, name, sources) {
      this.name = name;
      this.sources = sources;
      this.full = null;      // per source: {steps, values, downsampled}
      this.detail = null;    // per source: finer points of the zoomed range, or null
      this.zoomed = false;
      this.plot = null;
      this.el = K.h("div.chart", { dataset: { metric: name, points: "0" } });
      this.info = K.h("span.chart-info");
      this.box = K.h("div.chart-box");
      this.el.appendChild(K.h("div.chart-head", K.h("h3", name), this.info));
      this.el.appendChild(this.box);
      container.appendChild(this.el);
      this._zoomTimer = null;
    }

    maxPoints() {
      return Math.max(200, Math.min(4000, Math.round((this.box.clientWidth || 600) * 2)));
    }

    async load() {
      const mp = this.maxPoints();
      this.full = await Promise.all(this.sources.map((s) =>
        K.loadSeries(s.runId, this.name, { max_points: mp }).catch(() => null)));
      if (!this.zoomed) this.detail = null;
      this.draw(!this.zoomed);
    }

    data() {
      const tables = this.sources.map((s, i) => {
        const f = this.full[i];
        if (!f) return [[], []];
        const d = this.detail && this.detail[i];
        if (!d) return [f.steps, f.values];
        const lo = d.lo, hi = d.hi, xs = [], ys = [];
        for (let j = 0; j < f.steps.length && f.steps[j] < lo; j++) { xs.push(f.steps[j]); ys.push(f.values[j]); }
        for (let j = 0; j < d.steps.length; j++) { xs.push(d.steps[j]); ys.push(d.values[j]); }
        for (let j = 0; j < f.steps.length; j++) if (f.steps[j] > hi) { xs.push(f.steps[j]); ys.push(f.values[j]); }
        return [xs, ys];
      });
      if (tables.length === 1) return tables[0];
      return uPlot.join(tables);
    }

    draw(resetScales) {
      const data = this.data();
      const n = data[0].length;
      this.el.dataset.points = String(n);
      const counts = this.full.filter(Boolean).map((f) => f.count);
      const total = counts.reduce((a, b) => a + b, 0);
      const sampled = this.full.some((f) => f && f.downsampled);
      this.info.textContent = K.num(total) + " points" + (sampled ? " · showing " + K.num(n) + " (each bucket's min and max)" : "");
      if (this.plot) {
        this._silent = true;  // our own redraw is not a zoom by the user
        try { this.plot.setData(data, resetScales); } finally { this._silent = false; }
        return;
      }
      const width = this.box.clientWidth || 600;
      const opts = {
        width: width, height: 220,
        scales: { x: { time: false } },
        legend: { show: true, live: true },
        cursor: { drag: { x: true, y: false, setScale: true } },
        axes: [{ stroke: "#4a5568", grid: { stroke: "#edf2f7" }, incrs: STEP_INCRS },
               { stroke: "#4a5568", grid: { stroke: "#edf2f7" }, size: 64,
                 values: (u, vals) => vals.map((v) => K.num(v)) }],
        series: [{ label: "step", value: (u, v) => v === null || v === undefined ? "—" : K.num(v) }]
          .concat(this.sources.map((s, i) => ({
            label: s.label, stroke: K.palette[i % K.palette.length], width: 1.5, spanGaps: true,
            points: { show: n <= 60, size: 5 },
            value: (u, v) => v === null || v === undefined ? "—" : K.num(v),
          }))),
        hooks: { setScale: [(u, key) => { if (key === "x") this.onScale(u.scales.x.min, u.scales.x.max); }] },
      };
      this.plot = new uPlot(opts, data, this.box);
      this._lastWidth = width;
      if (window.ResizeObserver) {
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

    fullRange() {
      let lo = Infinity, hi = -Infinity;
      this.full.forEach((f) => { if (f && f.count) { lo = Math.min(lo, f.minStep); hi = Math.max(hi, f.maxStep); } });
      return [lo, hi];
    }

    onScale(min, max) {
      if (this._silent || min === null || max === null || !this.full) return;
      const [lo, hi] = this.fullRange();
      const zoomed = min > lo + 0.5 || max < hi - 0.5;
      if (!zoomed) {
        if (this.zoomed) { this.zoomed = false; this.detail = null; }
        return;
      }
      this.zoomed = true;
      if (!this.full.some((f) => f && f.downsampled)) return;
      clearTimeout(this._zoomTimer);
      this._zoomTimer = setTimeout(() => this.zoom(Math.floor(min), Math.ceil(max)), 150);
    }

    async zoom(min, max) {
      const mp = this.maxPoints();
      this.detail = await Promise.all(this.sources.map((s, i) => {
        const f = this.full[i];
        if (!f || !f.downsampled) return null;
        return K.loadSeries(s.runId, this.name, { max_points: mp, min_step: min, max_step: max })
          .then((d) => ({ lo: min, hi: max, steps: d.steps, values: d.values })).catch(() => null);
      }));
      this.draw(false);
    }

    destroy() {
      if (this._ro) this._ro.disconnect();
      if (this.plot) this.plot.destroy();
      this.el.remove();
    }
  }
  K.MetricChart = MetricChart;
})();
