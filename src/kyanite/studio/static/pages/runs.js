/* The runs of an experiment: paged, sorted and filtered on the server (indexed queries),
 * with the newest value of the most common metrics as columns; statuses refresh live.
 * A filter box takes the runs filter (metrics.acc > 0.9 and params.lr = 0.01 and
 * tags.team = "vision" and attributes.status = "Completed"; kept in the URL as ?filter=),
 * a column picker adds parameters as columns, and picked runs open the compare page. */
"use strict";
K.pages.runs = async function (main, params) {
  const exp = params.experiment;
  K.title(exp);
  const url = new URL(location.href);
  const st = {
    q: url.searchParams.get("q") || "", status: url.searchParams.get("status") || "",
    target: url.searchParams.get("target") || "", sort: url.searchParams.get("sort") || "created",
    desc: url.searchParams.get("order") !== "asc", size: +(url.searchParams.get("size") || 50),
    page: Math.max(0, +(url.searchParams.get("page") || 1) - 1),
    filter: url.searchParams.get("filter") || "",
  };
  const sel = K.runSelection();
  const COLS_KEY = "kyanite.runs.params." + exp;
  let paramCols = [];
  try { paramCols = JSON.parse(localStorage.getItem(COLS_KEY) || "[]"); } catch (e) { paramCols = []; }
  const STATUS = { "": "Any status", active: "Active", Queued: "Queued", Running: "Running",
    Completed: "Completed", Failed: "Failed", Canceled: "Canceled" };
  const ACTIVE = ["NotStarted", "Queued", "Preparing", "Starting", "Running", "Finalizing", "CancelRequested"];

  const search = K.h("input.search", { type: "search", placeholder: "Search runs by name or id", value: st.q });
  const statusSel = K.h("select", { "aria-label": "status" },
    Object.keys(STATUS).map((k) => K.h("option", { value: k, selected: k === st.status }, STATUS[k])));
  const targetSel = K.h("select", { "aria-label": "compute target" }, K.h("option", { value: "" }, "Any target"));
  const sizeSel = K.h("select", { "aria-label": "page size" },
    [25, 50, 100, 200].map((n) => K.h("option", { value: String(n), selected: n === st.size }, n + " per page")));
  const compareBtn = sel.button;
  const filterBox = K.h("input.filter", { type: "search", value: st.filter, "aria-label": "filter",
    placeholder: 'Filter: metrics.accuracy > 0.9 and params.lr = 0.01 and tags.team = "vision"' });
  const filterErr = K.h("div.filter-error.error");
  const picker = K.h("details.col-picker", K.h("summary", "Columns"), K.h("div.col-list"));
  const counter = K.h("span.dim.counter");
  const tableBox = K.h("div.table-box");
  const pager = K.h("div.pager");

  main.appendChild(K.h("div.page-head",
    K.h("div.crumbs", K.link("/experiments", "Experiments"), " / "), K.h("h1", exp)));
  main.appendChild(K.h("section.card",
    K.h("div.toolbar", search, statusSel, targetSel, sizeSel, picker, compareBtn, counter),
    K.h("div.toolbar.filter-row", filterBox), filterErr, tableBox, pager));

  K.api("/api/computes").then((c) => c.computes.forEach((t) =>
    targetSel.appendChild(K.h("option", { value: t.name, selected: t.name === st.target }, t.name)))).catch(() => {});

  function syncUrl() {
    const u = new URL(location.href);
    const set = (k, v, dflt) => { if (v === dflt || v === "") u.searchParams.delete(k); else u.searchParams.set(k, v); };
    set("q", st.q, ""); set("status", st.status, ""); set("target", st.target, "");
    set("sort", st.sort, "created"); set("order", st.desc ? "desc" : "asc", "desc");
    set("size", String(st.size), "50"); set("page", String(st.page + 1), "1"); set("filter", st.filter, "");
    history.replaceState(null, "", u.pathname + u.search);
  }

  function metricColumns(runs, metrics) {
    const freq = {};
    runs.forEach((r) => (metrics[r.runId] || []).forEach((m) => {
      if (m.kind === "scalar") freq[m.name] = (freq[m.name] || 0) + 1;
    }));
    const names = Object.keys(freq).sort((a, b) => freq[b] - freq[a] || a.localeCompare(b)).slice(0, 6);
    const sorted = st.sort.startsWith("metric:") ? st.sort.slice(7) : null;  // the sorted metric stays a column
    if (sorted && names.indexOf(sorted) < 0) names.unshift(sorted);
    return names;
  }

  let last = null;
  async function load() {
    const statuses = st.status === "active" ? ACTIVE : st.status;
    const data = await K.api("/api/runs", {
      experiment: exp, total: "true", q: st.q, status: statuses, target: st.target, sort: st.sort, order: st.desc ? "desc" : "asc",
      limit: st.size, offset: st.page * st.size, metrics: "true", params: "true", filter: st.filter });
    filterErr.textContent = "";
    last = data;
    draw(data);
    return data;
  }

  function drawPicker(params) {
    const keys = new Set(paramCols);
    Object.keys(params).forEach((id) => Object.keys(params[id]).forEach((k) => keys.add(k)));
    const list = K.clear(picker.querySelector(".col-list"));
    if (!keys.size) list.appendChild(K.h("span.dim", "No parameters on this page."));
    Array.from(keys).sort().forEach((k) => list.appendChild(K.h("label",
      K.h("input", { type: "checkbox", checked: paramCols.indexOf(k) >= 0, dataset: { param: k },
        on: { change: (e) => {
          paramCols = paramCols.filter((x) => x !== k).concat(e.target.checked ? [k] : []);
          try { localStorage.setItem(COLS_KEY, JSON.stringify(paramCols)); } catch (err) { /* private mode */ }
          if (last) draw(last);
        } } }), " params." + k)));
  }

  function draw(data) {
    const names = metricColumns(data.runs, data.metrics || {});
    const params = data.params || {};
    if (!picker.open) drawPicker(params);
    const value = (r, n) => {
      const m = (data.metrics[r.runId] || []).find((x) => x.name === n);
      return m ? K.h("span", { title: K.num(m.count) + " points" }, K.num(m.last)) : "—";
    };
    const cols = [
      sel.column((r) => r.runId),
      { label: "#", cls: "num", sort: "number", get: (r) => String(r.number) },
      { label: "Run", sort: "name", get: (r) => K.h("div", K.runLink(r),
          r.displayName !== r.runId ? K.h("div.sub", r.runId) : null) },
      { label: "Status", sort: "status", get: (r) => K.badge(r.status) },
      { label: "Created", sort: "created", get: (r) => K.time(r.createdUtc) },
      { label: "Started", sort: "start", get: (r) => K.time(r.startTimeUtc) },
      { label: "Duration", cls: "num", sort: "duration", get: (r) => K.duration(r.durationSeconds) },
      { label: "Target", sort: "target", get: (r) => r.target || "—" },
    ];
    if (data.runs.some((r) => r.runType && r.runType !== "run")) cols.push({ label: "Type", get: (r) => r.runType });
    paramCols.forEach((k) => cols.push({ label: k, cls: "num param", get: (r) => {
      const v = (params[r.runId] || {})[k];
      return v === undefined ? "—" : K.num(v); } }));
    names.forEach((n) => cols.push({ label: n, cls: "num metric", sort: "metric:" + n, get: (r) => value(r, n) }));
    K.clear(tableBox).appendChild(data.runs.length ? K.table(cols, data.runs, {
      rowKey: (r) => r.runId, sort: st.sort, desc: st.desc,
      onSort: (key) => { if (st.sort === key) st.desc = !st.desc; else { st.sort = key; st.desc = key !== "name" && key !== "target"; }
                         st.page = 0; refresh(); } })
      : K.empty(st.q || st.status || st.target || st.filter ? "No runs match." : "This experiment has no runs yet."));
    const from = data.total ? st.page * st.size + 1 : 0, to = Math.min(data.total, (st.page + 1) * st.size);
    counter.textContent = K.num(data.total) + " runs";
    K.clear(pager).appendChild(K.h("div",
      K.h("button.btn.small", { type: "button", disabled: st.page === 0, on: { click: () => { st.page--; refresh(); } } }, "‹ Previous"),
      K.h("span.range", from + "–" + to + " of " + K.num(data.total)),
      K.h("button.btn.small", { type: "button", disabled: to >= data.total, on: { click: () => { st.page++; refresh(); } } }, "Next ›")));
  }

  function refresh() {
    syncUrl();
    return load().catch((e) => {
      if (e.status === 400 && st.filter) filterErr.textContent = e.message;  // names where the filter goes wrong
      else K.error(tableBox, e);
    });
  }
  let typing = null;
  search.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => { st.q = search.value.trim(); st.page = 0; refresh(); }, 250); });
  statusSel.addEventListener("change", () => { st.status = statusSel.value; st.page = 0; refresh(); });
  targetSel.addEventListener("change", () => { st.target = targetSel.value; st.page = 0; refresh(); });
  sizeSel.addEventListener("change", () => { st.size = +sizeSel.value; st.page = 0; refresh(); });
  filterBox.addEventListener("keydown", (e) => { if (e.key === "Enter") { st.filter = filterBox.value.trim(); st.page = 0; refresh(); } });
  filterBox.addEventListener("search", () => { if (!filterBox.value) { st.filter = ""; st.page = 0; refresh(); } });

  await refresh();
  K.every(3000, async () => {
    if (document.activeElement && document.activeElement.type === "checkbox") return true;
    if (filterErr.textContent) return true;
    await load();
  });
};
