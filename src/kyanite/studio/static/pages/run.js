/* A run: details, metrics (charts, images, tables), the driver log streaming live, files,
 * environment and child runs. ?compare=id,id opens the compare view (/compare?runs=this,id,id). */
"use strict";
K.pages.run = async function (main, params) {
  const id = params.run_id;
  const base = "/api/runs/" + K.enc(id);
  const url = new URL(location.href);
  const compare = (url.searchParams.get("compare") || "").split(",").map((s) => s.trim()).filter(Boolean);
  if (compare.length) {  // one way to compare runs: the compare view
    location.replace("/compare?runs=" + [id].concat(compare).map(encodeURIComponent).join(","));
    return;
  }
  let run = await K.api(base);
  K.title(run.displayName || id);

  // -- header --------------------------------------------------------------------------
  const badge = K.h("span.status-slot", K.badge(run.status));
  const actions = K.h("div.actions");
  const strip = K.h("div.strip");
  const crumbs = K.h("div.crumbs",
    K.embed ? K.link(K.runUrl(id), "Open in studio ↗", { target: "_blank", rel: "noopener" })
            : [K.link("/experiments", "Experiments"), " / ", K.link(K.expUrl(run.experiment), run.experiment),
               run.parentRunId ? [" / ", K.link(K.runUrl(run.parentRunId), run.parentRunId)] : null, " /"]);
  const h1 = K.h("h1", run.displayName || id);
  main.appendChild(K.h("div.page-head", crumbs, K.h("div.title-row", h1, badge, actions), strip));

  // -- tabs ------------------------------------------------------------------------------
  const tabs = {};
  const tabBar = K.h("div.tabs", { role: "tablist" });
  const panels = K.h("div.panels");
  main.appendChild(tabBar);
  main.appendChild(panels);
  function addTab(key, label, loader) {
    const btn = K.h("button.tab", { type: "button", role: "tab", dataset: { tab: key } }, label);
    const panel = K.h("div.panel", { dataset: { panel: key }, hidden: true });
    tabs[key] = { btn: btn, panel: panel, loader: loader, loaded: false };
    btn.addEventListener("click", () => show(key, true));
    tabBar.appendChild(btn);
    panels.appendChild(panel);
  }
  /* Show tab ``key``; ``push`` adds a history entry (#key), so back and forward move
   * between tabs (the hashchange/popstate listeners below show the address's tab). */
  function show(key, push) {
    if (!tabs[key] || tabs[key].btn.hidden) key = "overview";
    Object.keys(tabs).forEach((k) => {
      tabs[k].btn.classList.toggle("active", k === key);
      tabs[k].btn.setAttribute("aria-selected", k === key ? "true" : "false");
      tabs[k].panel.hidden = k !== key;
    });
    const t = tabs[key];
    if (!t.loaded) { t.loaded = true; Promise.resolve(t.loader(t.panel)).catch((e) => K.error(t.panel, e)); }
    if (t.onShow) t.onShow();
    if (push && location.hash !== "#" + key) history.pushState(null, "", location.pathname + location.search + "#" + key);
  }
  function showAddressTab() { show(location.hash.slice(1) || "overview", false); }
  window.addEventListener("hashchange", showAddressTab);
  window.addEventListener("popstate", showAddressTab);

  // -- overview -------------------------------------------------------------------------------
  let summary = [];
  const overview = { details: null, metrics: null };
  function detailsCard() {
    const d = run.runDefinition || {};
    const env = d.environment || {};
    return K.section("Details", K.kv([
      ["Run id", K.h("code", id)],
      ["Experiment", K.embed ? run.experiment : K.link(K.expUrl(run.experiment), run.experiment)],
      ["Status", K.badge(run.status)],
      ["Type", run.runType],
      ["Parent run", run.parentRunId ? K.runLink({ runId: run.parentRunId }) : null],
      ["Compute target", run.target],
      ["Created", K.time(run.createdUtc)],
      ["Started", K.time(run.startTimeUtc)],
      ["Ended", run.endTimeUtc ? K.time(run.endTimeUtc) : null],
      ["Duration", K.duration(run.durationSeconds)],
      ["Script", d.script ? K.h("code", d.script) : null],
      ["Arguments", d.arguments && d.arguments.length ? K.h("code.args", d.arguments.join(" ")) : null],
      ["Environment", env.name ? env.name + (env.version ? " (version " + env.version + ")" : "") : null],
    ]));
  }
  function dictCard(title, obj) {
    const keys = Object.keys(obj || {});
    return K.section(title, keys.length ? K.table([
      { label: "Name", get: (k) => k }, { label: "Value", get: (k) => K.h("span.wrap", obj[k]) },
    ], keys.sort()) : K.empty("None."));
  }
  function inputsCard() {
    const inputs = run.inputDatasets || {};
    const names = Object.keys(inputs);
    if (!names.length) return null;
    return K.section("Input datasets", K.table([
      { label: "Input", get: (n) => n },
      { label: "Dataset", get: (n) => {
          const x = inputs[n] || {};
          const label = (x.name || x.id || "—") + (x.version ? " (version " + x.version + ")" : "");
          return x.name && K.hasPage("dataset") && !K.embed ? K.link("/datasets/" + K.enc(x.name), label) : label; } },
      { label: "Mode", get: (n) => (inputs[n] || {}).mode || "—" },
    ], names));
  }
  function errorCard() {
    if (!run.error) return null;
    const e = run.error;
    return K.h("section.card.error-card", K.h("h2", "Error"),
      K.h("p", e.message || JSON.stringify(e)),
      e.logTail || e.log_tail ? K.h("pre.log.small.log-tail", logTailText(e.logTail || e.log_tail)) : null);
  }
  function logTailText(tail) {  // the stored tail: a list of lines (or one text)
    return Array.isArray(tail) ? tail.map(String).join("\n") : String(tail);
  }
  function metricValuesCard() {
    const rows = summary.filter((m) => m.kind === "scalar");
    return K.section("Metrics", rows.length ? K.table([
      { label: "Name", get: (m) => K.link("#metrics", m.name, { on: { click: (e) => { e.preventDefault(); show("metrics", true); } } }) },
      { label: "Last value", cls: "num", get: (m) => K.num(m.last) },
      { label: "Points", cls: "num", get: (m) => K.num(m.count) },
    ], rows) : K.empty(K.isTerminal(run.status) ? "No metrics were logged." : "No metrics yet."));
  }
  let models = [];
  function modelsCard() {
    if (!models.length) return null;
    return K.section("Models registered from this run", K.table([
      { label: "Model", get: (m) => K.hasPage("model") && !K.embed
          ? K.link("/models/" + K.enc(m.name) + "?version=" + m.version, m.name + ":" + m.version) : m.name + ":" + m.version },
      { label: "Datasets", get: (m) => (m.datasets || []).map((d) => d[1]).join(", ") || "—" },
      { label: "Registered", get: (m) => K.time(m.createdTime) },
    ], models));
  }
  async function refreshModels() {
    if (!K.hasPage("models")) return;
    models = await K.api(base + "/models").then((x) => x.models).catch(() => []);
  }
  function descriptionCard() {
    return run.description ? K.section("Description", K.h("p.description", run.description)) : null;
  }
  /* The edit form: display name, description and tags, saved with one PATCH /api/runs/{id}
   * (display_name, description, tags for the added or changed ones, remove_tags). The
   * description field shows only when the API's run object carries ``description``. */
  let editing = false;
  function editCard() {
    if (!editing) return null;
    const tags = Object.assign({}, run.tags || {});
    const name = K.h("input#edit-name", { type: "text", value: run.displayName || "", maxlength: 255 });
    const desc = K.h("textarea#edit-description", { rows: 3 });
    desc.value = run.description || "";
    const canDescribe = "description" in run;
    const chips = K.h("div.tag-list");
    function drawChips() {
      K.clear(chips);
      Object.keys(tags).sort().forEach((k) => chips.appendChild(K.h("span.tag-chip", { dataset: { tag: k } },
        k + (tags[k] ? ": " + tags[k] : ""),
        K.h("button.tag-remove", { type: "button", title: "Remove tag " + k, "aria-label": "Remove tag " + k,
                                   on: { click: () => { delete tags[k]; drawChips(); } } }, "×"))));
      if (!Object.keys(tags).length) chips.appendChild(K.h("span.dim", "No tags."));
    }
    drawChips();
    const tagKey = K.h("input#edit-tag-key", { type: "text", placeholder: "tag name" });
    const tagValue = K.h("input#edit-tag-value", { type: "text", placeholder: "value (optional)" });
    const msg = K.h("p.error.edit-error");
    function addTag() {
      const k = tagKey.value.trim();
      if (!k) { msg.textContent = "Give the tag a name."; return; }
      tags[k] = tagValue.value; tagKey.value = ""; tagValue.value = ""; msg.textContent = ""; drawChips();
    }
    tagValue.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addTag(); } });
    async function save(e) {
      e.preventDefault();
      if (tagKey.value.trim()) addTag();
      const old = run.tags || {};
      const body = { tags: {}, remove_tags: Object.keys(old).filter((k) => !(k in tags)) };
      Object.keys(tags).forEach((k) => { if (old[k] !== tags[k]) body.tags[k] = tags[k]; });
      if (name.value.trim() !== (run.displayName || "")) body.display_name = name.value.trim();
      if (canDescribe && desc.value !== (run.description || "")) body.description = desc.value;
      try {
        run = await K.api(base, null, { method: "PATCH", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      } catch (err) { msg.textContent = err.message; return; }
      editing = false;
      drawHeader(); K.title(run.displayName || id); drawOverview(tabs.overview.panel);
    }
    return K.h("section.card.edit-card", K.h("h2", "Edit run"), K.h("form.edit-form", { on: { submit: save } },
      K.h("label", { for: "edit-name" }, "Display name"), name,
      canDescribe ? [K.h("label", { for: "edit-description" }, "Description"), desc] : null,
      K.h("label", "Tags"), chips,
      K.h("div.toolbar", tagKey, tagValue, K.h("button.btn.small.tag-add", { type: "button", on: { click: addTag } }, "Add tag")),
      msg,
      K.h("div.toolbar", K.h("button.btn.save", { type: "submit" }, "Save"),
        K.h("button.btn.cancel-edit", { type: "button", on: { click: () => { editing = false; drawOverview(tabs.overview.panel); } } }, "Cancel"))));
  }
  function drawOverview(panel) {
    K.clear(panel);
    const form = editCard();
    if (form) panel.appendChild(form);
    panel.appendChild(K.h("div.grid2",
      K.h("div", errorCard(), descriptionCard(), detailsCard(), inputsCard(), modelsCard()),
      K.h("div", metricValuesCard(), paramsCard(), dictCard("Tags", run.tags), dictCard("Properties", run.properties))));
  }
  /* Parameters: the options of the run's arguments (numbers typed) and its MLflow params
   * (GET /api/runs/{id}/params); fetched once with the overview. */
  let runParams = null;
  function paramsCard() {
    if (!runParams || !Object.keys(runParams).length) return null;
    return K.h("div.params-card", K.section("Parameters", K.table([
      { label: "Name", get: (k) => k },
      { label: "Value", cls: "num", get: (k) => K.h("span.wrap", { title: typeof runParams[k] }, K.num(runParams[k])) },
    ], Object.keys(runParams).sort(), { rowKey: (k) => k })));
  }
  addTab("overview", "Overview", async (panel) => {
    drawOverview(panel);
    const p = K.api("/api/runs/" + K.enc(id) + "/params").then((d) => { runParams = d.params; }).catch(() => {});
    await Promise.all([refreshModels(), p]);
    drawOverview(panel);
  });

  // -- metrics ------------------------------------------------------------------------------------
  const charts = {};
  let metricsPanel = null;
  async function drawMetrics(panel) {
    if (!metricsPanel) await refreshSummary();
    metricsPanel = panel;
    const sources = [{ runId: id, label: run.displayName || id }];
    if (!panel.firstChild) {
      panel.appendChild(K.h("div.charts"));
      panel.appendChild(K.h("div.tables"));
    }
    const chartBox = panel.querySelector(".charts"), tableBox = panel.querySelector(".tables");
    if (run.runType === "hyperdrive") await drawSweepChart(panel);  // the children's primary metric
    // A series whose newest value is text (run.log(name, "a string")) is not plotted: its
    // last value shows in the "Single values" table.
    let names = summary.filter((m) => m.kind === "scalar" && !m.text).map((m) => m.name);
    const single = summary.filter((m) => m.kind === "scalar" && (m.text || m.count === 1)).map((m) => m.name);
    names = names.filter((n) => single.indexOf(n) < 0 && !isSystem(n));  // system/: the System tab
    if (!names.length && !single.length && !chartBox.firstChild) {
      chartBox.appendChild(K.empty(K.isTerminal(run.status) ? "No metrics were logged." : "No metrics yet; charts appear as the run logs them."));
    }
    if (names.length) chartBox.querySelectorAll("p.empty").forEach((p) => p.remove());
    // one chart per metric, a train metric and its validation metric ("loss", "val_loss") on one
    const groups = K.metricGroups(names);
    for (const g of groups) {
      if (!charts[g[0]]) charts[g[0]] = new K.MetricChart(chartBox, g[0], sources, g);
    }
    await Promise.all(groups.map((g) => charts[g[0]].load()));
    const singles = summary.filter((m) => single.indexOf(m.name) >= 0);
    let sv = tableBox.querySelector(".single-values");
    if (singles.length) {
      const card = K.h("section.card.single-values", K.h("h2", "Single values"), K.table([
        { label: "Name", get: (m) => m.name }, { label: "Value", cls: "num", get: (m) => K.num(m.last) }], singles));
      if (sv) sv.replaceWith(card); else tableBox.prepend(card);
    } else if (sv) {
      sv.remove();
    }
    await drawTables(tableBox);
  }
  async function drawTables(box) {
    const kinds = summary.filter((m) => m.kind === "row" || m.kind === "table");
    for (const m of kinds) {
      const data = await K.api(base + "/metrics", { name: m.name });
      const rec = data.metrics[0];
      if (!rec) continue;
      let cols = {};
      if (rec.kind === "table") cols = rec.values[rec.values.length - 1] || {};
      else rec.values.forEach((row) => Object.keys(row).forEach((k) => { (cols[k] = cols[k] || []); }));
      const keys = Object.keys(cols);
      let rows = [];
      if (rec.kind === "table") {
        const n = Math.max(0, ...keys.map((k) => (cols[k] || []).length));
        for (let i = 0; i < n; i++) rows.push(keys.map((k) => (cols[k] || [])[i]));
      } else {
        rows = rec.values.map((row) => keys.map((k) => row[k]));
      }
      const shown = rows.slice(0, 500);
      const card = K.h("section.card.metric-table", { dataset: { metric: m.name } }, K.h("h2", m.name),
        K.table(keys.map((k, i) => ({ label: k, cls: "num", get: (r) => typeof r[i] === "number" ? K.num(r[i]) : String(r[i] === undefined ? "" : r[i]) })), shown),
        rows.length > shown.length ? K.h("p.dim", "First 500 of " + rows.length + " rows.") : null);
      const old = box.querySelector('.metric-table[data-metric="' + CSS.escape(m.name) + '"]');
      if (old) old.replaceWith(card); else box.appendChild(card);
    }
  }
  addTab("metrics", "Metrics", drawMetrics);

  // -- system: CPU, memory and GPU use of the script (the run host's system/ metrics) ----------------
  /* system/ metrics are recorded by the run host every KYANITE_SYSTEM_METRICS_INTERVAL s; they
   * are charted here and left out of the Overview and Metrics tabs (refreshSummary splits them). */
  const isSystem = (name) => name.indexOf("system/") === 0;
  const SYSTEM_ORDER = ["system/cpu_percent", "system/memory_mb"];
  const systemRank = (n) => SYSTEM_ORDER.indexOf(n) >= 0 ? SYSTEM_ORDER.indexOf(n) : SYSTEM_ORDER.length;
  let systemNames = [];
  const systemCharts = {};
  async function drawSystem(panel) {
    if (!panel.querySelector(".charts")) {
      panel.appendChild(K.h("p.dim.system-note", "Sampled by the run host every few seconds: CPU (percent of one core) and " +
        "resident memory (MiB) of the script's processes, and for each GPU the run sees its utilisation (%) and the memory used on it (MiB)."));
      panel.appendChild(K.h("div.charts.system-charts"));
    }
    const box = panel.querySelector(".charts");
    if (!systemNames.length && !box.firstChild)
      box.appendChild(K.empty(K.isTerminal(run.status) ? "No system metrics were recorded for this run." : "No system metrics yet."));
    if (systemNames.length) box.querySelectorAll("p.empty").forEach((p) => p.remove());
    for (const n of systemNames)
      if (!systemCharts[n]) systemCharts[n] = new K.MetricChart(box, n, [{ runId: id, label: run.displayName || id }]);
    await Promise.all(systemNames.map((n) => systemCharts[n].load()));
  }
  addTab("system", "System", drawSystem);

  // -- a sweep's metrics: the primary metric of its children, one line per child ---------------------
  let sweepChart = null, sweepKey = "";
  async function drawSweepChart(panel) {
    const metric = (((run.runDefinition || {}).hyperdrive) || {}).primaryMetricName;
    if (!metric) return;
    let box = panel.querySelector(".sweep-charts");
    if (!box) { box = K.h("div.charts.sweep-charts"); panel.prepend(box); }
    const kids = (await K.api(base + "/children")).runs.slice().sort((a, b) => (a.number || 0) - (b.number || 0)).slice(0, 20);
    const key = kids.map((k) => k.runId).join(",");
    if (key !== sweepKey) {
      if (sweepChart) sweepChart.destroy();
      sweepChart = null; sweepKey = key; K.clear(box);
      if (!kids.length) { box.appendChild(K.empty("No child run yet.")); return; }
      sweepChart = new K.MetricChart(box, metric, kids.map((k) => {
        const i = (k.properties || {})["hyperdrive.index"];
        return { runId: k.runId, label: i !== undefined ? "#" + i : (k.displayName || k.runId) }; }));
      sweepChart.el.classList.add("wide", "sweep-chart");
    }
    await sweepChart.load();
  }

  // -- images -------------------------------------------------------------------------------------
  async function drawImages(panel) {
    const names = summary.filter((m) => m.kind === "image").map((m) => m.name);
    K.clear(panel);
    if (!names.length) { panel.appendChild(K.empty("No images were logged.")); return; }
    for (const n of names) {
      const data = await K.api(base + "/metrics", { name: n });
      const rec = data.metrics[0] || { values: [] };
      panel.appendChild(K.section(n, K.h("div.images", rec.values.map((path, i) =>
        K.h("figure", K.h("a", { href: K.fileUrl(id, path), target: "_blank", rel: "noopener" },
          K.h("img", { src: K.fileUrl(id, path), alt: n + " " + (i + 1), loading: "lazy" })),
          K.h("figcaption", path.split("/").pop()))))));
    }
  }
  addTab("images", "Images", drawImages);

  // -- logs ----------------------------------------------------------------------------------------
  // The chosen log drawn like a terminal (K.LogView: colours, "\r" progress lines, search).
  // The driver log of a live run follows: the status long poll carries log_offset, so it
  // returns as soon as the log grows (see watch()).
  const log = { name: K.DRIVER_LOG, offset: 0, decoder: new TextDecoder("utf-8"), view: null, following: false, busy: null };
  const LOG_CAP = 2000000;
  async function pullLog() {
    if (log.busy) return log.busy;
    log.busy = (async () => {
      for (let i = 0; i < 50; i++) {
        const name = log.name;
        const r = await K.fetch(K.withTicket(base + "/logs" + K.query({ name: name, offset: log.offset, max_bytes: 1048576 })));
        const buf = new Uint8Array(await r.arrayBuffer());
        if (name !== log.name) return;  // another log was chosen meanwhile
        log.offset = buf.length ? log.offset + buf.length : Math.max(log.offset, +(r.headers.get("X-Log-Size") || 0));
        log.view.feed(log.decoder.decode(buf, { stream: true }));
        if (buf.length < 1048576) break;
      }
    })().finally(() => { log.busy = null; });
    return log.busy;
  }
  async function drawLogs(panel) {
    const files = await K.api(base + "/artifacts").then((x) => x.files).catch(() => []);
    const logs = files.filter((f) => f.path.startsWith("user_logs/") || f.path.startsWith("logs/") ||
                                     f.path.startsWith("system_logs/"));
    const names = [K.DRIVER_LOG].concat(logs.map((f) => f.path).filter((p) => p !== K.DRIVER_LOG));
    const sizes = {}; files.forEach((f) => { sizes[f.path] = f.size; });
    const sel = K.h("select", { "aria-label": "log file" }, names.map((n) => K.h("option", { value: n }, n)));
    const live = K.h("span.live", K.isTerminal(run.status) ? "" : "● live");
    const pre = K.h("pre.log", { dataset: { log: K.DRIVER_LOG } });
    log.view = new K.LogView(pre, { cap: LOG_CAP });
    const download = K.h("a.btn.small.log-download", { href: K.fileUrl(id, K.DRIVER_LOG), download: "std_log.txt" }, "Download");
    const find = K.h("input.log-search", { type: "search", placeholder: "Search the log", "aria-label": "search the log" });
    const count = K.h("span.search-count.dim");
    const prev = K.h("button.btn.small.search-prev", { type: "button", title: "Previous match (Shift+Enter)" }, "↑");
    const next = K.h("button.btn.small.search-next", { type: "button", title: "Next match (Enter)" }, "↓");
    log.view.onSearch((s) => {
      count.textContent = find.value ? (s.count ? (s.index + 1) + " of " + s.count : "no matches") : "";
      count.dataset.count = String(s.count);
    });
    let searchTimer = null;
    find.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => log.view.search(find.value), 150); });
    find.addEventListener("keydown", (e) => {
      if (e.key !== "Enter") return;
      e.preventDefault();
      clearTimeout(searchTimer);
      if (log.view.query !== find.value) log.view.search(find.value); else log.view.jump(e.shiftKey ? -1 : 1);
    });
    prev.addEventListener("click", () => log.view.jump(-1));
    next.addEventListener("click", () => log.view.jump(1));
    panel.appendChild(K.h("div.toolbar", sel, live, K.h("span.log-find", find, count, prev, next), download));
    panel.appendChild(pre);
    function start(name) {
      log.name = name; log.decoder = new TextDecoder("utf-8"); pre.dataset.log = name;
      log.view.reset();
      if (find.value) log.view.search(find.value);
      download.href = K.fileUrl(id, name);
      download.setAttribute("download", name.split("/").pop());
      const size = sizes[name] || 0;
      log.offset = 0;
      if (size > LOG_CAP) {  // a long log: start near its end
        log.offset = size - LOG_CAP / 2;
        log.view.note("… (the first " + K.bytes(log.offset) + " are not shown; download the full log)");
      }
      log.following = name === K.DRIVER_LOG && !K.isTerminal(run.status);
      return pullLog().then(() => { if (log.following) rewatch(); });
    }
    sel.addEventListener("change", () => start(sel.value));
    tabs.logs.live = live;
    await start(K.DRIVER_LOG);
  }
  addTab("logs", "Logs", drawLogs);

  // -- files -------------------------------------------------------------------------------------
  // The run's files as a folder tree with previews (K.fileBrowser); the preview reads only
  // a file's first bytes (the logs route reads any run file from an offset).
  const runFiles = {
    url: (path) => K.fileUrl(id, path),
    read: async (path, max) => new Uint8Array(await (await K.fetch(K.withTicket(
      base + "/logs" + K.query({ name: path, offset: 0, max_bytes: max })))).arrayBuffer()),
  };
  let filesSig = null;
  async function drawFiles(panel) {
    const files = (await K.api(base + "/artifacts")).files;
    const sig = JSON.stringify(files);
    if (sig === filesSig) return;  // unchanged: keep the open folders and the preview
    filesSig = sig;
    K.clear(panel);
    const total = files.reduce((a, f) => a + f.size, 0);
    panel.appendChild(K.section("Files (" + files.length + ", " + K.bytes(total) + ")",
      files.length ? K.fileBrowser(files, runFiles)
        : K.empty("No files yet: what the script writes to ./outputs and ./logs appears here.")));
  }
  addTab("files", "Files", drawFiles);

  // -- snapshot ------------------------------------------------------------------------------------
  // The source snapshot the run ran (read only), when its definition names one.
  function snapshotId() { return (run.runDefinition || {}).snapshotId || (run.runDefinition || {}).snapshot_id || null; }
  async function drawSnapshot(panel) {
    const sha = snapshotId();
    const sbase = "/api/snapshots/" + K.enc(sha) + "/files";
    const files = (await K.api(sbase)).files;
    const total = files.reduce((a, f) => a + f.size, 0);
    K.clear(panel);
    panel.appendChild(K.section("Source snapshot (" + files.length + " files, " + K.bytes(total) + ")",
      K.h("p.dim", "The files of the source directory as the run got them. Snapshot ", K.h("code", sha.slice(0, 12))),
      K.fileBrowser(files, {
        url: (path) => sbase + "/" + K.encPath(path),
        read: async (path, max) => new Uint8Array(await (await K.fetch(sbase + "/" + K.encPath(path) + K.query({ max_bytes: max }))).arrayBuffer()),
      })));
  }
  addTab("snapshot", "Snapshot", drawSnapshot);

  // -- environment --------------------------------------------------------------------------------
  function drawEnv(panel) {
    K.clear(panel);
    const env = (run.runDefinition || {}).environment || {};
    const spec = env.spec || {};
    panel.appendChild(K.section("Environment", K.kv([
      ["Name", env.name], ["Version", env.version],
      ["Python", spec.python || spec.python_version || (spec.user_managed ? "the server's interpreter (user managed)" : null)],
      ["Requested packages", (spec.pip || spec.packages || []).length ? K.h("code.args", (spec.pip || spec.packages).join("  ")) : null],
      ["Docker", env.docker && env.docker.base_image ? env.docker.base_image + " (kept on the record; runs without Docker)" : null],
    ])));
    const pk = run.resolvedPackages || {};
    const names = Object.keys(pk).sort((a, b) => a.localeCompare(b));
    panel.appendChild(K.section("Resolved packages (" + names.length + ")", names.length ? K.table([
      { label: "Package", get: (n) => n }, { label: "Version", get: (n) => String(pk[n]) }], names)
      : K.empty(spec.user_managed || !Object.keys(spec).length ? "A user-managed environment: nothing was resolved." : "Not resolved yet.")));
  }
  addTab("environment", "Environment", drawEnv);

  // -- children ---------------------------------------------------------------------------------------
  async function drawChildren(panel) {
    // The children with their newest metric values (an embed may read only this run's tree).
    const data = K.embed
      ? await K.api(base + "/children").then((x) => ({ runs: x.runs, total: x.runs.length, metrics: {} }))
      : await K.api("/api/runs", { parent: id, total: "true", limit: 500, metrics: "true", sort: "number", order: "asc" });
    K.clear(panel);
    const names = {};
    data.runs.forEach((r) => (data.metrics[r.runId] || []).forEach((m) => { if (m.kind === "scalar") names[m.name] = 1; }));
    const hp = {};
    data.runs.forEach((r) => Object.keys(((r.runDefinition || {}).hyperparameters) || {}).forEach((k) => { hp[k] = 1; }));
    const cols = [
      { label: "#", cls: "num", get: (r) => String(r.number) },
      { label: "Run", get: (r) => K.runLink(r) },
      { label: "Status", get: (r) => K.badge(r.status) },
      { label: "Duration", cls: "num", get: (r) => K.duration(r.durationSeconds) },
    ].concat(Object.keys(hp).map((k) => ({ label: k, cls: "num hp", get: (r) => String(((r.runDefinition || {}).hyperparameters || {})[k]) })))
     .concat(Object.keys(names).slice(0, 6).map((n) => ({ label: n, cls: "num metric", get: (r) => {
        const m = (data.metrics[r.runId] || []).find((x) => x.name === n); return m ? K.num(m.last) : "—"; } })));
    panel.appendChild(K.section("Child runs (" + data.total + ")", data.runs.length ? K.table(cols, data.runs, { rowKey: (r) => r.runId })
      : K.empty("No child runs.")));
  }
  addTab("children", "Child runs", drawChildren);

  // -- header state, live updates -------------------------------------------------------------------
  function drawHeader() {
    K.clear(badge).appendChild(K.badge(run.status));
    h1.textContent = run.displayName || id;
    K.clear(strip).appendChild(K.h("span", K.h("b", "Target "), run.target || "—"));
    strip.appendChild(K.h("span", K.h("b", "Created "), K.time(run.createdUtc)));
    strip.appendChild(K.h("span", K.h("b", "Duration "), K.h("span.duration", K.duration(run.durationSeconds))));
    if (run.runType && run.runType !== "run") strip.appendChild(K.h("span", K.h("b", "Type "), run.runType));
    K.clear(actions);
    if (!K.embed) {
      actions.appendChild(K.h("button.btn.small.edit-run", { type: "button", on: { click: () => {
        editing = true; show("overview", true); drawOverview(tabs.overview.panel);
        const first = main.querySelector("#edit-name"); if (first) first.focus();
      } } }, "Edit"));
    }
    if (run.runType === "hyperdrive" && K.hasPage("sweep"))  // in an embed: the embedded sweep view
      actions.appendChild(K.link(K.embed ? K.withTicket("/runs/" + K.enc(id) + "/embed") : "/sweeps/" + K.enc(id),
                                 "Sweep view", { class: "btn small sweep-view" }));
    if (!K.isTerminal(run.status) && !K.embed && run.status !== "CancelRequested") {
      actions.appendChild(K.h("button.btn.small.danger", { type: "button", on: { click: async (e) => {
        e.target.disabled = true;
        try { run = await K.post(base + "/cancel"); drawHeader(); } catch (err) { alert(err.message); e.target.disabled = false; }
      } } }, "Cancel run"));
    }
  }
  async function refreshSummary() {
    const all = (await K.api(base + "/metrics/summary")).metrics;
    summary = all.filter((m) => !isSystem(m.name));
    systemNames = all.filter((m) => isSystem(m.name) && m.kind === "scalar").map((m) => m.name)
      .sort((a, b) => systemRank(a) - systemRank(b) || a.localeCompare(b, "en", { numeric: true }));
    tabs.system.btn.hidden = !systemNames.length;
    const hasImages = summary.some((m) => m.kind === "image");
    tabs.images.btn.hidden = !hasImages;
  }
  async function refreshChildren() {
    const kids = await K.api(base + "/children");
    tabs.children.btn.hidden = !kids.runs.length;
    if (kids.runs.length) tabs.children.btn.textContent = "Child runs (" + kids.runs.length + ")";
    return kids.runs.length;
  }
  function redrawLoaded() {
    const jobs = [];
    if (tabs.overview.loaded && !editing) drawOverview(tabs.overview.panel);  // never under a half-typed edit
    if (tabs.metrics.loaded && metricsPanel) jobs.push(drawMetrics(metricsPanel));
    if (tabs.images.loaded) jobs.push(drawImages(tabs.images.panel));
    if (tabs.system.loaded) jobs.push(drawSystem(tabs.system.panel));
    if (tabs.files.loaded) jobs.push(drawFiles(tabs.files.panel));
    if (tabs.environment.loaded) drawEnv(tabs.environment.panel);
    if (tabs.children.loaded) jobs.push(drawChildren(tabs.children.panel));
    return Promise.all(jobs.map((p) => p.catch((e) => console.warn(e))));
  }

  drawHeader();
  tabs.snapshot.btn.hidden = !snapshotId() || K.embed;  // snapshots are workspace files, not the run's
  await Promise.all([refreshSummary(), refreshChildren()]);
  showAddressTab();

  // Metrics, files and children of a live run: redrawn every few seconds.
  let refreshing = false;
  const stopRefresh = K.every(4000, async () => {
    if (K.isTerminal(run.status)) return false;
    if (refreshing) return true;
    const dur = main.querySelector(".strip .duration");
    if (dur && run.startTimeUtc) dur.textContent = K.duration((Date.now() - Date.parse(run.startTimeUtc)) / 1000);
    refreshing = true;
    try { await Promise.all([refreshSummary(), refreshChildren()]); await redrawLoaded(); }
    finally { refreshing = false; }
  });

  // Status and log: one long poll that returns on a status change or new log bytes. When
  // the log starts following (or follows another offset), rewatch() cuts the poll in
  // flight so the next one carries log_offset: new lines show at once, not at its timeout.
  let waitCtl = null;
  function rewatch() { if (waitCtl) waitCtl.abort(); }
  const endedAtOpen = K.isTerminal(run.status);
  (async function watch() {
    while (!K.isTerminal(run.status)) {
      const ctl = waitCtl = new AbortController();
      try {
        const p = { status: run.status, timeout: 20 };
        if (log.following && log.name === K.DRIVER_LOG) p.log_offset = log.offset;
        const next = await K.api(base + "/wait", p, { signal: ctl.signal });
        const changed = next.status !== run.status;
        run = next;
        if (changed) { drawHeader(); }
        if (log.following) await pullLog();
        if (changed && !K.isTerminal(run.status)) {
          await Promise.all([refreshSummary(), refreshChildren()]);
          await redrawLoaded();
        }
      } catch (e) {
        if (e.message === "signed out") return;
        if (!ctl.signal.aborted) await K.sleep(2000);
      } finally {
        if (waitCtl === ctl) waitCtl = null;
      }
    }
    stopRefresh();
    if (endedAtOpen) { document.body.dataset.runEnded = "1"; return; }  // drawn once, as it is
    run = await K.api(base);
    drawHeader();
    await refreshModels();
    if (log.following) { await pullLog(); }
    if (tabs.logs.live) tabs.logs.live.textContent = "";
    await Promise.all([refreshSummary(), refreshChildren()]);
    await redrawLoaded();
    document.body.dataset.runEnded = "1";
  })();
};
