/* kyanite studio: a folder tree of files with a preview beside it.
 *
 * K.fileBrowser(files, source) -> element. files: [{path, size}] (POSIX paths); source:
 * {url(path): the file's download URL, read(path, maxBytes): Promise<Uint8Array> of its
 * first maxBytes bytes}. Folders are collapsible (<details>); a file's name opens its
 * preview: images (png, jpg, gif, webp, bmp, svg; an SVG as an <img>, so its scripts never
 * run), JSON pretty-printed, CSV/TSV as a table of the first 50 rows, other text as text, a
 * binary file as a note. Only the first PREVIEW_BYTES of a file are read; a larger file's
 * preview says so. Every file has a download link (a.file, data-path). */
"use strict";
(function () {
  const PREVIEW_BYTES = 262144;
  const CSV_ROWS = 50;
  const IMAGES = ["png", "jpg", "jpeg", "gif", "webp", "bmp", "svg"];
  K.PREVIEW_BYTES = PREVIEW_BYTES;

  function ext(path) {
    const name = path.split("/").pop();
    const i = name.lastIndexOf(".");
    return i > 0 ? name.slice(i + 1).toLowerCase() : "";
  }

  function tree(files) {
    const root = { dirs: {}, files: [] };
    files.forEach((f) => {
      const parts = f.path.split("/");
      let node = root;
      parts.slice(0, -1).forEach((p, i) => {
        node = node.dirs[p] = node.dirs[p] || { dirs: {}, files: [], path: parts.slice(0, i + 1).join("/") };
      });
      node.files.push(f);
    });
    return root;
  }

  function count(node) {
    return node.files.length + Object.keys(node.dirs).reduce((a, d) => a + count(node.dirs[d]), 0);
  }

  /* CSV/TSV text -> rows (quoted fields with "" escapes, CRLF line ends), at most `limit`. */
  K.parseCsv = function (text, delim, limit) {
    const rows = [];
    let row = [], field = "", q = false, i = 0;
    while (i < text.length && rows.length < limit) {
      const c = text[i];
      if (q) {
        if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
        if (c === '"') { q = false; i++; continue; }
        field += c; i++; continue;
      }
      if (c === '"' && field === "") { q = true; i++; continue; }
      if (c === delim) { row.push(field); field = ""; i++; continue; }
      if (c === "\n" || c === "\r") {
        row.push(field); rows.push(row); row = []; field = "";
        i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
        continue;
      }
      field += c; i++;
    }
    if ((field || row.length) && rows.length < limit) { row.push(field); rows.push(row); }
    return rows;
  };

  async function previewBody(f, source) {
    const kind = ext(f.path);
    if (IMAGES.indexOf(kind) >= 0) {
      return [K.h("div.img-preview", K.h("img", { src: source.url(f.path), alt: f.path }))];
    }
    const bytes = await source.read(f.path, PREVIEW_BYTES);
    const partial = f.size > bytes.length;
    const note = partial ? K.h("p.note.partial", "Showing the first " + K.bytes(bytes.length) + " of " +
                                 K.bytes(f.size) + "; download the file for all of it.") : null;
    if (bytes.subarray(0, 8000).indexOf(0) >= 0) return [K.empty("A binary file (" + K.bytes(f.size) + "): download it to open it.")];
    let text = new TextDecoder("utf-8").decode(bytes);
    if (kind === "json" && !partial) {
      try { return [K.h("pre.preview.json", JSON.stringify(JSON.parse(text), null, 2))]; }
      catch (e) { return [K.h("p.note", "Not valid JSON (" + e.message + "); shown as text."), K.h("pre.preview", text)]; }
    }
    if (kind === "csv" || kind === "tsv") {
      if (partial) text = text.slice(0, text.lastIndexOf("\n") + 1);  // no half row
      const rows = K.parseCsv(text, kind === "tsv" ? "\t" : ",", CSV_ROWS + 1);
      const head = rows[0] || [], body = rows.slice(1);
      const more = partial || K.parseCsv(text, kind === "tsv" ? "\t" : ",", CSV_ROWS + 2).length > CSV_ROWS + 1;
      return [note, K.h("div.csv-wrap", K.table(head.map((h, i) => ({ label: h, get: (r) => r[i] === undefined ? "" : r[i] })), body)),
              more ? K.h("p.dim", "The first " + body.length + " rows.") : null];
    }
    return [note, K.h("pre.preview", text)];
  }

  K.fileBrowser = function (files, source) {
    const pane = K.h("div.preview-pane", K.empty("Choose a file to preview it."));
    let chosen = null;
    async function open(f, btn) {
      if (chosen) chosen.classList.remove("chosen");
      chosen = btn; btn.classList.add("chosen");
      K.clear(pane).appendChild(K.h("div.preview-head", K.h("b", f.path), K.h("span.dim", K.bytes(f.size)),
        K.h("a.btn.small", { href: source.url(f.path), download: f.path.split("/").pop() }, "Download")));
      const box = K.h("div.preview-body", { dataset: { path: f.path } }, K.h("p.dim", "Loading…"));
      pane.appendChild(box);
      try {
        const kids = await previewBody(f, source);
        if (box.isConnected) K.append(K.clear(box), kids);
      } catch (e) { K.clear(box); K.error(box, e); }
    }
    function fileItem(f) {
      const btn = K.h("button.tree-file.link", { type: "button", dataset: { path: f.path }, title: f.path },
                      f.path.split("/").pop());
      btn.addEventListener("click", () => open(f, btn));
      return K.h("li.file", btn, K.h("span.size", K.bytes(f.size)),
        K.h("a.file", { href: source.url(f.path), download: f.path.split("/").pop(), dataset: { path: f.path },
                        title: "Download " + f.path, "aria-label": "Download " + f.path }, "⤓"));
    }
    function folder(node, depth) {
      const ul = K.h("ul.tree");
      Object.keys(node.dirs).sort().forEach((name) => {
        const d = node.dirs[name];
        ul.appendChild(K.h("li.folder", K.h("details", { open: depth === 0, dataset: { folder: d.path } },
          K.h("summary", K.h("span.folder-name", name + "/"), K.h("span.dim", " " + count(d))), folder(d, depth + 1))));
      });
      node.files.slice().sort((a, b) => a.path.localeCompare(b.path)).forEach((f) => ul.appendChild(fileItem(f)));
      return ul;
    }
    return K.h("div.file-browser", K.h("div.tree-pane", folder(tree(files), 0)), pane);
  };
})();
