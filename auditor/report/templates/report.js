(function () {
  "use strict";
  // Data arrives as JSON in a non-executable data block; it is only ever written to the page
  // through textContent / Option text, never parsed as HTML.
  var data = JSON.parse(document.getElementById("audit-data").textContent);
  var COLS = {};
  data.columns.forEach(function (name, i) { COLS[name] = i; });
  var rows = data.rows;
  var details = data.details;
  var SEV_RANK = { critical: 4, high: 3, medium: 2, low: 1, info: 0 };
  var STATUS_RANK = { "new": 1, persisting: 0 };
  var PAGE_SIZE = 100;
  var FILTERS = ["target", "env", "region", "category", "severity", "kind", "namespace", "status"];
  var state = { sort: "severity", dir: -1, page: 0, text: "", filters: {}, view: [] };

  function $(id) { return document.getElementById(id); }
  function rank(table, key) { return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : -1; }
  function cssToken(value, allowed, fallback) { return allowed.indexOf(value) >= 0 ? value : fallback; }
  function statusOf(r) { return r[COLS.suppressed] ? "suppressed" : r[COLS.status]; }
  function objectOf(r) {
    var kind = r[COLS.kind], ns = r[COLS.namespace], name = r[COLS.name];
    if (!kind && !name) { return ""; }
    return ns ? kind + "/" + ns + "/" + name : kind + "/" + name;
  }
  function cell(r, col) {
    if (col === "status") { return statusOf(r); }
    if (col === "object") { return objectOf(r); }
    return r[COLS[col]];
  }

  // Lower-cased search text per row, built once: filtering 50,000 rows stays a plain scan.
  var haystack = rows.map(function (r) {
    return [objectOf(r), r[COLS.path], r[COLS.rule], r[COLS.message], r[COLS.target],
      r[COLS.fingerprint], r[COLS.suppressed]].join("\u0001").toLowerCase();
  });

  function fillSelects() {
    FILTERS.forEach(function (col) {
      var sel = $("f-" + col);
      var seen = {};
      rows.forEach(function (r) { var v = cell(r, col); if (v !== "") { seen[v] = (seen[v] || 0) + 1; } });
      var values = Object.keys(seen);
      if (col === "severity") {
        values.sort(function (a, b) { return rank(SEV_RANK, b) - rank(SEV_RANK, a); });
      } else {
        values.sort();
      }
      values.forEach(function (v) { sel.appendChild(new Option(v + " (" + seen[v] + ")", v)); });
      sel.addEventListener("change", function () { state.filters[col] = sel.value; state.page = 0; update(); });
    });
  }

  function compare(a, b) {
    var ra = rows[a], rb = rows[b], x, y;
    switch (state.sort) {
      case "severity": x = rank(SEV_RANK, ra[COLS.severity]); y = rank(SEV_RANK, rb[COLS.severity]); break;
      case "status": x = rank(STATUS_RANK, statusOf(ra)); y = rank(STATUS_RANK, statusOf(rb)); break;
      default: x = String(cell(ra, state.sort)).toLowerCase(); y = String(cell(rb, state.sort)).toLowerCase();
    }
    if (x < y) { return -state.dir; }
    if (x > y) { return state.dir; }
    return a - b; // stable: fall back to the report's deterministic order
  }

  function applyFilters() {
    var text = state.text.toLowerCase();
    var active = FILTERS.filter(function (c) { return state.filters[c]; });
    var out = [];
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i], ok = true;
      for (var j = 0; j < active.length; j++) {
        if (cell(r, active[j]) !== state.filters[active[j]]) { ok = false; break; }
      }
      if (ok && text && haystack[i].indexOf(text) < 0) { ok = false; }
      if (ok) { out.push(i); }
    }
    out.sort(compare);
    state.view = out;
  }

  function td(tr, text, cls) {
    var c = document.createElement("td");
    c.textContent = text;
    c.title = text;
    if (cls) { c.className = cls; }
    tr.appendChild(c);
    return c;
  }

  function renderPage() {
    var body = $("findings-body");
    var pages = Math.max(1, Math.ceil(state.view.length / PAGE_SIZE));
    if (state.page >= pages) { state.page = pages - 1; }
    var start = state.page * PAGE_SIZE;
    var frag = document.createDocumentFragment();
    state.view.slice(start, start + PAGE_SIZE).forEach(function (i) {
      var r = rows[i];
      var tr = document.createElement("tr");
      tr.tabIndex = 0;
      tr.dataset.index = String(i);
      if (r[COLS.suppressed]) { tr.className = "sup"; }
      var sev = cssToken(r[COLS.severity], Object.keys(SEV_RANK), "unknown");
      var s = td(tr, "", "sevc");
      var pill = document.createElement("span");
      pill.className = "pill sev-" + sev;
      pill.textContent = r[COLS.severity];
      s.appendChild(pill);
      td(tr, r[COLS.category]);
      td(tr, r[COLS.target]);
      td(tr, objectOf(r), "mono");
      td(tr, r[COLS.path], "mono");
      td(tr, r[COLS.rule], "mono");
      td(tr, r[COLS.message]);
      td(tr, statusOf(r));
      frag.appendChild(tr);
    });
    body.replaceChildren(frag);
    $("page-info").textContent = "Page " + (state.page + 1) + " of " + pages;
    $("match-count").textContent = state.view.length + " of " + rows.length + " findings";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    $("no-findings").hidden = state.view.length > 0;
    document.querySelectorAll("#findings-table th[data-sort]").forEach(function (th) {
      if (th.dataset.sort === state.sort) {
        th.setAttribute("aria-sort", state.dir > 0 ? "ascending" : "descending");
      } else {
        th.removeAttribute("aria-sort");
      }
    });
  }

  function update() { applyFilters(); renderPage(); }

  function pretty(v) {
    if (v === null || v === undefined) { return "(absent)"; }
    if (typeof v === "string") { return v; }
    return JSON.stringify(v, null, 2);
  }

  // Line diff of two pretty-printed values (LCS; small inputs only, which drift values are).
  function unifiedDiff(a, b) {
    var x = a.split("\n"), y = b.split("\n");
    if (x.length * y.length > 250000) { return null; }
    var n = x.length, m = y.length, i, j;
    var L = [];
    for (i = 0; i <= n; i++) { L.push(new Array(m + 1).fill(0)); }
    for (i = n - 1; i >= 0; i--) {
      for (j = m - 1; j >= 0; j--) {
        L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
      }
    }
    var out = [];
    i = 0; j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && x[i] === y[j]) { out.push(["ctx", "  " + x[i]]); i++; j++; }
      else if (j < m && (i >= n || L[i][j + 1] >= L[i + 1][j])) { out.push(["add", "+ " + y[j]]); j++; }
      else { out.push(["del", "- " + x[i]]); i++; }
    }
    return out;
  }

  function showUnified(expected, actual) {
    var wrap = $("d-unified-wrap"), pre = $("d-unified");
    pre.replaceChildren();
    var structured = expected !== null && actual !== null &&
      typeof expected === "object" && typeof actual === "object";
    var lines = structured ? unifiedDiff(pretty(expected), pretty(actual)) : null;
    wrap.hidden = !lines;
    if (!lines) { return; }
    lines.forEach(function (l) {
      var s = document.createElement("span");
      s.className = l[0];
      s.textContent = l[1];
      pre.appendChild(s);
    });
  }

  function addMeta(dl, label, value) {
    if (value === "" || value === null || value === undefined) { return; }
    var dt = document.createElement("dt"); dt.textContent = label;
    var dd = document.createElement("dd"); dd.textContent = value;
    dl.appendChild(dt); dl.appendChild(dd);
  }

  function openDetails(i) {
    var r = rows[i], d = details[i];
    $("d-title").textContent = d.subject;
    var pills = $("d-pills");
    pills.replaceChildren();
    [["pill sev-" + cssToken(r[COLS.severity], Object.keys(SEV_RANK), "unknown"), r[COLS.severity]],
      ["pill sev-info", r[COLS.category]], ["pill sev-info", statusOf(r)]].forEach(function (p) {
      var s = document.createElement("span"); s.className = p[0]; s.textContent = p[1];
      pills.appendChild(s); pills.appendChild(document.createTextNode(" "));
    });
    var meta = $("d-meta");
    meta.replaceChildren();
    addMeta(meta, "Target", r[COLS.target]);
    addMeta(meta, "Env / region", [r[COLS.env], r[COLS.region]].filter(Boolean).join(" / "));
    addMeta(meta, "Rule id", r[COLS.rule]);
    addMeta(meta, "Field path", r[COLS.path]);
    addMeta(meta, "Suppressed by", r[COLS.suppressed]);
    addMeta(meta, "Fingerprint", r[COLS.fingerprint]);
    $("d-message").textContent = r[COLS.message];
    var hasDiff = d.expected !== null || d.actual !== null;
    $("d-diff-wrap").hidden = !hasDiff;
    $("d-expected").textContent = pretty(d.expected);
    $("d-actual").textContent = pretty(d.actual);
    showUnified(d.expected, d.actual);
    var ruleText = Object.prototype.hasOwnProperty.call(data.rules, r[COLS.rule]) ? data.rules[r[COLS.rule]] : ["", ""];
    $("d-rule").textContent = d.rule !== undefined ? d.rule : ruleText[0];
    $("d-remediation").textContent = (d.remediation !== undefined ? d.remediation : ruleText[1]) || "—";
    var files = $("d-files");
    files.replaceChildren();
    d.files.forEach(function (f) {
      // [path, role, line, owners, commit index into data.commits or -1]
      var li = document.createElement("li");
      var text = f[0] + (f[2] ? ":" + f[2] : "") + " (" + f[1] + ")";
      var c = f[4] >= 0 ? data.commits[f[4]] : null;
      if (c) {
        text += " — " + c.sha.slice(0, 12) + " by " + c.author + " on " + c.date + ": " + c.subject;
        if (c.signed) { text += " [signed]"; }
        if (c.trailers.length) { text += " [" + c.trailers.join("; ") + "]"; }
      }
      if (f[3].length) { text += " — owners: " + f[3].join(", "); }
      li.textContent = text;
      files.appendChild(li);
    });
    if (!d.files.length) {
      var none = document.createElement("li"); none.textContent = "no source file recorded"; files.appendChild(none);
    }
    var live = $("d-live");
    live.replaceChildren();
    d.live.forEach(function (l) {
      var li = document.createElement("li");
      li.textContent = "live: written by " + l[0] + (l[1] ? " (" + l[1] + ")" : "") + (l[2] ? " at " + l[2] : "");
      live.appendChild(li);
    });
    $("d-owners").textContent = d.owners.length ? d.owners.join(", ") : "no code owner";
    var extraKeys = Object.keys(d.details || {});
    $("d-extra-wrap").hidden = extraKeys.length === 0;
    $("d-extra").textContent = extraKeys.length ? JSON.stringify(d.details, null, 2) : "";
    var panel = $("details");
    panel.hidden = false;
    panel.dataset.index = String(i);
    // A shareable link to this finding: report.html#f=<fingerprint>.
    history.replaceState(null, "", "#f=" + r[COLS.fingerprint]);
    $("d-close").focus();
  }

  function closeDetails() {
    var panel = $("details");
    if (panel.hidden) { return; }
    panel.hidden = true;
    history.replaceState(null, "", location.pathname + location.search);
    var row = document.querySelector('#findings-body tr[data-index="' + panel.dataset.index + '"]');
    if (row) { row.focus(); }
  }

  function rowIndex(ev) {
    var tr = ev.target.closest("tr[data-index]");
    return tr ? Number(tr.dataset.index) : -1;
  }

  var debounce = 0;
  $("f-text").addEventListener("input", function (ev) {
    clearTimeout(debounce);
    debounce = setTimeout(function () { state.text = ev.target.value.trim(); state.page = 0; update(); }, 120);
  });
  $("f-reset").addEventListener("click", function () {
    state.filters = {}; state.text = ""; state.page = 0;
    FILTERS.forEach(function (c) { $("f-" + c).value = ""; });
    $("f-text").value = "";
    update();
  });
  document.querySelectorAll("#findings-table th[data-sort]").forEach(function (th) {
    th.addEventListener("click", function () {
      var key = th.dataset.sort;
      if (state.sort === key) { state.dir = -state.dir; } else { state.sort = key; state.dir = key === "severity" ? -1 : 1; }
      state.page = 0;
      update();
    });
  });
  $("prev").addEventListener("click", function () { if (state.page > 0) { state.page--; renderPage(); } });
  $("next").addEventListener("click", function () { state.page++; renderPage(); });
  $("findings-body").addEventListener("click", function (ev) { var i = rowIndex(ev); if (i >= 0) { openDetails(i); } });
  $("findings-body").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { var i = rowIndex(ev); if (i >= 0) { openDetails(i); } }
  });
  $("d-close").addEventListener("click", closeDetails);
  document.addEventListener("keydown", function (ev) { if (ev.key === "Escape") { closeDetails(); } });

  fillSelects();
  update();
  var linked = /^#f=([0-9a-f]{16})$/.exec(location.hash);
  if (linked) {
    for (var k = 0; k < rows.length; k++) {
      if (rows[k][COLS.fingerprint] === linked[1]) { openDetails(k); break; }
    }
  }
  document.documentElement.dataset.ready = "1";
})();
