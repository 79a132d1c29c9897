/* A dataset: its versions, sources and files, and where it was used (runs, models). */
"use strict";
K.pages.dataset = async function (main, params) {
  const name = params.name;
  K.title(name);
  const url = new URL(location.href);
  const [versions, runs, models] = await Promise.all([
    K.api("/api/datasets/" + K.enc(name) + "/versions"),
    K.api("/api/runs", { dataset: name, limit: 200 }).catch(() => ({ runs: [] })),
    K.api("/api/models").catch(() => ({ models: [] }))]);
  const all = versions.versions.slice().sort((a, b) => b - a);
  const version = url.searchParams.get("version") || String(all[0]);
  const ds = await K.api("/api/datasets/" + K.enc(name), { version: version });
  const sel = K.h("select", { "aria-label": "version" }, all.map((v) => K.h("option", { value: String(v), selected: String(v) === String(ds.version) }, "version " + v)));
  sel.addEventListener("change", () => { location.search = "?version=" + sel.value; });
  main.appendChild(K.h("div.page-head", K.h("div.crumbs", K.link("/datasets", "Datasets"), " /"),
    K.h("div.title-row", K.h("h1", name), sel)));
  const sources = ((ds.definition || {}).sources || []).map((s) => (s.type ? s.type + ": " : "") + (s.path || s.url || JSON.stringify(s)));
  const details = K.section("Version " + ds.version, K.kv([
    ["Id", K.h("code", ds.id)], ["Kind", ds.kind], ["Files", K.num(ds.fileCount)], ["Size", K.bytes(ds.totalSize || 0)],
    ["Registered", K.time(ds.createdUtc)], ["Description", ds.description],
    ["Sources", sources.length ? K.h("code.args", sources.join("\n")) : null],
    ["Fingerprint", ds.fingerprint ? K.h("code", ds.fingerprint) : null],
    ["Tags", Object.keys(ds.tags || {}).map((k) => k + "=" + ds.tags[k]).join(", ")],
  ]));
  const usedModels = models.models.filter((m) => (m.datasets || []).some((d) => d[1] === name));
  const used = K.section("Used by runs (" + runs.runs.length + ")", runs.runs.length ? K.table([
    { label: "Run", get: (r) => K.runLink(r) },
    { label: "Experiment", get: (r) => K.link(K.expUrl(r.experiment), r.experiment) },
    { label: "Status", get: (r) => K.badge(r.status) },
    { label: "Input", get: (r) => (r.datasetInputs || []).map((d) => d.input + " (version " + d.version + ", " + d.mode + ")").join(", ") },
    { label: "Created", get: (r) => K.time(r.createdUtc) },
  ], runs.runs, { rowKey: (r) => r.runId }) : K.empty("No run has used it yet."));
  const trained = K.section("Models registered with it (" + usedModels.length + ")", usedModels.length ? K.table([
    { label: "Model", get: (m) => K.link("/models/" + K.enc(m.name) + "?version=" + m.version, m.name + ":" + m.version) },
    { label: "As", get: (m) => m.datasets.filter((d) => d[1] === name).map((d) => d[0]).join(", ") },
    { label: "Run", get: (m) => m.runId ? K.runLink({ runId: m.runId }) : "—" },
  ], usedModels) : K.empty("No model names it."));
  const files = (ds.files || []);
  const filesCard = K.section("Files (" + files.length + ")", files.length ? K.h("div.table-box", K.table([
    { label: "Path", get: (f) => K.h("code", f.path) }, { label: "Size", cls: "num", get: (f) => K.bytes(f.size || 0) },
    { label: "sha256", get: (f) => K.h("span.sub", (f.sha256 || "").slice(0, 16)) },
  ], files.slice(0, 500))) : K.empty("No files listed."));
  main.appendChild(K.h("div.grid2", K.h("div", details, filesCard), K.h("div", used, trained)));
};
