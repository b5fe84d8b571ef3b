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
  var SEVS = ["critical", "high", "medium", "low", "info"];
  var STATUS_RANK = { "new": 1, persisting: 0 };
  var PAGE_SIZE = 100;
  var FILTERS = ["target", "env", "region", "category", "severity", "kind", "namespace", "status"];
  var GROUPS = ["target", "object", "rule", "none"];
  var TARGET_ORDER = {};
  (data.targets || []).forEach(function (t, i) { TARGET_ORDER[t] = i; });
  var state = { sort: "severity", dir: -1, page: 0, text: "", filters: {}, group: "target", collapsed: {}, view: [] };

  function $(id) { return document.getElementById(id); }
  function has(table, key) { return Object.prototype.hasOwnProperty.call(table, key); }
  function rank(table, key) { return has(table, key) ? table[key] : -1; }
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
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  // Lower-cased search text per row, built once: filtering 50,000 rows stays a plain scan.
  var haystack = rows.map(function (r) {
    return [objectOf(r), r[COLS.path], r[COLS.rule], r[COLS.message], r[COLS.target],
      r[COLS.fingerprint], r[COLS.suppressed]].join("\u0001").toLowerCase();
  });

  // ------------------------------------------------------------------ state in the URL
  // #env=production&category=drift&q=text&group=object&sort=-severity&f=<fingerprint>:
  // a shareable link to exactly this view (and, with f=, to one finding's details).
  function readHash() {
    var out = {};
    var raw = location.hash.replace(/^#/, "");
    if (!raw) { return out; }
    raw.split("&").forEach(function (part) {
      var eq = part.indexOf("=");
      if (eq <= 0) { return; }
      try { out[decodeURIComponent(part.slice(0, eq))] = decodeURIComponent(part.slice(eq + 1).replace(/\+/g, " ")); }
      catch (e) { /* a malformed escape is ignored, not fatal */ }
    });
    return out;
  }

  function stateHash(fp) {
    var parts = [];
    FILTERS.forEach(function (c) { if (state.filters[c]) { parts.push(c + "=" + encodeURIComponent(state.filters[c])); } });
    if (state.text) { parts.push("q=" + encodeURIComponent(state.text)); }
    if (state.group !== "target") { parts.push("group=" + state.group); }
    if (state.sort !== "severity" || state.dir !== -1) { parts.push("sort=" + (state.dir < 0 ? "-" : "") + state.sort); }
    if (fp) { parts.push("f=" + fp); }
    return parts.length ? "#" + parts.join("&") : "";
  }

  function writeHash() {
    var panel = $("details");
    var fp = panel.hidden ? "" : rows[Number(panel.dataset.index)][COLS.fingerprint];
    var h = stateHash(fp);
    if (h !== location.hash && !(h === "" && location.hash === "")) {
      history.replaceState(null, "", h || location.pathname + location.search);
    }
    $("f-link").href = stateHash("") || "#";
  }

  function ensureOption(sel, value) {
    for (var i = 0; i < sel.options.length; i++) { if (sel.options[i].value === value) { return; } }
    sel.appendChild(new Option(value + " (0)", value));
  }

  function applyHash() {
    var h = readHash();
    state.filters = {};
    FILTERS.forEach(function (c) {
      var sel = $("f-" + c);
      if (h[c]) { ensureOption(sel, h[c]); state.filters[c] = h[c]; }
      sel.value = h[c] || "";
    });
    state.text = (h.q || "").trim();
    $("f-text").value = state.text;
    state.group = GROUPS.indexOf(h.group) >= 0 ? h.group : "target";
    $("f-group").value = state.group;
    if (h.sort) {
      var key = h.sort.replace(/^-/, "");
      if (document.querySelector('#findings-table th[data-sort="' + cssToken(key, ["severity", "category", "target", "object", "rule", "message", "status"], "severity") + '"]')) {
        state.sort = key; state.dir = h.sort.charAt(0) === "-" ? -1 : 1;
      }
    } else { state.sort = "severity"; state.dir = -1; }
    state.page = 0;
    state.collapsed = {};
    update(false);
    var linked = /^[0-9a-f]{16}$/.test(h.f || "") ? h.f : "";
    if (linked) {
      for (var k = 0; k < rows.length; k++) {
        if (rows[k][COLS.fingerprint] === linked) { openDetails(k); break; }
      }
    } else if (!$("details").hidden) {
      hideDetails();
    }
  }

  // ------------------------------------------------------------------ filters, sort, groups
  function fillSelects() {
    FILTERS.forEach(function (col) {
      var sel = $("f-" + col);
      var seen = {};
      rows.forEach(function (r) { var v = cell(r, col); if (v !== "") { seen[v] = (seen[v] || 0) + 1; } });
      var values = Object.keys(seen);
      if (col === "severity") {
        values.sort(function (a, b) { return rank(SEV_RANK, b) - rank(SEV_RANK, a); });
      } else if (col === "target") {
        values.sort(function (a, b) { return rank(TARGET_ORDER, a) - rank(TARGET_ORDER, b) || (a < b ? -1 : 1); });
      } else {
        values.sort();
      }
      values.forEach(function (v) { sel.appendChild(new Option(v + " (" + seen[v] + ")", v)); });
      sel.addEventListener("change", function () { state.filters[col] = sel.value; state.page = 0; update(true); });
    });
  }

  // Group key(s) of a row: [level-1 key, level-2 key or null]. Groups keep the report's target order.
  function groupOf(r) {
    switch (state.group) {
      case "target": return [r[COLS.target], r[COLS.target] + "\u0001" + r[COLS.severity]];
      case "object": return [r[COLS.target] + "\u0001" + objectOf(r), null];
      case "rule": return [r[COLS.rule], null];
      default: return [null, null];
    }
  }

  function columnCompare(ra, rb) {
    var x, y;
    switch (state.sort) {
      case "severity": x = rank(SEV_RANK, ra[COLS.severity]); y = rank(SEV_RANK, rb[COLS.severity]); break;
      case "status": x = rank(STATUS_RANK, statusOf(ra)); y = rank(STATUS_RANK, statusOf(rb)); break;
      default: x = String(cell(ra, state.sort)).toLowerCase(); y = String(cell(rb, state.sort)).toLowerCase();
    }
    if (x < y) { return -state.dir; }
    if (x > y) { return state.dir; }
    return 0;
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
    // Per group: counts per severity and the worst severity (object/rule groups sort worst first).
    var stats = {};
    out.forEach(function (i) {
      var g = groupOf(rows[i]);
      [g[0], g[1]].forEach(function (k) {
        if (k === null) { return; }
        var s = stats[k] || (stats[k] = { n: 0, worst: -1, sev: {} });
        var sev = rows[i][COLS.severity];
        s.n++; s.sev[sev] = (s.sev[sev] || 0) + 1;
        if (!rows[i][COLS.suppressed]) { s.worst = Math.max(s.worst, rank(SEV_RANK, sev)); }
      });
    });
    out.sort(function (a, b) {
      var ra = rows[a], rb = rows[b];
      if (state.group === "target") {
        var t = rank(TARGET_ORDER, ra[COLS.target]) - rank(TARGET_ORDER, rb[COLS.target]);
        if (t) { return t; }
        if (ra[COLS.target] !== rb[COLS.target]) { return ra[COLS.target] < rb[COLS.target] ? -1 : 1; }
        // Severity sub-groups follow the severity column's direction (worst first by default).
        var s = (rank(SEV_RANK, rb[COLS.severity]) - rank(SEV_RANK, ra[COLS.severity])) *
          (state.sort === "severity" ? -state.dir : 1);
        if (s) { return s; }
      } else if (state.group !== "none") {
        var ga = groupOf(ra)[0], gb = groupOf(rb)[0];
        if (ga !== gb) {
          var w = stats[gb].worst - stats[ga].worst;
          if (w) { return w; }
          return ga < gb ? -1 : 1;
        }
      }
      return columnCompare(ra, rb) || a - b; // stable: fall back to the report's deterministic order
    });
    state.view = out;
    state.stats = stats;
    // Entries shown: finding rows, except that a collapsed group stands for its rows as one entry.
    var entries = [];
    var lastCollapsed = null;
    out.forEach(function (i) {
      var g = groupOf(rows[i]);
      var key = state.collapsed[g[0]] ? g[0] : (g[1] !== null && state.collapsed[g[1]] ? g[1] : null);
      if (key !== null) {
        if (key !== lastCollapsed) { entries.push({ collapsed: key, row: i }); lastCollapsed = key; }
        return;
      }
      lastCollapsed = null;
      entries.push({ row: i });
    });
    state.entries = entries;
  }

  function td(tr, text, cls) {
    var c = el("td", cls, text);
    c.title = text;
    tr.appendChild(c);
    return c;
  }

  function groupLabel(level, r) {
    if (state.group === "target") {
      return level === 1 ? r[COLS.target] + ([r[COLS.env], r[COLS.region]].filter(Boolean).length ?
        " (" + [r[COLS.env], r[COLS.region]].filter(Boolean).join(" / ") + ")" : "") : r[COLS.severity];
    }
    if (state.group === "object") { return (objectOf(r) || "(repository)") + " — " + r[COLS.target]; }
    return r[COLS.rule];
  }

  function groupRow(level, key, r) {
    var tr = el("tr", "group lvl" + level);
    tr.dataset.group = key;
    var c = el("td");
    c.colSpan = 7;
    var b = el("button", "toggle");
    b.type = "button";
    var collapsed = !!state.collapsed[key];
    b.setAttribute("aria-expanded", collapsed ? "false" : "true");
    b.textContent = collapsed ? "▸" : "▾";
    b.title = collapsed ? "expand" : "collapse";
    c.appendChild(b);
    var st = state.stats[key];
    if (level === 2) {
      var sev = cssToken(r[COLS.severity], SEVS, "unknown");
      c.appendChild(el("span", "pill sev-" + sev, r[COLS.severity]));
      c.appendChild(el("span", "gcount", " " + plural(st.n, "finding")));
    } else {
      c.appendChild(el("span", "glabel", groupLabel(1, r)));
      c.appendChild(el("span", "gcount", " " + plural(st.n, "finding") + " "));
      SEVS.forEach(function (s) {
        if (st.sev[s]) { c.appendChild(el("span", "pill sev-" + s, st.sev[s] + " " + s)); c.appendChild(document.createTextNode(" ")); }
      });
    }
    tr.appendChild(c);
    return tr;
  }

  function findingRow(i) {
    var r = rows[i];
    var tr = document.createElement("tr");
    tr.tabIndex = 0;
    tr.dataset.index = String(i);
    if (r[COLS.suppressed]) { tr.className = "sup"; }
    var sev = cssToken(r[COLS.severity], SEVS, "unknown");
    var s = td(tr, "", "sevc");
    s.appendChild(el("span", "pill sev-" + sev, r[COLS.severity]));
    td(tr, r[COLS.category]);
    td(tr, r[COLS.target]);
    var o = td(tr, objectOf(r) || "(repository)", "mono obj");
    if (r[COLS.path]) {
      o.appendChild(el("span", "fpath", r[COLS.path]));
      o.title = o.title + "\n" + r[COLS.path];
    }
    td(tr, r[COLS.rule], "mono");
    td(tr, r[COLS.message]);
    td(tr, statusOf(r));
    return tr;
  }

  function renderPage() {
    var body = $("findings-body");
    var entries = state.entries;
    var pages = Math.max(1, Math.ceil(entries.length / PAGE_SIZE));
    if (state.page >= pages) { state.page = pages - 1; }
    var start = state.page * PAGE_SIZE;
    var frag = document.createDocumentFragment();
    var prev = [undefined, undefined];
    entries.slice(start, start + PAGE_SIZE).forEach(function (e) {
      var r = rows[e.row];
      var g = groupOf(r);
      if (g[0] !== null && g[0] !== prev[0]) {
        frag.appendChild(groupRow(1, g[0], r));
        prev = [g[0], undefined];
      }
      if (e.collapsed !== undefined && e.collapsed === g[0]) { return; }
      if (g[1] !== null && g[1] !== prev[1]) {
        frag.appendChild(groupRow(2, g[1], r));
        prev[1] = g[1];
      }
      if (e.collapsed !== undefined) { return; }
      frag.appendChild(findingRow(e.row));
    });
    body.replaceChildren(frag);
    $("page-info").textContent = "Page " + (state.page + 1) + " of " + pages;
    $("match-count").textContent = state.view.length + " of " + plural(rows.length, "finding");
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    $("no-findings").hidden = state.view.length > 0;
    var grouped = state.group !== "none";
    $("expand-all").hidden = !grouped;
    $("collapse-all").hidden = !grouped;
    document.querySelectorAll("#findings-table th[data-sort]").forEach(function (th) {
      if (th.dataset.sort === state.sort) {
        th.setAttribute("aria-sort", state.dir > 0 ? "ascending" : "descending");
      } else {
        th.removeAttribute("aria-sort");
      }
    });
  }

  function update(toUrl) { applyFilters(); renderPage(); if (toUrl) { writeHash(); } }

  // ------------------------------------------------------------------ details panel
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
    lines.forEach(function (l) { pre.appendChild(el("span", l[0], l[1])); });
  }

  function addMeta(dl, label, value) {
    if (value === "" || value === null || value === undefined) { return; }
    dl.appendChild(el("dt", "", label));
    dl.appendChild(el("dd", "", value));
  }

  function openDetails(i) {
    var r = rows[i], d = details[i];
    $("d-title").textContent = d.subject;
    var pills = $("d-pills");
    pills.replaceChildren();
    [["pill sev-" + cssToken(r[COLS.severity], SEVS, "unknown"), r[COLS.severity]],
      ["pill sev-info", r[COLS.category]], ["pill sev-info", statusOf(r)]].forEach(function (p) {
      pills.appendChild(el("span", p[0], p[1])); pills.appendChild(document.createTextNode(" "));
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
    var ruleText = has(data.rules, r[COLS.rule]) ? data.rules[r[COLS.rule]] : ["", ""];
    $("d-rule").textContent = d.rule !== undefined ? d.rule : ruleText[0];
    $("d-remediation").textContent = (d.remediation !== undefined ? d.remediation : ruleText[1]) || "—";
    var files = $("d-files");
    files.replaceChildren();
    d.files.forEach(function (f) {
      // [path, role, line, owners, commit index into data.commits or -1]
      var text = f[0] + (f[2] ? ":" + f[2] : "") + " (" + f[1] + ")";
      var c = f[4] >= 0 ? data.commits[f[4]] : null;
      if (c) {
        text += " — " + c.sha.slice(0, 12) + " by " + c.author + " on " + c.date + ": " + c.subject;
        if (c.signed) { text += " [signed]"; }
        if (c.trailers.length) { text += " [" + c.trailers.join("; ") + "]"; }
      }
      if (f[3].length) { text += " — owners: " + f[3].join(", "); }
      files.appendChild(el("li", "", text));
    });
    if (!d.files.length) { files.appendChild(el("li", "", "no source file recorded")); }
    var live = $("d-live");
    live.replaceChildren();
    d.live.forEach(function (l) {
      live.appendChild(el("li", "", "live: written by " + l[0] + (l[1] ? " (" + l[1] + ")" : "") + (l[2] ? " at " + l[2] : "")));
    });
    $("d-owners").textContent = d.owners.length ? d.owners.join(", ") : "no code owner";
    var extraKeys = Object.keys(d.details || {});
    $("d-extra-wrap").hidden = extraKeys.length === 0;
    $("d-extra").textContent = extraKeys.length ? JSON.stringify(d.details, null, 2) : "";
    var panel = $("details");
    panel.hidden = false;
    panel.dataset.index = String(i);
    writeHash(); // a shareable link to this finding: report.html#...&f=<fingerprint>
    $("d-close").focus();
  }

  function hideDetails() {
    var panel = $("details");
    if (panel.hidden) { return false; }
    panel.hidden = true;
    return true;
  }

  function closeDetails() {
    var panel = $("details");
    if (!hideDetails()) { return; }
    writeHash();
    var row = document.querySelector('#findings-body tr[data-index="' + panel.dataset.index + '"]');
    if (row) { row.focus(); }
  }

  function rowIndex(ev) {
    var tr = ev.target.closest("tr[data-index]");
    return tr ? Number(tr.dataset.index) : -1;
  }

  function toggleGroup(ev) {
    var tr = ev.target.closest("tr.group");
    if (!tr) { return false; }
    var key = tr.dataset.group;
    if (state.collapsed[key]) { delete state.collapsed[key]; } else { state.collapsed[key] = true; }
    applyFilters(); renderPage();
    return true;
  }

  // ------------------------------------------------------------------ fleet matrix
  function setupFleet() {
    var table = $("fleet-table");
    if (!table) { return; }
    table.addEventListener("click", function (ev) {
      var b = ev.target.closest("button.toggle");
      if (!b) { return; }
      var open = b.getAttribute("aria-expanded") !== "true";
      b.setAttribute("aria-expanded", open ? "true" : "false");
      b.textContent = open ? "▾" : "▸";
      b.closest("tbody").querySelectorAll("tr.obj").forEach(function (tr) { tr.hidden = !open; });
    });
    $("fleet-problems").addEventListener("change", function (ev) {
      table.querySelectorAll("tbody.app").forEach(function (tb) {
        tb.hidden = ev.target.checked && !tb.classList.contains("problem");
      });
    });
  }

  // ------------------------------------------------------------------ environment comparison
  var fleet = data.fleet || { targets: [], objects: {}, held: [], fields: [], drift: [] };

  function show(v) {
    if (v === undefined) { return "—"; }
    if (v === null) { return "(not set)"; }
    if (typeof v === "string") { return v; }
    return JSON.stringify(v);
  }

  function setupCompare() {
    var appSel = $("cmp-app"), aSel = $("cmp-a"), bSel = $("cmp-b");
    if (!fleet.targets.length) {
      $("cmp-note").textContent = "No object data for this run.";
      ["cmp-git", "cmp-live"].forEach(function (id) { $(id).hidden = true; });
      return;
    }
    // Apps with drift first, then those whose git definition differs most between targets.
    var drifted = {}, differs = {};
    fleet.fields.forEach(function (f) { var o = fleet.objects[f[0]]; if (o) { differs[o[0]] = (differs[o[0]] || 0) + 1; } });
    fleet.drift.forEach(function (d) { var o = fleet.objects[d[1]]; if (o) { drifted[o[0]] = (drifted[o[0]] || 0) + 1; } });
    fleet.held.forEach(function (h) {
      Object.keys(h).forEach(function (k) { if (h[k] !== "in-sync" && h[k] !== "drifted") { drifted[fleet.objects[k][0]] = (drifted[fleet.objects[k][0]] || 0) + 1; } });
    });
    var apps = {};
    Object.keys(fleet.objects).forEach(function (k) { apps[fleet.objects[k][0]] = true; });
    var names = Object.keys(apps).sort(function (a, b) {
      return (drifted[b] || 0) - (drifted[a] || 0) || (differs[b] || 0) - (differs[a] || 0) || (a < b ? -1 : a > b ? 1 : 0);
    });
    names.forEach(function (n) { appSel.appendChild(new Option(n + (differs[n] || drifted[n] ? "" : " (same everywhere)"), n)); });
    // Targets grouped by environment.
    [aSel, bSel].forEach(function (sel) {
      var groups = {};
      fleet.targets.forEach(function (t, i) {
        var env = t[1] || "(no env)";
        if (!groups[env]) { groups[env] = el("optgroup"); groups[env].label = env; sel.appendChild(groups[env]); }
        groups[env].appendChild(new Option(t[0] + (t[2] ? " (" + t[2] + ")" : ""), String(i)));
      });
    });
    // Default: a production target against another environment's target in the same region (staging first).
    var ia = 0, ib = fleet.targets.length > 1 ? 1 : 0, best = -1;
    fleet.targets.forEach(function (ta, i) {
      fleet.targets.forEach(function (tb, j) {
        if (i === j || ta[1] === tb[1]) { return; }
        var score = (/prod/i.test(ta[1]) ? 4 : 0) + (ta[2] === tb[2] ? 2 : 0) + (/stag/i.test(tb[1]) ? 1 : 0);
        if (score > best) { best = score; ia = i; ib = j; }
      });
    });
    aSel.value = String(ia); bSel.value = String(ib);
    [appSel, aSel, bSel].forEach(function (s) { s.addEventListener("change", renderCompare); });
    renderCompare();
  }

  function cmpRow(tbody, cells, cls) {
    var tr = el("tr", cls || "");
    cells.forEach(function (c, i) {
      var t = el("td", i < 2 ? "mono" : "mono val", c);
      t.title = c;
      tr.appendChild(t);
    });
    tbody.appendChild(tr);
  }

  function renderCompare() {
    var app = $("cmp-app").value, a = Number($("cmp-a").value), b = Number($("cmp-b").value);
    var ta = fleet.targets[a], tb = fleet.targets[b];
    document.querySelectorAll(".cmp-a-name").forEach(function (e) { e.textContent = ta[0]; });
    document.querySelectorAll(".cmp-b-name").forEach(function (e) { e.textContent = tb[0]; });
    var keys = Object.keys(fleet.objects).filter(function (k) { return fleet.objects[k][0] === app; }).sort();
    var gitBody = $("cmp-git").querySelector("tbody"), liveBody = $("cmp-live").querySelector("tbody");
    gitBody.replaceChildren(); liveBody.replaceChildren();
    var ha = fleet.held[a], hb = fleet.held[b];
    var gitValue = {};
    keys.forEach(function (k) {
      var inA = has(ha, k) && ha[k] !== "orphaned", inB = has(hb, k) && hb[k] !== "orphaned";
      if (inA !== inB) { cmpRow(gitBody, [k, "(object)", inA ? "defined" : "not in git", inB ? "defined" : "not in git"], "only"); }
    });
    fleet.fields.forEach(function (f) {
      if (fleet.objects[f[0]] === undefined || fleet.objects[f[0]][0] !== app) { return; }
      var va = f[2][String(a)], vb = f[2][String(b)];
      gitValue[a + "\u0001" + f[0] + "\u0001" + f[1]] = va;
      gitValue[b + "\u0001" + f[0] + "\u0001" + f[1]] = vb;
      if (va === undefined || vb === undefined) { return; } // the object is not in both: listed above
      if (JSON.stringify(va) !== JSON.stringify(vb)) { cmpRow(gitBody, [f[0], f[1], show(va), show(vb)]); }
    });
    $("cmp-git-empty").hidden = gitBody.children.length > 0;
    $("cmp-git").hidden = gitBody.children.length === 0;
    // Live: each cluster's object state, then every drifted field of either side.
    keys.forEach(function (k) {
      var sa = has(ha, k) ? ha[k] : "", sb = has(hb, k) ? hb[k] : "";
      if ((sa && sa !== "in-sync" && sa !== "drifted") || (sb && sb !== "in-sync" && sb !== "drifted")) {
        cmpRow(liveBody, [k, "(object)", sa || "—", sb || "—"], "only");
      }
    });
    var liveRows = {};
    fleet.drift.forEach(function (d) {
      if ((d[0] !== a && d[0] !== b) || fleet.objects[d[1]] === undefined || fleet.objects[d[1]][0] !== app) { return; }
      var id = d[1] + "\u0001" + d[2];
      var row = liveRows[id] || (liveRows[id] = { key: d[1], path: d[2] });
      row[d[0] === a ? "a" : "b"] = d;
    });
    Object.keys(liveRows).sort().forEach(function (id) {
      var row = liveRows[id];
      function side(d, t, held) {
        if (!has(held, row.key)) { return "—"; }
        if (!d) {
          var g = gitValue[t + "\u0001" + row.key + "\u0001" + row.path];
          return "as in git" + (g !== undefined ? " (" + show(g) + ")" : "");
        }
        return show(d[4]) + "  (git: " + show(d[3]) + ")";
      }
      cmpRow(liveBody, [row.key, row.path, side(row.a, a, ha), side(row.b, b, hb)], "drift");
    });
    $("cmp-live-empty").hidden = liveBody.children.length > 0;
    $("cmp-live").hidden = liveBody.children.length === 0;
    $("cmp-note").textContent = a === b ? "Pick two different targets." :
      "Names are compared without the overlay's prefix/suffix and namespace; Secret values are never compared or shown.";
  }

  // ------------------------------------------------------------------ wiring
  var debounce = 0;
  $("f-text").addEventListener("input", function (ev) {
    clearTimeout(debounce);
    debounce = setTimeout(function () { state.text = ev.target.value.trim(); state.page = 0; update(true); }, 120);
  });
  $("f-group").addEventListener("change", function (ev) {
    state.group = GROUPS.indexOf(ev.target.value) >= 0 ? ev.target.value : "target";
    state.collapsed = {}; state.page = 0;
    update(true);
  });
  $("f-reset").addEventListener("click", function () {
    state.filters = {}; state.text = ""; state.page = 0; state.collapsed = {};
    FILTERS.forEach(function (c) { $("f-" + c).value = ""; });
    $("f-text").value = "";
    update(true);
  });
  $("f-link").addEventListener("click", function (ev) {
    ev.preventDefault();
    writeHash();
  });
  $("expand-all").addEventListener("click", function () { state.collapsed = {}; applyFilters(); renderPage(); });
  $("collapse-all").addEventListener("click", function () {
    state.collapsed = {};
    state.view.forEach(function (i) { var g = groupOf(rows[i]); if (g[0] !== null) { state.collapsed[g[0]] = true; } });
    state.page = 0;
    applyFilters(); renderPage();
  });
  document.querySelectorAll("#findings-table th[data-sort]").forEach(function (th) {
    th.addEventListener("click", function () {
      var key = th.dataset.sort;
      if (state.sort === key) { state.dir = -state.dir; } else { state.sort = key; state.dir = key === "severity" ? -1 : 1; }
      state.page = 0;
      update(true);
    });
  });
  $("prev").addEventListener("click", function () { if (state.page > 0) { state.page--; renderPage(); } });
  $("next").addEventListener("click", function () { state.page++; renderPage(); });
  $("findings-body").addEventListener("click", function (ev) {
    if (toggleGroup(ev)) { return; }
    var i = rowIndex(ev); if (i >= 0) { openDetails(i); }
  });
  $("findings-body").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { var i = rowIndex(ev); if (i >= 0) { openDetails(i); } }
  });
  $("d-close").addEventListener("click", closeDetails);
  document.addEventListener("keydown", function (ev) { if (ev.key === "Escape") { closeDetails(); } });
  // Links inside the page (overview, matrix) set filters through the address; so does a pasted link.
  window.addEventListener("hashchange", function () {
    applyHash();
    if (!readHash().f) { $("findings").scrollIntoView(); }
  });

  fillSelects();
  setupFleet();
  setupCompare();
  applyHash();
  writeHash();
  document.documentElement.dataset.ready = "1";
})();
