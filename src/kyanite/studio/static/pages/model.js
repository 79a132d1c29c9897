/* A model: its versions, its lineage (datasets -> run -> model -> endpoints) and its files. */
"use strict";
K.pages.model = async function (main, params) {
  const name = params.name;
  K.title(name);
  const url = new URL(location.href);
  const versions = (await K.api("/api/models", { name: name })).models.sort((a, b) => b.version - a.version);
  if (!versions.length) { K.error(main, "No model named " + name + "."); return; }
  const want = url.searchParams.get("version");
  const m = versions.find((v) => String(v.version) === want) || versions[0];
  const files = (await K.api("/api/models/" + K.enc(name) + "/versions/" + m.version + "/files")).files || [];
  let run = null;
  if (m.runId) run = await K.api("/api/runs/" + K.enc(m.runId)).catch(() => null);
  const sel = K.h("select", { "aria-label": "version" }, versions.map((v) => K.h("option", { value: String(v.version), selected: v.version === m.version }, "version " + v.version)));
  sel.addEventListener("change", () => { location.search = "?version=" + sel.value; });
  main.appendChild(K.h("div.page-head", K.h("div.crumbs", K.link("/models", "Models"), " /"),
    K.h("div.title-row", K.h("h1", name + ":" + m.version), sel)));

  // lineage: datasets -> run -> this model -> endpoints
  const node = (kind, body) => K.h("div.node", K.h("div.node-kind", kind), body);
  const arrow = () => K.h("div.arrow", "→");
  const dsNodes = (m.datasets || []).map((d) => node("dataset · " + d[0],
    K.hasPage("dataset") ? K.link("/datasets/" + K.enc(d[1]), d[1]) : d[1]));
  if (run) {
    Object.keys(run.inputDatasets || {}).forEach((k) => {
      const x = run.inputDatasets[k];
      if (x && x.name && !(m.datasets || []).some((d) => d[1] === x.name))
        dsNodes.push(node("run input · " + k, K.link("/datasets/" + K.enc(x.name) + "?version=" + x.version, x.name + " (version " + x.version + ")")));
    });
  }
  const lineage = K.h("div.lineage",
    dsNodes.length ? K.h("div.col", dsNodes) : null, dsNodes.length ? arrow() : null,
    m.runId ? node("run", K.h("div", K.runLink({ runId: m.runId }), run ? K.h("div", K.badge(run.status), " ", K.h("span.dim", run.experiment)) : null)) : node("run", "registered from files"),
    arrow(), node("model", K.h("b", name + ":" + m.version)),
    (m.deployments || []).length ? [arrow(), K.h("div.col", m.deployments.map((d) => node("endpoint", K.link("/endpoints/" + K.enc(d), d))))] : null);
  main.appendChild(K.h("section.card", K.h("h2", "Lineage"), lineage));

  const details = K.section("Details", K.kv([
    ["Id", K.h("code", m.id)], ["Asset", m.asset + (m.isFolder ? "/ (folder)" : "")], ["Size", K.bytes(m.size || 0)],
    ["Framework", m.modelFramework ? m.modelFramework + " " + (m.modelFrameworkVersion || "") : null],
    ["Experiment", m.experimentName ? K.link(K.expUrl(m.experimentName), m.experimentName) : null],
    ["Description", m.description], ["Registered", K.time(m.createdTime)],
    ["Tags", Object.keys(m.tags || {}).map((k) => k + "=" + m.tags[k]).join(", ")],
    ["Properties", Object.keys(m.properties || {}).map((k) => k + "=" + m.properties[k]).join(", ")],
  ]));
  const fileUrl = (p) => "/api/models/" + K.enc(name) + "/versions/" + m.version + "/files/" + K.encPath(p);
  const filesCard = K.section("Files (" + files.length + ")", files.length ? K.table([
    { label: "Path", get: (f) => K.h("a.file", { href: fileUrl(f.path), download: f.path.split("/").pop() }, f.path) },
    { label: "Size", cls: "num", get: (f) => K.bytes(f.size || 0) },
  ], files) : K.empty("No files."));
  const versionsCard = K.section("Versions", K.table([
    { label: "Version", get: (v) => K.link("?version=" + v.version, String(v.version)) },
    { label: "Run", get: (v) => v.runId ? K.runLink({ runId: v.runId }) : "—" },
    { label: "Registered", get: (v) => K.time(v.createdTime) },
  ], versions));
  main.appendChild(K.h("div.grid2", K.h("div", details, versionsCard), filesCard));
};
