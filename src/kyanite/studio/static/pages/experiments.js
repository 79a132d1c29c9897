/* Experiments: every experiment with its run count, and the latest runs of the workspace. */
"use strict";
K.pages.experiments = async function (main) {
  K.title("Experiments");
  main.appendChild(K.h("div.page-head", K.h("h1", "Experiments")));
  const expBox = K.section("All experiments");
  const recentBox = K.section("Latest runs");
  const sel = K.runSelection();
  main.appendChild(K.h("div.grid2", expBox, recentBox));

  async function draw() {
    const [exps, recent] = await Promise.all([K.api("/api/experiments"), K.api("/api/runs", { limit: 15 })]);
    const list = exps.experiments.slice().sort((a, b) => (b.createdUtc || "").localeCompare(a.createdUtc || ""));
    K.clear(expBox).appendChild(K.h("h2", "All experiments"));
    expBox.appendChild(list.length ? K.table([
      { label: "Name", get: (e) => K.link(K.expUrl(e.name), e.name) },
      { label: "Runs", cls: "num", get: (e) => K.num(e.runCount) },
      { label: "Created", get: (e) => K.time(e.createdUtc) },
    ], list, { rowKey: (e) => e.name }) : K.empty("No experiments yet. Submit a run with Experiment(ws, name).submit(config)."));
    K.clear(recentBox).appendChild(K.h("div.chart-head", K.h("h2", "Latest runs"), sel.button));
    recentBox.appendChild(recent.runs.length ? K.table([
      sel.column((r) => r.runId),
      { label: "Run", get: (r) => K.runLink(r) },
      { label: "Experiment", get: (r) => K.link(K.expUrl(r.experiment), r.experiment) },
      { label: "Status", get: (r) => K.badge(r.status) },
      { label: "Created", get: (r) => K.time(r.createdUtc) },
      { label: "Duration", cls: "num", get: (r) => K.duration(r.durationSeconds) },
    ], recent.runs, { rowKey: (r) => r.runId }) : K.empty("No runs yet."));
    return recent.runs;
  }
  await draw();
  K.every(5000, async () => {
    if (document.activeElement && document.activeElement.type === "checkbox") return true;
    await draw();
  });
};
