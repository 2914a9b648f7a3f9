// The department console: sign in with the department's key (kept in sessionStorage for this
// tab only, sent as Bearer), compose an announcement or alert (map, category, severity, content
// in French and English, validity), preview its reach and messages, publish, update, cancel,
// and watch its delivery figures (polled) drawn over time per channel.
// The city is the page's (/console?city=<id>): its categories and languages come from
// GET /v1/cities/{city}; the key and the recent announcements are kept per city.
import { api, showError } from "/static/api.js";
import { setupLanguages, t, has, onLanguage, languages } from "/static/i18n.js";
import { AreaMap } from "/static/map.js";
import { chart, SERIES, seriesValue } from "/static/chart.js";
import { loadCity } from "/static/city.js";
import { setupChanges } from "/static/changes.js";

const SEVERITIES = ["minor", "moderate", "severe", "extreme", "unknown"];
const UNSUBSCRIBE = "@@UNSUBSCRIBE_URL@@";  // each recipient's own link, filled in when sent
const POLL_MS = 2000, POLL_FOR_MS = 10 * 60 * 1000;
const $ = (id) => document.getElementById(id);
const city = document.querySelector("meta[name=notifier-city]").content;
const base = `/v1/cities/${encodeURIComponent(city)}/announcements`;
const KEY = `notifier.console.key.${city}`, RECENT = `notifier.console.events.${city}`;
const config = await loadCity(city);
const LANGS = ["fr", "en"].filter((l) => languages().includes(l));  // content in these

let key = sessionStorage.getItem(KEY);
let map = null;
let current = null;  // {href, id, samples: [{at, counts}], lastChange, timer, last}

setupLanguages($("languages"));
for (const c of config.categories) $("category").append(new Option("", c));
document.querySelectorAll("#compose fieldset[lang]").forEach((f) => { f.hidden = !LANGS.includes(f.lang); });
for (const s of SEVERITIES) $("severity").append(new Option("", s));

function relabel() {
  [...$("category").options].forEach((o) => { o.textContent = has(`category.${o.value}`) ? t(`category.${o.value}`) : o.value; });
  [...$("severity").options].forEach((o) => { o.textContent = t(`level.${o.value}`); });
  document.title = t("console.doc_title");
  renderRecent();
  if (current?.last) renderEvent(current.last);
}
onLanguage(relabel);

// ---- signing in -----------------------------------------------------------------------------
async function checkKey(candidate) {
  // There is no "who am I" route: a preview of an empty draft answers 401/403 for a key that
  // may not publish, and 422 (the draft is empty) for one that may.
  try {
    await api("POST", `${base}/preview`, { token: candidate, body: {} });
    return true;
  } catch (e) {
    if (e.status === 422) return true;
    throw e;
  }
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const candidate = $("key").value.trim();
  const status = $("signin-status");
  if (!candidate) { status.textContent = t("console.key.missing"); status.className = "error"; $("key").focus(); return; }
  try {
    await checkKey(candidate);
    key = candidate;
    sessionStorage.setItem(KEY, key);
    $("key").value = "";
    status.textContent = "";
    await enter();
  } catch (e) {
    status.textContent = e.status === 401 ? t("console.key.refused") : e.message;
    status.className = "error";
  }
});

$("signout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  key = null;
  stopPolling();
  $("workspace").hidden = true;
  $("signin").hidden = false;
  $("key").focus();
});

async function enter() {
  $("signin").hidden = true;
  $("workspace").hidden = false;
  $("signed-in").textContent = t("console.signed_in");
  if (!map) {
    map = new AreaMap($("map"), { city, id: "target" });
    await map.ready;
  }
  relabel();
}

// ---- composing ------------------------------------------------------------------------------
function localIso(input) {  // a datetime-local value, in the browser's time zone, as ISO 8601
  return input.value ? new Date(input.value).toISOString() : undefined;
}

function draft() {
  const content = {};
  for (const lang of LANGS) {
    const title = $(`${lang}-title`).value.trim(), body = $(`${lang}-body`).value.trim();
    if (!title && !body && lang !== config.default_language) continue;
    const c = { title, body };
    const link = $(`${lang}-link`).value.trim(), todo = $(`${lang}-instructions`).value.trim();
    if (link) c.link = link;
    if (todo) c.instructions = todo;
    content[lang] = c;
  }
  const where = map.value();
  const target = {};
  if (where.areas?.length) target.areas = where.areas;
  if (where.point) target.circles = [{ ...where.point, radius_m: where.radius_m }];
  if (where.polygon) target.polygons = [where.polygon];
  const body = { category: $("category").value, severity: $("severity").value, target, content };
  const expires = localIso($("expires"));
  if (expires) body.expires_at = expires;
  return body;
}

const fields = () => ({
  category: $("category"), severity: $("severity"), expires_at: $("expires"),
  scheduled_at: $("scheduled"), content: $("fr-title"),
});

function fieldOf(err) {  // content.en.title -> the English title input
  const m = /^content\.(fr|en)\.(title|body|link|instructions)/.exec(err.field || "");
  return m ? $(`${m[1]}-${m[2]}`) : null;
}

function fail(err) {
  const input = fieldOf(err);
  showError($("errors"), err, fields());
  if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
}

$("preview").addEventListener("click", async () => {
  showError($("errors"), null);
  try {
    const p = await api("POST", `${base}/preview`, { token: key, body: draft() });
    renderPreview(p);
  } catch (e) { fail(e); }
});

function renderPreview(p) {
  $("reach").textContent = t("console.reach", { n: p.citizens, areas: p.areas });
  const rows = $("reach-table");
  rows.replaceChildren();
  for (const [channel, n] of Object.entries(p.contact_points)) {
    const tr = document.createElement("tr");
    tr.dataset.channel = channel;
    const th = document.createElement("th"); th.scope = "row"; th.textContent = t(`channel.${channel}`);
    const td = document.createElement("td"); td.textContent = String(n);
    tr.append(th, td); rows.append(tr);
  }
  const out = $("messages");
  out.replaceChildren();
  for (const [channel, byLang] of Object.entries(p.messages)) {
    for (const [lang, m] of Object.entries(byLang)) {
      const h = document.createElement("h3");
      h.textContent = `${t(`channel.${channel}`)} — ${lang.toUpperCase()}`;
      const pre = document.createElement("pre");
      pre.className = "message"; pre.lang = lang; pre.dataset.channel = channel;
      if (channel === "email") {
        pre.textContent = `${m.subject}\n\n${m.text.replaceAll(UNSUBSCRIBE, t("console.unsubscribe_link"))}`;
      }
      else if (channel === "sms") {
        pre.textContent = m.text;
        const info = document.createElement("p");
        info.className = "hint";
        info.textContent = t("console.sms", { segments: m.segments, encoding: m.encoding, length: m.length });
        out.append(h, pre, info);
        continue;
      } else pre.textContent = `${m.title}\n${m.body}`;
      out.append(h, pre);
    }
  }
  $("preview-panel").hidden = false;
  $("preview-panel").focus();
}

$("compose").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError($("errors"), null);
  const body = draft();
  const scheduled = localIso($("scheduled"));
  if (scheduled) body.scheduled_at = scheduled;
  try {
    const answer = await api("POST", base, {
      token: key, body, headers: { "Idempotency-Key": crypto.randomUUID() },
    });
    remember(answer.href, body.content.fr?.title || body.content.en?.title || answer.id);
    await watch(answer.href);
  } catch (e) { fail(e); }
});

const changes = setupChanges({ token: () => key, href: () => current.href, draft, refresh, fail });

$("new").addEventListener("click", () => {
  stopPolling();
  current = null;
  $("compose").reset();
  map.select([]);
  $("event-panel").hidden = true;
  $("preview-panel").hidden = true;
  editing(false);
  $("category").focus();
});

function editing(on, event = null) {
  $("publish").hidden = on; $("update").hidden = !on; $("new").hidden = !on;
  $("editing").hidden = !on;
  if (on) $("editing").textContent = t("console.editing", { id: event.id, version: event.version });
}

// ---- watching an event ----------------------------------------------------------------------
async function watch(href, fillForm = false) {
  stopPolling();
  current = { href, samples: [], lastChange: Date.now(), timer: null, last: null };
  await refresh();
  if (fillForm && current.last) fill(current.last);
  await changes.opened(current.last);
  $("event-panel").hidden = false;
  $("event-panel").focus();
  current.timer = setInterval(refresh, POLL_MS);
}

/** The compose form holds the event, so that an update starts from it. */
function fill(event) {
  $("category").value = event.category;
  $("severity").value = event.severity;
  for (const lang of ["fr", "en"]) {
    const c = event.content[lang] || {};
    for (const f of ["title", "body", "link", "instructions"]) $(`${lang}-${f}`).value = c[f] || "";
  }
  map.setMode("areas");
  map.select(event.target.areas || []);
}

function stopPolling() {
  if (current?.timer) clearInterval(current.timer);
}

async function refresh() {
  if (!current) return;
  let event;
  try {
    event = await api("GET", current.href, { token: key });
  } catch (e) {
    $("event-summary").textContent = e.message;
    return;
  }
  const counts = event.deliveries;
  const before = current.samples[current.samples.length - 1];
  if (!before || JSON.stringify(before.counts) !== JSON.stringify(counts)) {
    current.lastChange = Date.now();
    changes.cancelState(event);  // who a cancel would tell has changed
  }
  current.samples.push({ at: Date.now(), counts });
  current.last = event;
  current.id = event.id;
  renderEvent(event);
  editing(event.status !== "cancelled", event);
  if (event.status === "cancelled") {
    $("publish").hidden = true; $("new").hidden = false;
    changes.cancelState(event);
  }
  if (Date.now() - current.lastChange > POLL_FOR_MS) stopPolling();
}

function renderEvent(event) {
  const title = event.content.fr?.title || event.content.en?.title || event.id;
  $("event-summary").textContent = t("console.event.summary", {
    title, status: t(`event.${event.status}`), version: event.version, n: event.matched_citizens,
  });
  const rows = $("figures");
  rows.replaceChildren();
  const channels = Object.keys(event.deliveries);
  if (!channels.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td"); td.colSpan = 6; td.textContent = t("console.figures.none");
    tr.append(td); rows.append(tr);
  }
  for (const channel of channels) {
    const counts = event.deliveries[channel];
    const tr = document.createElement("tr");
    tr.dataset.channel = channel;
    const th = document.createElement("th"); th.scope = "row"; th.textContent = t(`channel.${channel}`);
    tr.append(th);
    const shown = new Set();
    for (const series of Object.keys(SERIES)) {
      const td = document.createElement("td");
      td.dataset.series = series;
      td.textContent = String(seriesValue(counts, series));
      SERIES[series].forEach((s) => shown.add(s));
      tr.append(td);
    }
    const other = Object.entries(counts).filter(([s]) => !shown.has(s));
    const td = document.createElement("td");
    td.textContent = other.map(([s, n]) => `${t(`figure.${s}`)}: ${n}`).join(", ") || "0";
    tr.append(td);
    rows.append(tr);
  }
  const charts = $("charts");
  charts.replaceChildren();
  if (current?.samples.length) {
    for (const channel of channels) {
      const fig = document.createElement("figure");
      const cap = document.createElement("figcaption");
      cap.textContent = t(`channel.${channel}`);
      fig.append(cap, chart(channel, current.samples));
      charts.append(fig);
    }
  }
}

// ---- this tab's announcements ---------------------------------------------------------------
function recent() { return JSON.parse(sessionStorage.getItem(RECENT) || "[]"); }

function remember(href, title) {
  const list = recent().filter((e) => e.href !== href);
  list.unshift({ href, title, at: new Date().toISOString() });
  sessionStorage.setItem(RECENT, JSON.stringify(list.slice(0, 20)));
  renderRecent();
}

function renderRecent() {
  const ul = $("recent");
  ul.replaceChildren();
  const list = recent();
  if (!list.length) {
    const li = document.createElement("li"); li.textContent = t("console.recent.none"); ul.append(li);
  }
  for (const e of list) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button"; b.textContent = t("console.open");
    b.setAttribute("aria-label", t("console.open.label", { title: e.title }));
    b.addEventListener("click", () => watch(e.href, true));
    li.append(`${e.title} (${new Date(e.at).toLocaleTimeString()}) `, b);
    ul.append(li);
  }
}

if (key) enter(); else relabel();
