/* Registered models, newest first, with their lineage to runs and datasets. */
"use strict";
K.pages.models = async function (main) {
  K.title("Models");
  main.appendChild(K.h("div.page-head", K.h("h1", "Models")));
  const box = K.section("Registered models");
  main.appendChild(box);
  const list = (await K.api("/api/models")).models;
  box.appendChild(list.length ? K.table([
    { label: "Name", get: (m) => K.link("/models/" + K.enc(m.name) + "?version=" + m.version, m.name) },
    { label: "Version", cls: "num", get: (m) => String(m.version) },
    { label: "From run", get: (m) => m.runId ? K.runLink({ runId: m.runId }) : "—" },
    { label: "Datasets", get: (m) => (m.datasets || []).map((d) => d[1]).join(", ") || "—" },
    { label: "Framework", get: (m) => m.modelFramework ? m.modelFramework + " " + (m.modelFrameworkVersion || "") : "—" },
    { label: "Files", cls: "num", get: (m) => String(m.fileCount) },
    { label: "Size", cls: "num", get: (m) => K.bytes(m.size || 0) },
    { label: "Endpoints", get: (m) => (m.deployments || []).join(", ") || "—" },
    { label: "Registered", get: (m) => K.time(m.createdTime) },
  ], list, { rowKey: (m) => m.id }) : K.empty("No models yet: run.register_model(...) or Model.register(...)."));
};
