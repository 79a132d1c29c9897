/* Compute targets: capacity (runs at once), GPUs per slot and which run holds which, what
   runs and what waits, and the queue. */
"use strict";
K.pages.compute = async function (main) {
  K.title("Compute");
  main.appendChild(K.h("div.page-head", K.h("h1", "Compute")));
  const targets = K.section("Compute targets");
  const active = K.section("Running");
  const queue = K.section("Queue");
  main.appendChild(targets);
  main.appendChild(K.h("div.grid2", active, queue));
  const ACTIVE = ["Preparing", "Starting", "Running", "Finalizing", "CancelRequested"];

  function runTable(runs, ...extra) {
    return K.table([
      { label: "Run", get: (r) => K.runLink(r) },
      { label: "Experiment", get: (r) => K.link(K.expUrl(r.experiment), r.experiment) },
      { label: "Status", get: (r) => K.badge(r.status) },
      { label: "Target", get: (r) => r.target || "—" },
      ...extra,
    ].filter(Boolean), runs, { rowKey: (r) => r.runId });
  }

  function gpuCell(t) {  // "1 per slot" and each held GPU with its run
    const per = t.status.gpusPerSlot;
    if (per === undefined || per === null) return "—";
    if (!per) return "none";
    return K.h("span", per + " per slot", ...(t.status.gpus || []).map((g) => K.h("div.dim",
      { title: [g.name, g.memoryMiB ? g.memoryMiB + " MiB" : ""].filter(Boolean).join(", ") },
      "GPU " + g.id + " → ", K.runLink({ runId: g.run }))));
  }

  async function draw() {
    const [c, running, queued] = await Promise.all([
      K.api("/api/computes"), K.api("/api/runs", { status: ACTIVE, limit: 200, all: "true" }),
      K.api("/api/runs", { status: "Queued", limit: 200, all: "true" })]);
    K.clear(targets).appendChild(K.h("h2", "Compute targets"));
    targets.appendChild(K.table([
      { label: "Name", get: (t) => K.h("b", t.name) },
      { label: "Type", get: (t) => t.type },
      { label: "State", get: (t) => K.badge(t.provisioningState) },
      { label: "Capacity", cls: "num", get: (t) => String(t.status.capacity) },
      { label: "Running", cls: "num", get: (t) => String(t.status.running) },
      { label: "Queued", cls: "num", get: (t) => String(t.status.queued) },
      { label: "Free", cls: "num", get: (t) => String(t.status.free) },
      { label: "GPUs", get: gpuCell },
      { label: "Use", get: (t) => K.h("div.meter", { title: t.status.running + " of " + t.status.capacity },
          K.h("span", { style: "width:" + Math.min(100, 100 * t.status.running / Math.max(1, t.status.capacity)) + "%" })) },
    ], c.computes, { rowKey: (t) => t.name }));
    K.clear(active).appendChild(K.h("h2", "Running (" + running.runs.length + ")"));
    active.appendChild(running.runs.length ? runTable(running.runs,
      { label: "Duration", cls: "num", get: (r) => K.duration(r.durationSeconds) }, {
        label: "GPUs", get: (r) => (r.host && r.host.gpus && r.host.gpus.length) ? r.host.gpus.join(", ") : "—" })
      : K.empty("Nothing is running."));
    K.clear(queue).appendChild(K.h("h2", "Queue (" + queued.runs.length + ")"));
    const q = queued.runs.slice().reverse();  // oldest first: the order they start in
    queue.appendChild(q.length ? runTable(q, { label: "Waiting since", get: (r) => K.time(r.createdUtc) })
      : K.empty("No run is waiting."));
  }
  await draw();
  K.every(3000, draw);
};
