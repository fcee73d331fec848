/* Hutch console front end: plain JavaScript, no library, no build step.
 *
 * Safety rule: every piece of data (alert titles, attributes, payloads, reasons...) is
 * put on the page as text (h() makes text nodes, textContent); nothing from the API is
 * ever parsed as HTML, and a link taken from data is kept only when it is http(s)
 * (safeHref). The server's Content-Security-Policy forbids inline scripts as well.
 *
 * State: the signed-in user (GET /api/me: name, role, CSRF token) in memory; the
 * session itself is an HttpOnly cookie. Live updates: an EventSource on /api/stream;
 * a "ticket" event reloads the ticket list's first page or the open ticket, a "chat"
 * event (a turn the agent stored) reloads the open chat. */
"use strict";

const state = { me: null, stream: null, reload: null, onChat: null };
const CONCLUSIONS = ["true_positive", "false_positive", "intended", "unaffected", "escalated"];

/* h("a", {href: "/x", class: "c"}, "text", node, [more]) */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  add(el, children);
  return el;
}
function add(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
function safeHref(url) {
  try {
    const u = new URL(String(url), location.origin);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch (e) { return null; }
}
function when(t) {
  if (!t) return "";
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString();
}
function sev(s) { return h("span", { class: "sev-" + (s || "none") }, s || "—"); }
function statusText(s) { return h("span", { class: "status-" + s }, s); }
function link(path, text) { return h("a", { href: path, "data-link": "" }, text); }
function main() { return document.getElementById("main"); }
function page(title, ...children) {
  document.title = title + " · Hutch";
  const m = main();
  m.replaceChildren(h("h1", null, title));
  return add(m, children);
}
function flash(text) {
  const el = document.getElementById("live");
  el.textContent = text;
  el.classList.add("show");
  clearTimeout(flash.t);
  flash.t = setTimeout(() => el.classList.remove("show"), 4000);
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
async function api(path, body) {
  const opts = { headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    if (state.me) opts.headers["X-CSRF-Token"] = state.me.csrf;
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  let doc = null;
  try { doc = await r.json(); } catch (e) { doc = null; }
  if (r.status === 401 && path !== "/api/login") { state.me = null; go("/login"); throw new ApiError(401, "signed out"); }
  if (!r.ok) throw new ApiError(r.status, (doc && doc.error) || r.statusText);
  return doc;
}
function errorBox(e) { return h("p", { class: "error", role: "alert" }, e.message || String(e)); }
function canChange() { return state.me && state.me.role !== "viewer"; }

/* ------------------------------------------------------------------ routing */

const routes = [
  [/^\/$/, dashboard],
  [/^\/tickets$/, ticketList],
  [/^\/tickets\/([0-9a-f-]{36})$/, ticketPage],
  [/^\/alerts\/([0-9a-f-]{36})$/, alertPage],
  [/^\/events$/, eventList],
  [/^\/dlq$/, dlqPage],
  [/^\/playground$/, playground],
  [/^\/chat$/, chatPage],
  [/^\/tickets\/([0-9a-f-]{36})\/chat$/, ticketChat],
];

function go(path) {
  if (location.pathname + location.search !== path) history.pushState(null, "", path);
  render();
}

async function render() {
  state.reload = null;
  state.edits = null; /* a new page: nothing typed yet */
  state.onChat = null;
  clearInterval(state.poll);
  const path = location.pathname;
  if (!state.me && path !== "/login") {
    try { state.me = await api("/api/me"); } catch (e) { if (e.status !== 401) { page("Hutch", errorBox(e)); } return; }
  }
  if (path === "/login") return loginPage();
  document.getElementById("top").hidden = false;
  document.getElementById("who").textContent = state.me.name + " (" + state.me.role + ")";
  for (const a of document.querySelectorAll("nav a[data-nav]")) {
    const target = a.getAttribute("href");
    const on = target === "/" ? path === "/" : path.startsWith(target);
    if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  openStream();
  for (const [re, fn] of routes) {
    const m = path.match(re);
    if (m) {
      try { await fn(...m.slice(1)); } catch (e) { if (e.status !== 401) main().append(errorBox(e)); }
      return;
    }
  }
  page("Not found", h("p", null, "No page at this address."));
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[href]");
  if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  const href = a.getAttribute("href");
  if (href.startsWith("/") && !href.startsWith("//") && !href.startsWith("/api/")) {
    ev.preventDefault();
    go(href);
  }
});
window.addEventListener("popstate", render);
document.addEventListener("keydown", (ev) => {
  if (ev.key === "/" && !/INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) {
    const s = document.querySelector("input[type=search]");
    if (s) { ev.preventDefault(); s.focus(); }
  }
});

function openStream() {
  if (state.stream) return;
  state.stream = new EventSource("/api/stream");
  state.stream.addEventListener("ticket", (ev) => {
    let e = {};
    try { e = JSON.parse(ev.data); } catch (x) { return; }
    if (state.reload) state.reload(e);
  });
  state.stream.addEventListener("chat", (ev) => {
    let e = {};
    try { e = JSON.parse(ev.data); } catch (x) { return; }
    if (state.onChat) state.onChat(e);
  });
}

/* ------------------------------------------------------------------ sign-in */

function loginPage() {
  document.getElementById("top").hidden = true;
  const err = h("p", { class: "error", role: "alert" });
  const name = h("input", { name: "name", id: "login-name", autocomplete: "username", required: true });
  const pw = h("input", { name: "password", id: "login-password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "login", onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try {
      state.me = await api("/api/login", { name: name.value, password: pw.value });
      go("/");
    } catch (e) { err.textContent = e.message; }
  } },
  h("h1", null, "Sign in to Hutch"),
  h("label", null, "Name", name), h("label", null, "Password", pw),
  h("button", { class: "primary", type: "submit", id: "login-submit" }, "Sign in"), err);
  main().replaceChildren(form);
  document.title = "Sign in · Hutch";
  name.focus();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("signout").addEventListener("click", async () => {
    try { await api("/api/logout", {}); } catch (e) { /* signed out anyway */ }
    state.me = null;
    if (state.stream) { state.stream.close(); state.stream = null; }
    go("/login");
  });
  render();
});

/* ------------------------------------------------------------------ dashboard */

function chart(rows) {
  /* alerts per hour (last 24 h), one bar per hour, its sources in the tooltip */
  const NS = "http://www.w3.org/2000/svg";
  const hours = new Map();
  for (const r of rows) {
    const k = r.hour;
    if (!hours.has(k)) hours.set(k, { total: 0, parts: [] });
    const e = hours.get(k);
    e.total += r.count;
    e.parts.push(r.source + ": " + r.count);
  }
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", "0 0 720 180");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Alerts per hour by source, last 24 hours");
  const now = Date.now(), max = Math.max(1, ...[...hours.values()].map((e) => e.total));
  for (const [k, e] of hours) {
    const slot = 23 - Math.floor((now - new Date(k).getTime()) / 3600000);
    if (slot < 0 || slot > 23) continue;
    const hgt = Math.max(2, (e.total / max) * 150);
    const rect = document.createElementNS(NS, "rect");
    rect.setAttribute("x", String(slot * 30 + 2));
    rect.setAttribute("y", String(160 - hgt));
    rect.setAttribute("width", "26");
    rect.setAttribute("height", String(hgt));
    const t = document.createElementNS(NS, "title");
    t.textContent = when(k) + " — " + e.total + " alerts (" + e.parts.join(", ") + ")";
    rect.append(t);
    svg.append(rect);
    const lbl = document.createElementNS(NS, "text");
    lbl.setAttribute("x", String(slot * 30 + 4));
    lbl.setAttribute("y", "175");
    lbl.textContent = String(e.total);
    svg.append(lbl);
  }
  return svg;
}

async function dashboard() {
  const here = location.pathname;
  const d = await api("/api/dashboard");
  if (location.pathname !== here) return; /* moved on meanwhile */
  const sevs = ["critical", "high", "medium", "low", "info", "none"];
  const bySev = h("table", null, h("tr", null, h("th", null, "Severity"), h("th", null, "Open")),
    sevs.filter((s) => d.open_by_severity[s]).map((s) =>
      h("tr", null, h("td", null, sev(s === "none" ? "untriaged" : s)),
        h("td", null, link("/tickets?status=open&severity=" + s, String(d.open_by_severity[s]))))));
  const sources = [...new Set(d.alerts_per_hour.map((r) => r.source))];
  page("Dashboard",
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "muted" }, "Open tickets"), h("div", { class: "big", id: "open-count" }, d.open_tickets), bySev),
      h("div", { class: "card" }, h("div", { class: "muted" }, "Dead letters (not replayed)"),
        h("div", { class: "big", id: "dead-letters" }, link("/dlq", String(d.dead_letters))),
        h("div", { class: "muted" }, d.dead_events + " events dead in policy")),
      h("div", { class: "card", id: "policy-state" }, h("div", { class: "muted" }, "Policy service (hutch-policy)"),
        d.policy_service.length ? d.policy_service.map((p) => h("div", { class: "policy-instance" },
          h("div", null, h("strong", { class: p.state === "ok" ? "status-resolved" : "error" }, p.state === "ok" ? "loaded" : "stale"),
            " · generation " + p.generation + " · " + p.modules + " modules", h("span", { class: "muted" }, " (" + p.instance + ")")),
          h("div", { class: "muted" }, "last load " + when(p.loaded_at)),
          p.error ? h("div", { class: "error policy-error" }, "reload failed " + when(p.failed_at) + ": " + p.error) : null))
          : h("div", { class: "muted" }, "hutch-policy has not reported its state yet"),
        h("div", { class: "muted" }, "Playground: " + (d.playground_policy.error ? "not loaded: " + d.playground_policy.error
          : d.playground_policy.modules + " modules"))),
      h("div", { class: "card", id: "intel-quota" }, h("div", { class: "muted" }, "Threat-intel quota"),
        d.intel_quota.length ? h("table", null, h("tr", null, h("th", null, "Provider"), h("th", null, "Today"), h("th", null, "Tokens"), h("th", null, "")),
          d.intel_quota.map((q) => h("tr", null, h("td", null, q.provider),
          h("td", null, String(q.used_today)), h("td", null, q.tokens === null ? "" : String(q.tokens)),
          h("td", null, q.cooldown_until ? "cool-down until " + when(q.cooldown_until) : ""))))
          : h("div", null, "no provider used yet"))),
    h("h2", null, "Alerts per hour by source (24 h)"), chart(d.alerts_per_hour),
    h("p", { class: "legend muted" }, sources.length ? "Sources: " + sources.join(", ") : "No alerts in the last 24 hours."),
    h("h2", null, "Why events were ignored (24 h)"),
    d.ignored_reasons.length ? h("table", null, h("tr", null, h("th", null, "Reason"), h("th", null, "Events")),
      d.ignored_reasons.map((r) => h("tr", null, h("td", null, r.reason || "(none)"), h("td", null, r.count))))
      : h("p", { class: "muted" }, "Nothing ignored."));
  state.reload = () => { clearTimeout(state.t); state.t = setTimeout(() => { if (location.pathname === "/") dashboard(); }, 500); };
}

/* ------------------------------------------------------------------ tickets */

async function ticketList() {
  const params = new URLSearchParams(location.search);
  const f = (name, label, options) => {
    const sel = h("select", { name, id: "f-" + name }, h("option", { value: "" }, "any"),
      options.map((o) => h("option", { value: o, selected: params.get(name) === o }, o)));
    return h("label", null, label, sel);
  };
  const q = h("input", { type: "search", name: "q", id: "f-q", value: params.get("q") || "", placeholder: "title or id  ( / )" });
  const assignee = h("input", { name: "assignee", id: "f-assignee", value: params.get("assignee") || "" });
  const form = h("form", { class: "filters", onsubmit: (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    go("/tickets" + (p.toString() ? "?" + p : ""));
  } },
  f("status", "Status", ["open", "resolved", "archived"]),
  f("severity", "Severity", ["critical", "high", "medium", "low", "info", "none"]),
  h("label", null, "Assignee", assignee), h("label", null, "Search", q),
  f("sort", "Sort by", ["last_alert", "created"]), f("order", "Order", ["desc", "asc"]),
  h("button", { type: "submit", class: "primary" }, "Apply"));
  const here = location.pathname;
  const doc = await api("/api/tickets?" + params);
  if (location.pathname !== here) return; /* moved on meanwhile */
  const rows = doc.tickets.map((t) => h("tr", { "data-ticket": t.ticket_id },
    h("td", null, link("/tickets/" + t.ticket_id, t.title)), h("td", null, statusText(t.status)),
    h("td", null, sev(t.severity)), h("td", null, t.alert_count), h("td", { class: "hide-narrow" }, t.assignee || ""),
    h("td", { class: "hide-narrow" }, when(t.last_alert_at))));
  const nav = h("div", { class: "row" });
  if (params.get("after")) nav.append(h("button", { type: "button", onclick: () => history.back() }, "Previous page"));
  if (doc.next) {
    const p = new URLSearchParams(params); p.set("after", doc.next);
    nav.append(h("button", { type: "button", id: "next-page", onclick: () => go("/tickets?" + p) }, "Next page"));
  }
  page("Tickets", form, h("div", { class: "scroll" }, h("table", { id: "tickets" },
    h("tr", null, h("th", null, "Title"), h("th", null, "Status"), h("th", null, "Severity"), h("th", null, "Alerts"),
      h("th", { class: "hide-narrow" }, "Assignee"), h("th", { class: "hide-narrow" }, "Last alert")), rows)),
    doc.tickets.length ? null : h("p", { class: "muted" }, "No tickets match."), nav);
  state.reload = (e) => {
    if (params.get("after")) { flash("Tickets changed: go to the first page to see them"); return; }
    clearTimeout(state.t);
    state.t = setTimeout(() => { if (location.pathname === "/tickets") { ticketList(); flash("Tickets updated"); } }, 300);
  };
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter((p) => p[1] !== null && p[1] !== undefined && p[1] !== "")
    .map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
}
function attributes(list) {
  if (!Array.isArray(list) || !list.length) return "";
  return h("ul", null, list.map((a) => {
    const href = a && a.link ? safeHref(a.link) : null;
    const v = a && typeof a.value === "object" ? JSON.stringify(a.value) : String(a && a.value);
    return h("li", null, String(a && a.key) + ": ", href ? h("a", { href, rel: "noopener noreferrer", target: "_blank" }, v) : v);
  }));
}
function indicators(list) {
  if (!list || !list.length) return "";
  return h("ul", null, list.map((i) => h("li", null, i.type + " " + i.value,
    (i.verdicts || []).map((v) => { const href = safeHref(v.link);
      return [" · ", href ? h("a", { href, rel: "noopener noreferrer", target: "_blank" }, v.provider) : v.provider, ": " + v.verdict]; }))));
}

function actionForm(id, title, fields, submitText, run) {
  const err = h("p", { class: "error", role: "alert" });
  const form = h("form", { id, onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try { await run(form); } catch (e) { err.textContent = e.message; }
  } }, h("strong", null, title), fields, h("button", { type: "submit", class: "primary" }, submitText), err);
  return form;
}

async function ticketPage(id) {
  const here = location.pathname;
  const d = await api("/api/tickets/" + id);
  if (location.pathname !== here) return; /* moved on meanwhile */
  const t = d.ticket;
  /* an action done: the page shows what the server has, typed values are spent */
  const post = async (verb, body) => { const r = await api("/api/tickets/" + id + "/" + verb, body); state.edits = {}; await ticketPage(id); return r; };
  const finding = t.finding && typeof t.finding === "object" ? t.finding : null;
  const parts = [
    kv([["Status", statusText(t.status)], ["Severity", sev(t.severity)], ["Assignee", t.assignee || "unassigned"],
      ["Conclusion", t.conclusion || ""], ["Reason", t.reason || t.resolve_reason || ""],
      ["Merged into", t.merged_into ? link("/tickets/" + t.merged_into, t.merged_into) : ""],
      ["Alerts", t.alert_count], ["Namespace", t.namespace], ["Created", when(t.created_at)], ["Last alert", when(t.last_alert_at)],
      ["Id", t.ticket_id]]),
    t.description ? [h("h2", null, "Description"), h("p", null, t.description)] : null,
    finding ? [h("h2", null, "Finding"), kv([["Severity", sev(finding.severity)], ["Summary", finding.summary],
      ["Reason", finding.reason], ["Recommendation", finding.recommendation]])] : null,
    t.summary ? [h("h2", null, "Summary"), h("p", { class: "notice" }, "Written by a language model: check it against the alerts below."),
      h("p", { id: "summary" }, t.summary)] : null,
  ];
  let actions = null;
  if (canChange()) {
    const concl = h("select", { name: "conclusion", id: "resolve-conclusion", required: true },
      CONCLUSIONS.map((c) => h("option", { value: c }, c)));
    const reason = h("textarea", { name: "reason", id: "resolve-reason", rows: 3, style: null });
    reason.style.minHeight = "4rem";
    const assignee = h("input", { name: "assignee", id: "assign-name", value: t.assignee || "" });
    const title = h("input", { name: "title", id: "edit-title", value: t.title });
    const desc = h("textarea", { name: "description", id: "edit-description" }, t.description || "");
    desc.style.minHeight = "4rem";
    const source = h("input", { name: "source", id: "merge-source", placeholder: "ticket id to merge into this one" });
    const thr = h("input", { name: "threshold", id: "salvage-threshold", type: "number", min: 0, max: 1, step: 0.01, value: 0.8 });
    const kw = h("input", { name: "keyword", id: "salvage-keyword" });
    const preview = h("p", { class: "muted", id: "salvage-preview" });
    const raise = h("select", { name: "severity", id: "severity-value" },
      ["info", "low", "medium", "high", "critical"].map((v) => h("option", { value: v, selected: v === t.severity }, v)));
    actions = [h("h2", null, "Actions"), h("div", { class: "actions" },
      t.status === "open" ? actionForm("resolve-form", "Resolve", [h("label", null, "Conclusion", concl), h("label", null, "Reason", reason)],
        "Resolve", () => post("resolve", { conclusion: concl.value, reason: reason.value })) :
        actionForm("reopen-form", "Reopen", [], "Reopen", () => post("reopen", {})),
      t.status !== "archived" ? actionForm("archive-form", "Archive", [], "Archive", () => post("archive", {})) : null,
      actionForm("severity-form", "Raise severity", [h("label", null, "Severity", raise)], "Raise",
        () => post("severity", { severity: raise.value })),
      actionForm("assign-form", "Assign", [h("label", null, "Assignee (empty: nobody)", assignee)], "Assign",
        () => post("assign", { assignee: assignee.value })),
      actionForm("edit-form", "Edit", [h("label", null, "Title", title), h("label", null, "Description", desc)], "Save",
        () => post("edit", { title: title.value, description: desc.value })),
      actionForm("merge-form", "Merge another ticket into this one", [h("label", null, "Ticket id", source)], "Merge",
        () => post("merge", { source: source.value.trim() })),
      actionForm("salvage-form", "Salvage similar unbound alerts", [h("label", null, "Similarity threshold", thr),
        h("label", null, "Keyword (optional)", kw), preview,
        h("button", { type: "button", onclick: async () => {
          try { const r = await api("/api/tickets/" + id + "/salvage", { threshold: Number(thr.value), keyword: kw.value || null, dry_run: true });
            preview.textContent = r.count + " alerts would join"; } catch (e) { preview.textContent = e.message; } } }, "Preview")],
        "Salvage", () => post("salvage", { threshold: Number(thr.value), keyword: kw.value || null, dry_run: false })))];
  }
  const checks = [];
  const alertRows = d.alerts.map((a) => {
    const cb = canChange() ? h("input", { type: "checkbox", value: a.alert_id, "aria-label": "select alert " + a.title }) : null;
    if (cb) checks.push(cb);
    return h("tr", null, cb ? h("td", null, cb) : null, h("td", null, link("/alerts/" + a.alert_id, a.title)),
      h("td", null, a.schema), h("td", null, sev(a.severity)), h("td", null, attributes(a.attributes)),
      h("td", null, indicators(a.indicators)), h("td", { class: "hide-narrow" }, when(a.created_at)));
  });
  const unmerge = canChange() && d.alerts.length ? h("button", { type: "button", id: "unmerge", onclick: async () => {
    const ids = checks.filter((c) => c.checked).map((c) => c.value);
    if (!ids.length) { flash("Select alerts to unmerge first"); return; }
    try { const r = await post("unmerge", { alert_ids: ids }); flash("Alerts moved to ticket " + r.ticket_id); } catch (e) { flash(e.message); }
  } }, "Unmerge selected alerts") : null;
  const chatLink = h("p", null, link("/tickets/" + id + "/chat", "Chat with the agent about this ticket"));
  const focused = document.activeElement;
  const caret = focused && focused.id && typeof focused.selectionStart === "number"
    ? { id: focused.id, start: focused.selectionStart, end: focused.selectionEnd } : focused && focused.id ? { id: focused.id } : null;
  page(t.title, parts, chatLink, actions,
    h("h2", null, "Alerts (" + d.alerts.length + ")"), unmerge,
    h("div", { class: "scroll" }, h("table", { id: "alerts" }, h("tr", null, canChange() ? h("th", null, "") : null, h("th", null, "Title"),
      h("th", null, "Schema"), h("th", null, "Severity"), h("th", null, "Attributes"), h("th", null, "Indicators"),
      h("th", { class: "hide-narrow" }, "Created")), alertRows)),
    h("h2", null, "Similar tickets"), d.similar.length ? h("ul", null, d.similar.map((s) =>
      h("li", null, link("/tickets/" + s.ticket_id, s.title), " — ", statusText(s.status)))) : h("p", { class: "muted" }, "None."),
    h("h2", null, "History"),
      h("table", { id: "history" }, h("tr", null, h("th", null, "When"), h("th", null, "Who"), h("th", null, "What"), h("th", null, "Detail")),
        d.history.map((e) => h("tr", null, h("td", null, when(e.at)), h("td", null, e.actor), h("td", null, e.kind),
          h("td", null, e.detail ? JSON.stringify(e.detail) : "")))));
  keepEdits(caret);
  state.reload = (e) => { if (e.ticket_id === id) { ticketPage(id); flash("Ticket updated"); } };
}

/* A live update redraws the ticket page: what someone is typing into its forms (a
 * resolve reason, a new title) is put back, and the focus and caret where they were
 * (`caret`: the element focused before the redraw), so an event arriving meanwhile loses
 * nothing. state.edits: element id -> value typed on this page. */
function keepEdits(caret) {
  if (!state.edits) state.edits = {};
  for (const [id, value] of Object.entries(state.edits)) {
    const el = document.getElementById(id);
    if (el) el.value = value;
  }
  const el = caret && document.getElementById(caret.id);
  if (el && el !== document.activeElement) {
    el.focus({ preventScroll: true });
    if (caret.start != null && el.setSelectionRange) try { el.setSelectionRange(caret.start, caret.end); } catch (x) { /* not a text field */ }
  }
}
for (const type of ["input", "change"]) {
  document.addEventListener(type, (ev) => {
    const el = ev.target;
    if (state.edits && el.id && el.closest("form") && el.type !== "checkbox") state.edits[el.id] = el.value;
  });
}

/* ------------------------------------------------------------------ alerts, events */

async function alertPage(id) {
  const here = location.pathname;
  const d = await api("/api/alerts/" + id);
  if (location.pathname !== here) return; /* moved on meanwhile */
  const a = d.alert;
  page(a.title,
    kv([["Schema", a.schema], ["Severity", sev(a.severity)], ["Source", a.source], ["Namespace", a.namespace],
      ["Ticket", d.ticket ? link("/tickets/" + d.ticket.ticket_id, d.ticket.title) : "not bound"],
      ["Policy", a.policy_package || (d.event && d.event.policy_package)], ["Created", when(a.created_at)], ["Id", a.alert_id]]),
    a.description ? h("p", null, a.description) : null,
    h("h2", null, "Attributes"), attributes(a.attributes) || h("p", { class: "muted" }, "None."),
    h("h2", null, "Indicators"), indicators(d.indicators) || h("p", { class: "muted" }, "None."),
    h("h2", null, "Event"), d.event ? kv([["Status", d.event.status], ["Policy", d.event.policy_package], ["Reason", d.event.reason],
      ["Received", when(d.event.received_at)], ["Event id", d.event.event_id]]) : null,
    h("h2", null, "Raw payload"), h("pre", { id: "payload" }, JSON.stringify(d.payload, null, 2)),
    h("h2", null, "Similar alerts"), d.similar.length ? h("ul", null, d.similar.map((s) =>
      h("li", null, link("/alerts/" + s.alert_id, s.title), " ", h("span", { class: "muted" }, when(s.created_at))))) :
      h("p", { class: "muted" }, "None."));
}

function eventsTable(events) {
  return h("div", { class: "scroll" }, h("table", { id: "events" }, h("tr", null, h("th", null, "Received"), h("th", null, "Schema"),
    h("th", null, "Status"), h("th", null, "Reason"), h("th", null, "Policy"), h("th", null, "Alerts")),
    events.map((e) => h("tr", null, h("td", null, when(e.received_at)), h("td", null, e.schema), h("td", null, e.status),
      h("td", null, e.reason || ""), h("td", null, e.policy_package || ""),
      h("td", null, e.alert_ids.map((a, i) => [i ? ", " : "", link("/alerts/" + a, a.slice(0, 8))]))))));
}

async function eventList() {
  const params = new URLSearchParams(location.search);
  const status = h("select", { name: "status", id: "f-status" }, h("option", { value: "" }, "any"),
    ["accepted", "ignored", "dead", "received"].map((s) => h("option", { value: s, selected: params.get("status") === s }, s)));
  const here = location.pathname;
  const schemas = await api("/api/schemas");
  const schema = h("select", { name: "schema", id: "f-schema" }, h("option", { value: "" }, "any"),
    schemas.map((s) => h("option", { value: s, selected: params.get("schema") === s }, s)));
  const form = h("form", { class: "filters", onsubmit: (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    go("/events" + (p.toString() ? "?" + p : ""));
  } }, h("label", null, "Status", status), h("label", null, "Schema", schema), h("button", { type: "submit", class: "primary" }, "Apply"));
  const doc = await api("/api/events?" + params);
  if (location.pathname !== here) return; /* moved on meanwhile */
  const nav = h("div", { class: "row" });
  if (doc.next) { const p = new URLSearchParams(params); p.set("after", doc.next);
    nav.append(h("button", { type: "button", onclick: () => go("/events?" + p) }, "Next page")); }
  page("Events", form, eventsTable(doc.events), nav);
}

async function dlqPage() {
  const params = new URLSearchParams(location.search);
  const topic = h("input", { name: "topic", id: "f-topic", value: params.get("topic") || "", placeholder: "e.g. hutch.events.raw" });
  const consumer = h("input", { name: "consumer", id: "f-consumer", value: params.get("consumer") || "", placeholder: "e.g. hutch-policy" });
  const form = h("form", { class: "filters", onsubmit: (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v.trim());
    go("/dlq" + (p.toString() ? "?" + p : ""));
  } }, h("label", null, "Source topic", topic), h("label", null, "Consumer", consumer), h("button", { type: "submit", class: "primary" }, "Apply"));
  const here = location.pathname;
  const doc = await api("/api/dlq?" + params);
  if (location.pathname !== here) return; /* moved on meanwhile */
  const nav = h("div", { class: "row" });
  if (doc.next) { const p = new URLSearchParams(params); p.set("after", doc.next);
    nav.append(h("button", { type: "button", id: "next-page", onclick: () => go("/dlq?" + p) }, "Next page")); }
  const rows = doc.dead_letters.map((d) => {
    const replay = canChange() ? h("button", { type: "button", class: "replay", "data-id": d.dlq_id, onclick: async (ev) => {
      ev.target.disabled = true;
      try {
        const r = await api("/api/dlq/" + d.dlq_id + "/replay", {});
        flash("Replayed to " + r.source_topic);
        await dlqPage();
      } catch (e) { ev.target.disabled = false; flash(e.message); }
    } }, "Replay") : null;
    return h("tr", { "data-id": d.dlq_id }, h("td", null, when(d.dead_at)), h("td", null, d.consumer),
      h("td", null, d.source_topic, h("div", { class: "muted" }, "partition " + d.source_partition + ", offset " + d.source_offset)),
      h("td", { class: "reason" }, d.reason),
      h("td", null, h("details", null, h("summary", null, d.payload_size + " bytes"), h("pre", { class: "preview" }, d.preview))),
      h("td", { class: "replayed" }, d.replay_count ? "replayed " + d.replay_count + "× · last by " + d.replayed_by + " " + when(d.replayed_at) : "—"),
      replay ? h("td", null, replay) : null);
  });
  page("Dead letters", h("p", { class: "muted" }, "Messages a service could not handle (hutch.dlq), with the reason. " +
    "Replay sends the original message to its source topic again: mend the cause first (a policy, a missing record), " +
    "or it is dead-lettered again."), form,
    h("div", { class: "scroll" }, h("table", { id: "dead-letters" }, h("tr", null, h("th", null, "Dead at"), h("th", null, "Consumer"),
      h("th", null, "Source"), h("th", null, "Reason"), h("th", null, "Payload"), h("th", null, "Replayed"),
      canChange() ? h("th", null, "") : null), rows)),
    doc.dead_letters.length ? null : h("p", { class: "muted" }, "No dead letters."), nav);
}

/* ------------------------------------------------------------------ playground, chat */

async function playground() {
  const here = location.pathname;
  const schemas = await api("/api/schemas");
  if (location.pathname !== here) return;
  const schema = h("input", { name: "schema", id: "pg-schema", list: "pg-schemas", required: true, value: schemas[0] || "" });
  const event = h("textarea", { name: "event", id: "pg-event", spellcheck: "false" }, "{\n  \n}");
  const out = h("div", { id: "pg-result", "aria-live": "polite" });
  const form = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    try {
      const d = await api("/api/playground", { schema: schema.value.trim(), event: event.value });
      out.replaceChildren();
      add(out, [h("h2", null, "Decision"),
        kv([["Status", h("strong", { id: "pg-status" }, d.status)], ["Package", d.package || "(none)"], ["Reason", d.reason || ""]]),
        d.alerts.length ? h("table", null, h("tr", null, h("th", null, "Title"), h("th", null, "Severity"), h("th", null, "Attributes")),
          d.alerts.map((a) => h("tr", null, h("td", null, a.title), h("td", null, sev(a.severity)), h("td", null, attributes(a.attributes))))) : null,
        h("pre", null, JSON.stringify(d, null, 2))]);
    } catch (e) { out.replaceChildren(errorBox(e)); }
  } },
  h("div", { class: "row" }, h("label", null, "Schema", schema)),
  h("datalist", { id: "pg-schemas" }, schemas.map((s) => h("option", { value: s }))),
  h("label", null, "Event (JSON)", event),
  h("div", { class: "row" }, h("button", { type: "submit", class: "primary", id: "pg-decide" }, "Decide")));
  page("Policy playground", h("p", { class: "muted" }, "Decides the event against the loaded policies exactly as hutch-policy and `hutchctl policy decide` do; nothing is stored."), form, out);
  if (!canChange()) {
    document.getElementById("pg-decide").disabled = true;
    form.append(h("p", { class: "muted" }, "Viewers cannot run the playground."));
  }
}

/* The text of a stored model turn, whatever the provider's shape: OpenAI
 * {content: "..."}, Anthropic {content: [{type: "text", text}]}, Gemini {parts: [{text}]}. */
function turnText(c) {
  if (typeof c === "string") return c;
  if (!c || typeof c !== "object") return "";
  if (typeof c.content === "string") return c.content;
  const parts = Array.isArray(c.content) ? c.content : Array.isArray(c.parts) ? c.parts : [];
  return parts.filter((p) => p && typeof p.text === "string" && (!p.type || p.type === "text")).map((p) => p.text).join("\n");
}
function pretty(v) {
  if (typeof v === "string") { try { return JSON.stringify(JSON.parse(v), null, 2); } catch (e) { return v; } }
  return JSON.stringify(v, null, 2);
}

function chatTurns(r) {
  const out = [h("div", { class: "msg user" }, h("div", { class: "who muted" }, r.requester + " · " + when(r.requested_at)), h("p", null, r.question))];
  let last = "";
  for (const t of r.turns || []) {
    if (t.role === "tool") {
      const c = t.content || {};
      out.push(h("details", { class: "tool", "data-key": r.request_id + ":" + t.seq }, h("summary", null, "Tool call: " + c.name, c.error ? h("span", { class: "error" }, " (failed)") : null),
        h("div", { class: "muted" }, "arguments"), h("pre", null, pretty(c.args)),
        h("div", { class: "muted" }, c.error ? "error" : "result"), h("pre", null, pretty(c.error || c.result))));
    } else if (t.role === "assistant") {
      const text = turnText(t.content);
      if (text) { out.push(h("div", { class: "msg agent" }, h("p", null, text))); last = text; }
    } else {
      const text = turnText(t.content);
      if (text) out.push(h("p", { class: "muted note" }, text));
    }
  }
  if (r.state === "answered") {
    if (r.answer && r.answer.trim() !== last.trim()) out.push(h("div", { class: "msg agent" }, h("p", null, r.answer)));
  } else {
    out.push(h("p", { class: "muted working", role: "status" }, "The agent is working…"));
  }
  return h("section", { class: "exchange", "data-request": r.request_id }, out);
}

async function ticketChat(id) {
  const here = location.pathname;
  const [t, first] = await Promise.all([api("/api/tickets/" + id), api("/api/tickets/" + id + "/chat")]);
  if (location.pathname !== here) return; /* moved on meanwhile */
  const log = h("div", { id: "chat-log", "aria-live": "polite" });
  const pending = new Map(); /* request_id -> question, until the agent has recorded it */
  let last = "";
  const draw = (doc) => {
    const text = JSON.stringify(doc) + JSON.stringify([...pending]);
    if (text === last) return; /* nothing new: keep the page as it is (focus, open tool calls) */
    last = text;
    const seen = new Set(doc.requests.map((r) => r.request_id));
    for (const k of [...pending.keys()]) if (seen.has(k)) pending.delete(k);
    const open = new Set([...log.querySelectorAll("details[open]")].map((e) => e.getAttribute("data-key")));
    log.replaceChildren(...doc.requests.map(chatTurns),
      ...[...pending.entries()].map(([rid, q]) => chatTurns({ request_id: rid, requester: state.me.name, question: q, turns: [], state: "pending" })));
    for (const e of log.querySelectorAll("details[data-key]")) if (open.has(e.getAttribute("data-key"))) e.open = true;
    if (!doc.requests.length && !pending.size) log.append(h("p", { class: "muted" }, "No questions yet."));
    const busy = pending.size || doc.requests.some((r) => r.state !== "answered");
    clearInterval(state.poll);
    if (busy) state.poll = setInterval(refresh, 3000); /* in case a live event was missed */
  };
  const refresh = async () => {
    if (location.pathname !== "/tickets/" + id + "/chat") { clearInterval(state.poll); return; }
    try { draw(await api("/api/tickets/" + id + "/chat")); } catch (e) { /* the next event tries again */ }
  };
  let form = null;
  if (!first.model) {
    form = h("p", { class: "notice", id: "chat-no-model" }, "No model is configured (HUTCH_LLM_PROVIDER=none): the agent cannot answer questions. " +
      "Set HUTCH_LLM_PROVIDER and its settings for hutch-agent and the console.");
  } else if (!canChange()) {
    form = h("p", { class: "muted", id: "chat-viewer" }, "Viewers can read the chats; analysts and admins can ask.");
  } else {
    const text = h("textarea", { id: "chat-text", name: "text", rows: 3, required: true, maxlength: 4000,
      placeholder: "Ask the agent about this ticket (Ctrl+Enter sends)" });
    text.style.minHeight = "4rem";
    const err = h("p", { class: "error", role: "alert" });
    form = h("form", { id: "chat-form", onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = "";
      const q = text.value;
      if (!q.trim()) return;
      try {
        const r = await api("/api/tickets/" + id + "/chat", { text: q });
        pending.set(r.request_id, q);
        text.value = "";
        await refresh();
      } catch (e) { err.textContent = e.message; }
    } }, h("label", null, "Question", text), h("div", { class: "row" }, h("button", { type: "submit", class: "primary", id: "chat-send" }, "Ask")), err);
    text.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) form.requestSubmit(); });
  }
  page("Chat: " + t.ticket.title, h("p", null, link("/tickets/" + id, "Back to the ticket")),
    h("p", { class: "notice" }, "Answers are written by a language model with the ticket and its alerts in context: check them against the alerts."),
    log, form);
  draw(first);
  state.onChat = (e) => { if (e.ticket_id === id) { clearTimeout(state.ct); state.ct = setTimeout(refresh, 150); } };
  state.reload = null;
}

async function chatPage() {
  const here = location.pathname;
  const list = await api("/api/chats");
  if (location.pathname !== here) return; /* moved on meanwhile */
  page("Chat", h("p", { class: "muted" }, "Chat with the agent from a ticket's page (\u201cChat with the agent about this ticket\u201d). The latest questions:"),
    list.length ? h("table", { id: "chats" }, h("tr", null, h("th", null, "Asked"), h("th", null, "By"), h("th", null, "Ticket"), h("th", null, "Question"), h("th", null, "State")),
      list.map((r) => h("tr", null, h("td", null, when(r.requested_at)), h("td", null, r.requester),
        h("td", null, link("/tickets/" + r.ticket_id + "/chat", r.title)), h("td", null, r.question), h("td", null, r.state))))
      : h("p", { class: "muted" }, "No questions yet."));
}
