/* Endpoints (deployed web services): state, scoring URI, models. */
"use strict";
K.pages.endpoints = async function (main) {
  K.title("Endpoints");
  main.appendChild(K.h("div.page-head", K.h("h1", "Endpoints")));
  const box = K.section("Endpoints");
  main.appendChild(box);
  async function draw() {
    const list = (await K.api("/api/deployments")).deployments;
    K.clear(box).appendChild(K.h("h2", "Endpoints"));
    box.appendChild(list.length ? K.table([
      { label: "Name", get: (d) => K.link("/endpoints/" + K.enc(d.name), d.name) },
      { label: "State", get: (d) => K.badge(d.state) },
      { label: "Type", get: (d) => d.computeType },
      { label: "Models", get: (d) => (d.models || []).join(", ") },
      { label: "Scoring URI", get: (d) => d.scoringUri ? K.h("code", d.scoringUri) : "—" },
      { label: "Auth", get: (d) => d.authEnabled ? "keys" : d.tokenAuthEnabled ? "token" : "none" },
      { label: "Updated", get: (d) => K.time(d.updatedTime) },
    ], list, { rowKey: (d) => d.name }) : K.empty("No endpoints yet: Model.deploy(ws, name, [model], inference_config, deployment_config)."));
  }
  await draw();
  K.every(4000, draw);
};
