/* kyanite studio: shared helpers. Pages register K.pages[name] = function (main, params).
 * Everything shown comes from the REST API (/api/...), called with the session cookie
 * (or, in a notebook embed, the ticket of the page's URL). Text goes into the page with
 * textContent only, never as HTML. */
"use strict";
(function () {
  const K = window.K = { pages: {} };
  const body = document.body;
  K.params = JSON.parse(body.dataset.params || "{}");
  K.embed = body.dataset.embed === "1";
  K.ticket = K.embed ? new URLSearchParams(location.search).get("ticket") : null;
  K.TERMINAL = ["Completed", "Failed", "Canceled"];
  K.DRIVER_LOG = "user_logs/std_log.txt";
  K.isTerminal = (st) => K.TERMINAL.indexOf(st) >= 0;
  K.availablePages = (body.dataset.pages || "").split(",").filter(Boolean);
  K.hasPage = (name) => K.availablePages.indexOf(name) >= 0;

  // -- API ---------------------------------------------------------------------------
  K.withTicket = function (url) {
    if (!K.ticket) return url;
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + "ticket=" + encodeURIComponent(K.ticket);
  };
  K.fetch = async function (path, opts) {
    opts = Object.assign({ credentials: "same-origin" }, opts || {});
    const headers = Object.assign({ "X-Kyanite-CSRF": "1" }, opts.headers || {});
    if (K.ticket) headers["X-Kyanite-Ticket"] = K.ticket;
    opts.headers = headers;
    const r = await fetch(path, opts);
    if (r.status === 401 && !K.embed) {
      location.href = "/signin?next=" + encodeURIComponent(location.pathname + location.search + location.hash);
      throw new Error("signed out");
    }
    if (!r.ok) {
      let detail = r.status + " " + r.statusText;
      try { detail = (await r.json()).detail || detail; } catch (e) { /* not JSON */ }
      const err = new Error(detail);
      err.status = r.status;
      throw err;
    }
    return r;
  };
  K.api = async function (path, params, opts) {
    const r = await K.fetch(path + K.query(params), opts);
    return r.json();
  };
  K.post = async function (path, data) {
    return K.api(path, null, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(data || {}) });
  };
  K.query = function (params) {
    if (!params) return "";
    const q = new URLSearchParams();
    Object.keys(params).forEach((k) => {
      const v = params[k];
      if (v === null || v === undefined || v === "") return;
      if (Array.isArray(v)) v.forEach((x) => q.append(k, x)); else q.append(k, v);
    });
    const s = q.toString();
    return s ? "?" + s : "";
  };
  K.enc = encodeURIComponent;
  K.encPath = (p) => p.split("/").map(encodeURIComponent).join("/");
  K.runUrl = (id) => "/runs/" + K.enc(id);
  K.expUrl = (name) => "/experiments/" + K.enc(name);
  K.fileUrl = (runId, path) => K.withTicket("/api/runs/" + K.enc(runId) + "/artifacts/" + K.encPath(path));

  // -- DOM -----------------------------------------------------------------------------
  /* h("div.card#id", {attrs, on: {click}}, child, ...): strings become text nodes. */
  K.h = function (spec, attrs) {
    const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec) || [null, "div", ""];
    const el = document.createElement(m[1] || "div");
    (m[2].match(/[.#][\w-]+/g) || []).forEach((p) => {
      if (p[0] === ".") el.classList.add(p.slice(1)); else el.id = p.slice(1);
    });
    let kids = Array.prototype.slice.call(arguments, 2);
    if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
      kids.unshift(attrs);
      attrs = null;
    }
    Object.keys(attrs || {}).forEach((k) => {
      const v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "on") Object.keys(v).forEach((ev) => el.addEventListener(ev, v[ev]));
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k === "text") el.textContent = v;
      else if (k in el && typeof v !== "string") el[k] = v;
      else el.setAttribute(k, v === true ? "" : v);
    });
    K.append(el, kids);
    return el;
  };
  K.append = function (el, kids) {
    (kids || []).forEach(function add(c) {
      if (c === null || c === undefined || c === false) return;
      if (Array.isArray(c)) { c.forEach(add); return; }
      el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    });
    return el;
  };
  K.clear = function (el) { while (el.firstChild) el.removeChild(el.firstChild); return el; };
  K.link = (href, text, attrs) => K.h("a", Object.assign({ href: href }, attrs || {}), text);
  /* A run's link; a sweep (runType "hyperdrive") opens the sweep view where the studio has it. */
  K.runLink = (run, text) => K.embed
    ? K.link(K.runUrl(run.runId), text || run.displayName || run.runId, { target: "_blank", rel: "noopener" })
    : K.link(run.runType === "hyperdrive" && K.hasPage("sweep") ? "/sweeps/" + K.enc(run.runId) : K.runUrl(run.runId),
             text || run.displayName || run.runId);
  K.badge = (status) => K.h("span.badge.st-" + String(status || "unknown").replace(/\W/g, ""),
                              { dataset: { status: status || "" } }, status || "—");
  K.section = (title, ...kids) => K.h("section.card", K.h("h2", title), kids);
  K.empty = (text) => K.h("p.empty", text);
  K.error = function (where, err) {
    where.appendChild(K.h("p.error", String(err && err.message || err)));
  };
  K.kv = function (rows) {  // [[label, value-or-node], ...] -> definition table
    const t = K.h("table.kv");
    rows.forEach(([k, v]) => {
      if (v === null || v === undefined || v === "") return;
      t.appendChild(K.h("tr", K.h("th", k), K.h("td", v)));
    });
    return t;
  };
  K.table = function (cols, rows, opts) {  // cols: [{label, get(row) -> node|text, cls, sort}]
    opts = opts || {};
    const dots = (cls) => cls ? "." + cls.trim().split(/\s+/).join(".") : "";
    const head = K.h("tr", cols.map((c) => {
      const th = K.h("th" + dots(c.cls), c.label);
      if (c.sort && opts.onSort) {
        th.classList.add("sortable");
        if (opts.sort === c.sort) th.classList.add(opts.desc ? "desc" : "asc");
        th.addEventListener("click", () => opts.onSort(c.sort));
      }
      return th;
    }));
    const tbody = K.h("tbody", rows.map((r) => {
      const tr = K.h("tr", cols.map((c) => K.h("td" + dots(c.cls), c.get(r))));
      if (opts.rowKey) tr.dataset.key = opts.rowKey(r);
      return tr;
    }));
    return K.h("table.grid", K.h("thead", head), tbody);
  };

  /* Runs picked in a table for comparing: sel.column(idOf) is a checkbox column for
   * K.table, sel.button reads "Compare (n)" and opens /compare?runs=a,b,c (the deep link of
   * the selection) once two or more runs are picked. */
  K.compareUrl = (ids) => "/compare?runs=" + ids.map(K.enc).join(",");
  K.runSelection = function () {
    const picked = new Set();
    const button = K.h("button.btn.compare-btn", { type: "button", disabled: true }, "Compare");
    const update = () => {
      button.disabled = picked.size < 2;
      button.textContent = picked.size ? "Compare (" + picked.size + ")" : "Compare";
    };
    button.addEventListener("click", () => { if (picked.size > 1) location.href = K.compareUrl(Array.from(picked)); });
    const column = (idOf) => ({ label: "", cls: "check", get: (r) => {
      const id = idOf(r);
      return K.h("input.pick", { type: "checkbox", checked: picked.has(id), "aria-label": "select " + id,
        dataset: { run: id },
        on: { change: (e) => { if (e.target.checked) picked.add(id); else picked.delete(id); update(); } } });
    } });
    return { picked: picked, button: button, column: column, update: update };
  };

  // -- formatting ------------------------------------------------------------------------
  K.time = function (iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  };
  K.duration = function (sec) {
    if (sec === null || sec === undefined) return "—";
    sec = Math.max(0, sec);
    if (sec < 60) return sec.toFixed(sec < 10 ? 1 : 0) + " s";
    const m = Math.floor(sec / 60), s = Math.floor(sec % 60);
    if (m < 60) return m + "m " + s + "s";
    return Math.floor(m / 60) + "h " + (m % 60) + "m";
  };
  K.num = function (v) {
    if (v === null || v === undefined) return "—";
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v)) return v.toLocaleString("en-US");
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(4);
    return String(Number(v.toPrecision(5)));
  };
  K.bytes = function (n) {
    if (n < 1024) return n + " B";
    const u = ["KB", "MB", "GB", "TB"];
    let i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
    return n.toFixed(n < 10 ? 1 : 0) + " " + u[i];
  };
  K.title = function (text) { document.title = text + " · kyanite studio"; };

  // -- polling -----------------------------------------------------------------------------
  /* Calls fn every ms while the tab is visible; fn returning false stops it. */
  K.every = function (ms, fn) {
    let stopped = false, timer = null;
    async function tick() {
      if (stopped) return;
      if (!document.hidden) {
        let again = true;
        try { again = (await fn()) !== false; } catch (e) { console.warn(e); }
        if (!again) { stopped = true; return; }
      }
      timer = setTimeout(tick, ms);
    }
    timer = setTimeout(tick, ms);
    return () => { stopped = true; clearTimeout(timer); };
  };
  K.sleep = (ms) => new Promise((res) => setTimeout(res, ms));

  // -- start -------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", function () {
    const out = document.getElementById("signout");
    if (out) out.addEventListener("click", async () => {
      await fetch("/signout", { method: "POST", credentials: "same-origin", headers: { "X-Kyanite-CSRF": "1" } });
      location.href = "/signin";
    });
    if (K.embed) body.classList.add("embed");
    const page = body.dataset.page;
    document.querySelectorAll("header nav a").forEach((a) => {
      if (a.dataset.nav === page || (page === "runs" && a.dataset.nav === "experiments") ||
          (page === "run" && a.dataset.nav === "experiments")) a.classList.add("active");
    });
    const main = document.getElementById("main");
    K.clear(main);
    const fn = K.pages[page];
    if (!fn) { K.error(main, "This page has no script."); return; }
    Promise.resolve(fn(main, K.params)).catch((e) => K.error(main, e));
  });
})();
