/* Registered datasets: the latest version of each. */
"use strict";
K.pages.datasets = async function (main) {
  K.title("Datasets");
  main.appendChild(K.h("div.page-head", K.h("h1", "Datasets")));
  const box = K.section("Registered datasets");
  main.appendChild(box);
  const list = (await K.api("/api/datasets")).datasets;
  box.appendChild(list.length ? K.table([
    { label: "Name", get: (d) => K.link("/datasets/" + K.enc(d.name), d.name) },
    { label: "Latest version", cls: "num", get: (d) => String(d.version) },
    { label: "Kind", get: (d) => d.kind },
    { label: "Files", cls: "num", get: (d) => K.num(d.fileCount) },
    { label: "Size", cls: "num", get: (d) => K.bytes(d.totalSize || 0) },
    { label: "Registered", get: (d) => K.time(d.createdUtc) },
    { label: "Description", get: (d) => K.h("span.wrap", d.description || "") },
  ], list, { rowKey: (d) => d.name }) : K.empty("No datasets yet: Dataset.File.from_files(...).register(ws, name)."));
};
