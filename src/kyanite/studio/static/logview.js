/* kyanite studio: a log shown like a terminal shows it.
 *
 * K.LogView(pre) draws text fed to it in pieces (view.feed(text), any chunking: an escape
 * sequence or a "\r\n" split across two pieces is handled) into the <pre>:
 * - ANSI SGR colours become spans with classes: ansi-fg-N / ansi-bg-N (N 0-15: 30-37,
 *   90-97, 40-47, 100-107), ansi-bold; 0 resets, 22/39/49 reset bold/fg/bg. Other escape
 *   sequences (cursor moves, OSC titles...) are dropped; ESC[K erases to the end of the line.
 * - "\r" returns to the start of the line and "\b" steps back one column, so what follows
 *   overwrites (a progress bar shows its last state only); "\n" ends the line.
 * - Each finished line is a span.ln holding its text and "\n" (textContent is the log).
 * - view.search(query) marks the matches (mark.hit), returns their count; view.jump(+1/-1)
 *   scrolls to the next/previous one (mark.hit.current); view.onSearch(fn) is told
 *   {count, index} whenever they change (also as lines arrive).
 * - Past `cap` characters the oldest lines are dropped (view.trimmed becomes true).
 * Text goes into the page with text nodes only. */
"use strict";
(function () {
  const SGR_FG = { 30: 0, 31: 1, 32: 2, 33: 3, 34: 4, 35: 5, 36: 6, 37: 7,
                   90: 8, 91: 9, 92: 10, 93: 11, 94: 12, 95: 13, 96: 14, 97: 15 };

  function LogView(pre, opts) {
    opts = opts || {};
    this.pre = pre;
    this.cap = opts.cap || 2000000;
    this.reset();
  }

  LogView.prototype.reset = function () {
    K.clear(this.pre);
    this.lines = [];          // [{segs: [[text, cls]], el}] finished lines shown
    this.chars = 0;
    this.cells = [];          // the current line: one {ch, cls} per column
    this.col = 0;
    this.style = { fg: null, bg: null, bold: false };
    this.pending = "";        // an escape sequence cut by the end of a piece
    this.curEl = null;
    this.query = "";
    this.hits = [];
    this.hitIndex = -1;
    this.trimmed = false;
    this.listener = this.listener || null;
  };

  LogView.prototype.cls = function () {
    const s = this.style, c = [];
    if (s.fg !== null) c.push("ansi-fg-" + s.fg);
    if (s.bg !== null) c.push("ansi-bg-" + s.bg);
    if (s.bold) c.push("ansi-bold");
    return c.join(" ");
  };

  LogView.prototype.sgr = function (params) {
    const nums = params === "" ? [0] : params.split(";").map((x) => (x === "" ? 0 : parseInt(x, 10)));
    const s = this.style;
    for (let i = 0; i < nums.length; i++) {
      const n = nums[i];
      if (n === 0) { s.fg = null; s.bg = null; s.bold = false; }
      else if (n === 1) s.bold = true;
      else if (n === 22) s.bold = false;
      else if (n === 39) s.fg = null;
      else if (n === 49) s.bg = null;
      else if (n in SGR_FG) s.fg = SGR_FG[n];
      else if ((n >= 40 && n <= 47) || (n >= 100 && n <= 107)) s.bg = SGR_FG[n - 10];
      else if ((n === 38 || n === 48) && nums[i + 1] === 5) i += 2;   // 256 colours: dropped
      else if ((n === 38 || n === 48) && nums[i + 1] === 2) i += 4;   // true colour: dropped
    }
  };

  /* Parse one escape sequence at text[i] (an ESC); returns the index after it, or -1 when
   * the text ends inside it. */
  LogView.prototype.escape = function (text, i) {
    const next = text[i + 1];
    if (next === undefined) return -1;
    if (next === "[") {                       // CSI: parameters, then a final byte @-~
      let j = i + 2;
      while (j < text.length && !(text.charCodeAt(j) >= 0x40 && text.charCodeAt(j) <= 0x7e)) j++;
      if (j >= text.length) return -1;
      const fin = text[j], params = text.slice(i + 2, j);
      if (fin === "m" && /^[\d;]*$/.test(params)) this.sgr(params);
      else if (fin === "K" && (params === "" || params === "0")) this.cells.length = Math.min(this.cells.length, this.col);
      else if (fin === "K" && params === "2") this.cells.length = 0;
      else if (fin === "G") this.col = Math.max(0, (parseInt(params, 10) || 1) - 1);
      return j + 1;
    }
    if (next === "]") {                       // OSC: up to BEL or ESC \
      for (let j = i + 2; j < text.length; j++) {
        if (text[j] === "\x07") return j + 1;
        if (text[j] === "\x1b") return text[j + 1] === undefined ? -1 : j + 2;
      }
      return -1;
    }
    if (next === "(" || next === ")") return text[i + 2] === undefined ? -1 : i + 3;
    return i + 2;                             // ESC and one character
  };

  LogView.prototype.segments = function (cells) {
    const segs = [];
    let text = "", cls = null;
    for (const c of cells) {
      const ch = c ? c.ch : " ", k = c ? c.cls : "";
      if (cls !== null && k !== cls) { segs.push([text, cls]); text = ""; }
      cls = k; text += ch;
    }
    if (text) segs.push([text, cls]);
    return segs;
  };

  /* A span.ln for segments, with the matches of the current query marked. */
  LogView.prototype.render = function (segs, el) {
    el = el ? K.clear(el) : K.h("span.ln");
    const text = segs.map((s) => s[0]).join("");
    const ranges = [];
    if (this.query) {
      const low = text.toLowerCase(), q = this.query.toLowerCase();
      for (let at = low.indexOf(q); at >= 0; at = low.indexOf(q, at + q.length)) ranges.push([at, at + q.length]);
    }
    let pos = 0, r = 0;
    const marks = [];
    for (const [t, cls] of segs) {
      let i = 0;
      while (i < t.length) {
        const abs = pos + i;
        while (r < ranges.length && ranges[r][1] <= abs) r++;
        let end = t.length, inHit = false;
        if (r < ranges.length) {
          if (ranges[r][0] <= abs) { inHit = true; end = Math.min(t.length, ranges[r][1] - pos); }
          else end = Math.min(t.length, ranges[r][0] - pos);
        }
        const piece = t.slice(i, end);
        let node = cls ? K.h("span", { class: cls }, piece) : document.createTextNode(piece);
        if (inHit) {
          const m = K.h("mark.hit", node);
          if (ranges[r][0] === abs) marks.push(m);  // one entry per match, at its start
          node = m;
        }
        el.appendChild(node);
        i = end;
      }
      pos += t.length;
    }
    el.appendChild(document.createTextNode("\n"));
    el._marks = marks;
    return el;
  };

  LogView.prototype.feed = function (text) {
    if (!text && !this.pending) return;
    text = this.pending + (text || "");
    this.pending = "";
    const atBottom = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 24;
    const done = [];
    let cls = this.cls();
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (ch === "\n") {
        done.push(this.segments(this.cells));
        this.cells = []; this.col = 0;
      } else if (ch === "\r") {
        this.col = 0;
      } else if (ch === "\b") {
        this.col = Math.max(0, this.col - 1);
      } else if (ch === "\x1b") {
        const j = this.escape(text, i);
        if (j < 0) { this.pending = text.slice(i); break; }
        i = j - 1;
        cls = this.cls();
      } else if (ch === "\t" || ch >= " ") {
        while (this.cells.length < this.col) this.cells.push(null);
        this.cells[this.col++] = { ch: ch, cls: cls };
      }  // other control characters are dropped
    }
    const frag = document.createDocumentFragment();
    let added = 0;
    for (const segs of done) {
      const el = this.render(segs);
      this.lines.push({ segs: segs, el: el });
      this.chars += el.textContent.length;
      added += el._marks.length;
      frag.appendChild(el);
    }
    if (this.curEl) this.curEl.remove();
    this.pre.appendChild(frag);
    this.curEl = null;
    if (this.cells.length) {
      this.curEl = this.render(this.segments(this.cells));
      this.curEl.classList.add("cur");
      this.pre.appendChild(this.curEl);
    }
    this.trim();
    if (done.length || this.curEl) this.collectHits();
    if (atBottom) this.pre.scrollTop = this.pre.scrollHeight;
  };

  LogView.prototype.trim = function () {
    if (this.chars <= this.cap) return;
    let drop = 0;
    while (this.chars > this.cap / 2 && drop < this.lines.length) {
      this.chars -= this.lines[drop].el.textContent.length;
      this.lines[drop].el.remove();
      drop++;
    }
    this.lines.splice(0, drop);
    if (!this.trimmed) {
      this.trimmed = true;
      this.pre.prepend(K.h("span.ln.note", "… (earlier output trimmed; download the full log)\n"));
    }
  };

  LogView.prototype.note = function (text) {
    this.pre.insertBefore(K.h("span.ln.note", text + "\n"), this.pre.firstChild);
  };

  LogView.prototype.collectHits = function () {
    if (!this.query) { this.hits = []; this.hitIndex = -1; this.tell(); return; }
    const hits = [];
    this.lines.forEach((l) => l.el._marks.forEach((m) => hits.push(m)));
    if (this.curEl) this.curEl._marks.forEach((m) => hits.push(m));
    const cur = this.hits[this.hitIndex];
    this.hits = hits;
    this.hitIndex = cur ? hits.indexOf(cur) : -1;
    this.tell();
  };

  LogView.prototype.tell = function () {
    if (this.listener) this.listener({ count: this.hits.length, index: this.hitIndex });
  };

  LogView.prototype.onSearch = function (fn) { this.listener = fn; };

  LogView.prototype.search = function (query) {
    this.query = query || "";
    this.hitIndex = -1;
    this.hits = [];
    for (const l of this.lines) {
      if (l.el._marks.length || (this.query && l.el.textContent.toLowerCase().indexOf(this.query.toLowerCase()) >= 0)) {
        this.render(l.segs, l.el);
      }
    }
    if (this.curEl) { this.render(this.segments(this.cells), this.curEl); }
    this.collectHits();
    if (this.hits.length) this.jump(1);
    return this.hits.length;
  };

  LogView.prototype.jump = function (step) {
    if (!this.hits.length) return;
    const old = this.hits[this.hitIndex];
    if (old) old.classList.remove("current");
    this.hitIndex = ((this.hitIndex + step) % this.hits.length + this.hits.length) % this.hits.length;
    if (this.hitIndex < 0) this.hitIndex = 0;
    const m = this.hits[this.hitIndex];
    m.classList.add("current");
    this.pre.scrollTop = Math.max(0, m.offsetTop - this.pre.clientHeight / 3);  // pre.log is positioned
    this.tell();
  };

  K.LogView = LogView;
})();
