/* An endpoint: state, scoring URI, models, its log, and a form to send it a request (sent by
 * the workspace server with the endpoint's key, so the page never holds the key). */
"use strict";
K.pages.endpoint = async function (main, params) {
  const name = params.name;
  const base = "/api/deployments/" + K.enc(name);
  K.title(name);
  const badge = K.h("span.status-slot");
  const details = K.h("div");
  main.appendChild(K.h("div.page-head", K.h("div.crumbs", K.link("/endpoints", "Endpoints"), " /"),
    K.h("div.title-row", K.h("h1", name), badge)));
  const input = K.h("textarea", { rows: 8, spellcheck: false, "aria-label": "request body" }, '{"data": [[1, 2, 3, 4]]}');
  const sendBtn = K.h("button.btn", { type: "button" }, "Send request");
  const result = K.h("pre.log.small.result", "");
  const meta = K.h("span.dim");
  const logPre = K.h("pre.log.small");
  const bodySource = K.h("p.dim.body-source", "");
  const curlPre = K.h("pre.log.small.snippet.snippet-curl");
  const pyPre = K.h("pre.log.small.snippet.snippet-python");
  main.appendChild(K.h("div.grid2", details, K.h("div",
    K.section("Test", K.h("p.dim", "The body is sent to the scoring URI as JSON, with the endpoint's key when it has one."),
      bodySource, input, K.h("div.toolbar", sendBtn, meta), result),
    K.section("Call it from your code", K.h("p.dim", "Replace <your-key> with one of the endpoint's keys (service.get_keys())."),
      K.h("h3", "curl"), curlPre, K.h("h3", "Python"), pyPre),
    K.section("Log", K.h("div.toolbar", K.h("button.btn.small", { type: "button", on: { click: () => loadLog() } }, "Refresh")), logPre))));

  sendBtn.addEventListener("click", async () => {
    sendBtn.disabled = true; meta.textContent = "sending…";
    try {
      const r = await K.fetch("/api/studio/endpoints/" + K.enc(name) + "/score",
        { method: "POST", headers: { "Content-Type": "application/json" }, body: input.value });
      const out = await r.json();
      meta.textContent = (out.status ? "HTTP " + out.status : "no answer") + " · " + out.elapsedMs + " ms";
      let text = out.body;
      try { text = JSON.stringify(JSON.parse(out.body), null, 2); } catch (e) { /* not JSON */ }
      result.textContent = text;
      result.dataset.status = String(out.status);
    } catch (e) { meta.textContent = e.message; }
    finally { sendBtn.disabled = false; }
  });

  /* The curl and Python snippets for the body in the form; the key is never in the page. */
  let current = null;
  function drawSnippets() {
    const d = current || {};
    const uri = d.scoringUri || "<scoring-uri>";
    const auth = d.authEnabled || d.tokenAuthEnabled;
    let body = input.value.trim() || "{}";
    let pyBody = null;
    try { const v = JSON.parse(body); body = JSON.stringify(v); pyBody = JSON.stringify(v, null, 4); } catch (e) { /* sent as typed */ }
    const q = (t) => "'" + t.replace(/'/g, "'\\''") + "'";
    curlPre.textContent = "curl -X POST " + q(uri) + " \\\n  -H 'Content-Type: application/json' \\\n" +
      (auth ? "  -H 'Authorization: Bearer <your-key>' \\\n" : "") + "  -d " + q(body);
    pyPre.textContent = "import json\nimport requests\n\n" +
      "uri = " + JSON.stringify(uri) + "\n" +
      "headers = {\"Content-Type\": \"application/json\"" + (auth ? ", \"Authorization\": \"Bearer <your-key>\"" : "") + "}\n" +
      (pyBody !== null ? "body = json.loads(" + JSON.stringify(body) + ")\n" + "response = requests.post(uri, json=body, headers=headers)\n"
                       : "body = " + JSON.stringify(input.value) + "\n" + "response = requests.post(uri, data=body, headers=headers)\n") +
      "print(response.status_code, response.json())\n";
  }
  input.addEventListener("input", drawSnippets);
  let edited = false;
  input.addEventListener("input", () => { edited = true; });
  async function loadSample() {
    const s = await K.api("/api/studio/endpoints/" + K.enc(name) + "/sample").catch(() => null);
    if (!s || s.body === null || s.body === undefined || edited) return;
    input.value = JSON.stringify(s.body, null, 2);
    bodySource.textContent = "Starts from the " + (s.source === "swagger example" ? "input example" : "input schema") +
      " of the endpoint's swagger.json.";
    input.dataset.source = s.source;
    drawSnippets();
  }

  async function loadLog() {
    const r = await K.fetch(base + "/logs?num_lines=300").catch(() => null);
    logPre.textContent = r ? await r.text() : "";
    logPre.scrollTop = logPre.scrollHeight;
  }
  async function draw() {
    const d = await K.api(base);
    K.clear(badge).appendChild(K.badge(d.state));
    K.clear(details).appendChild(K.section("Details", K.kv([
      ["State", K.badge(d.state)], ["Type", d.computeType],
      ["Scoring URI", d.scoringUri ? K.h("code", d.scoringUri) : "not yet"],
      ["Swagger", d.swaggerUri ? K.h("code", d.swaggerUri) : null],
      ["Authentication", d.authEnabled ? "keys (Authorization: Bearer <key>)" : d.tokenAuthEnabled ? "token" : "none"],
      ["Models", K.h("span", (d.models || []).map((id, i) => {
        const [mn, mv] = id.split(":");
        return [i ? ", " : "", K.hasPage("model") ? K.link("/models/" + K.enc(mn) + "?version=" + mv, id) : id];
      }))],
      ["Entry script", d.entryScript ? K.h("code", d.entryScript) : null],
      ["Environment", d.environment && d.environment.name ? d.environment.name + (d.environment.version ? " (version " + d.environment.version + ")" : "") : null],
      ["CPU cores", d.cpuCores], ["Memory (GB)", d.memoryGb],
      ["Error", d.error ? K.h("span.wrap", d.error.message || JSON.stringify(d.error)) : null],
      ["Created", K.time(d.createdTime)], ["Updated", K.time(d.updatedTime)],
      ["Description", d.description],
    ])));
    current = d;
    drawSnippets();
    return d;
  }
  const first = await draw();
  await Promise.all([loadLog(), first.state === "Healthy" ? loadSample() : null]);
  let sampled = first.state === "Healthy";
  K.every(4000, async () => {
    const d = await draw();
    if (d.state === "Transitioning") await loadLog();
    if (d.state === "Healthy" && !sampled) { sampled = true; await loadSample(); }
  });
  return first;
};
