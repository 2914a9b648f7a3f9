// The department console: sign in with the department's key (kept in sessionStorage for this
// tab only, sent as Bearer), compose an announcement or alert (map, category, severity, content
// in French and English, validity) as a draft the server keeps, check it (reach, messages,
// warnings) and publish it once, update, cancel, and watch its delivery figures (polled) drawn
// over time per channel. The department's announcements and drafts are listed from the server.
// The city is the page's (/console?city=<id>): its categories and languages come from
// GET /v1/cities/{city}; ?announcement=evt_… opens an announcement, ?draft=drf_… a draft.
import { api, showError } from "/static/api.js";
import { setupLanguages, t, has, onLanguage, languages, lang } from "/static/i18n.js";
import { AreaMap } from "/static/map.js";
import { renderEvent } from "/static/event_panel.js";
import { loadCity } from "/static/city.js";
import { setupChanges } from "/static/changes.js";
import { Drafts } from "/static/drafts.js";
import { fill as fillForm, localIso } from "/static/compose_form.js";
import { renderCheck } from "/static/check_step.js";
import { AnnouncementList, renderDrafts, consoleUrl, titleOf } from "/static/announcements_list.js";

const SEVERITIES = ["minor", "moderate", "severe", "extreme", "unknown"];
const POLL_MS = 2000, POLL_FOR_MS = 10 * 60 * 1000, RECHECK_MS = 600;
const $ = (id) => document.getElementById(id);
const city = document.querySelector("meta[name=notifier-city]").content;
const cityBase = `/v1/cities/${encodeURIComponent(city)}`;
const base = `${cityBase}/announcements`;
const KEY = `notifier.console.key.${city}`;
const config = await loadCity(city);
const LANGS = ["fr", "en"].filter((l) => languages().includes(l));  // content in these

let key = sessionStorage.getItem(KEY);
let map = null;
let me = null;  // the department the key is for (GET /v1/cities/{city}/department)
let current = null;  // {href, id, samples: [{at, counts}], lastChange, timer, last}
let keptTarget = null;  // the reopened announcement's target, while the map is not touched
let filling = false;  // the form is being filled from the server: not an edit
let checked = false;  // the check panel shows what the form holds
let recheck = null;
let publishing = false;
let lastCheck = null;  // the check shown
const drafts = new Drafts(`${cityBase}/drafts`, () => key);
const list = new AnnouncementList({
  base, city, categories: config.categories, token: () => key, language: lang,
  open: (id) => { go("announcement", id); openAnnouncement(id); },
});

setupLanguages($("languages"));
for (const c of config.categories) $("category").append(new Option("", c));
document.querySelectorAll("#compose fieldset[lang]").forEach((f) => { f.hidden = !LANGS.includes(f.lang); });
for (const s of SEVERITIES) $("severity").append(new Option("", s));

function relabel() {
  [...$("category").options].forEach((o) => { o.textContent = has(`category.${o.value}`) ? t(`category.${o.value}`) : o.value; });
  [...$("severity").options].forEach((o) => { o.textContent = t(`level.${o.value}`); });
  document.title = t("console.doc_title");
  if (me) $("signed-in").textContent = t("console.signed_in", { department: me.names?.[lang()] ?? me.name, city: me.city_name });
  list.relabel();
  showDrafts();
  if (current?.last) { renderEvent(current.last, current.samples); editing(true, current.last); }
  if (checked && lastCheck) renderCheck(lastCheck);
}
onLanguage(relabel);

// ---- signing in -----------------------------------------------------------------------------
async function whoami(candidate) {
  return api("GET", `${cityBase}/department`, { token: candidate });
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const candidate = $("key").value.trim();
  const status = $("signin-status");
  if (!candidate) { status.textContent = t("console.key.missing"); status.className = "error"; $("key").focus(); return; }
  try {
    me = await whoami(candidate);
    key = candidate;
    sessionStorage.setItem(KEY, key);
    $("key").value = "";
    status.textContent = "";
    await enter();
  } catch (e) {
    status.textContent = e.status === 401 || e.status === 403 ? t("console.key.refused") : e.message;
    status.className = "error";
  }
});

$("signout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  key = null; me = null;
  stopPolling();
  drafts.forget();
  $("workspace").hidden = true;
  $("signin").hidden = false;
  $("key").focus();
});

async function enter() {
  if (!me) {
    try { me = await whoami(key); } catch (e) { sessionStorage.removeItem(KEY); key = null; relabel(); return; }
  }
  $("signin").hidden = true;
  $("workspace").hidden = false;
  if (!map) {
    map = new AreaMap($("map"), { city, id: "target" });
    await map.ready;
    map.onChange(() => { if (!filling) { keptTarget = null; edited(); } });
  }
  relabel();
  await route();
  list.refresh();
}

// ---- where the page is: ?announcement=evt_… or ?draft=drf_… ----------------------------------
function go(param, id) {
  history.pushState(null, "", consoleUrl(city, param, id));
}

async function route() {
  const q = new URLSearchParams(location.search);
  if (q.get("announcement")) await openAnnouncement(q.get("announcement"));
  else if (q.get("draft")) await openDraft(q.get("draft"));
  else startNew(false);
}
window.addEventListener("popstate", () => { if (key) route(); });

// ---- composing ------------------------------------------------------------------------------
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
  const body = { category: $("category").value, severity: $("severity").value, target: targetOfForm(), content };
  const expires = localIso($("expires"));
  if (expires) body.expires_at = expires;
  return body;
}

function targetOfForm() {
  if (keptTarget) return keptTarget;  // as the server has it, all its shapes
  const where = map.value();
  const target = {};
  if (where.areas?.length) target.areas = where.areas;
  if (where.point) target.circles = [{ ...where.point, radius_m: where.radius_m }];
  if (where.polygon) target.polygons = [where.polygon];
  return target;
}

function draftBody() {  // what the server keeps of a new announcement: the form, and when
  const body = draft();
  const scheduled = localIso($("scheduled"));
  if (scheduled) body.scheduled_at = scheduled;
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

/** The form changed: the draft is saved a moment later, and a check shown is done again. */
function edited() {
  if (filling || !map) return;
  if (!current) {
    drafts.later(draftBody());
    $("draft-status").textContent = t("console.draft.saving");
  }
  if (!$("preview-panel").hidden) {
    checked = false;
    $("publish").disabled = true;
    $("check-stale").textContent = t("console.check.stale");
    clearTimeout(recheck);
    recheck = setTimeout(() => runCheck(false), RECHECK_MS);
  }
}
$("compose").addEventListener("input", edited);
$("compose").addEventListener("change", edited);

drafts.onSaved((d) => {
  $("draft-status").textContent = t("console.draft.saved", {
    time: new Intl.DateTimeFormat(lang(), { timeStyle: "short" }).format(new Date(d.updated_at)),
  });
  if (!current && new URLSearchParams(location.search).get("draft") !== d.id) {
    history.replaceState(null, "", consoleUrl(city, "draft", d.id));
  }
  showDrafts();
});

// ---- checking, then publishing ----------------------------------------------------------------
async function runCheck(focus = true) {
  showError($("errors"), null);
  clearTimeout(recheck);
  let p;
  try {
    p = current
      ? await api("POST", `${base}/preview`, { token: key, body: draft() })  // an update's reach
      : await drafts.check(draftBody());
  } catch (e) {
    $("check-stale").textContent = "";
    if (focus || $("preview-panel").hidden) fail(e);
    else showError($("errors"), e);
    return;
  }
  lastCheck = p;
  checked = true;
  renderCheck(p);
  $("check-stale").textContent = "";
  $("publish-step").hidden = Boolean(current);
  $("publish").disabled = false;
  $("preview-panel").hidden = false;
  if (focus) $("preview-panel").focus();
}

$("compose").addEventListener("submit", (ev) => { ev.preventDefault(); runCheck(); });

$("publish").addEventListener("click", async () => {
  if (publishing || !checked) return;  // one publication at a time, of what was checked
  publishing = true;
  $("publish").disabled = true;
  $("publish-status").textContent = t("console.draft.publishing");
  try {
    const answer = await drafts.publish();
    $("publish-status").textContent = "";
    $("draft-status").textContent = "";
    go("announcement", answer.id);
    await watch(answer.href);
    list.refresh();
    showDrafts();
  } catch (e) {
    $("publish-status").textContent = "";
    fail(e);
  } finally {
    publishing = false;
    $("publish").disabled = !checked;
  }
});

const changes = setupChanges({ token: () => key, href: () => current.href, draft, refresh, fail });

$("new").addEventListener("click", () => startNew(true));

function startNew(focus) {
  stopPolling();
  current = null;
  keptTarget = null;
  drafts.forget();
  filling = true;
  $("compose").reset();
  if (map) { map.setMode("areas"); map.select([]); }
  filling = false;
  $("event-panel").hidden = true;
  $("preview-panel").hidden = true;
  $("draft-status").textContent = "";
  checked = false;
  editing(false);
  if (new URLSearchParams(location.search).toString() !== new URLSearchParams({ city }).toString()) {
    history.pushState(null, "", consoleUrl(city));
  }
  if (focus) $("category").focus();
}

function editing(on, event = null) {
  $("preview").hidden = false;
  $("update").hidden = !on; $("new").hidden = !on;
  $("scheduled").disabled = on;
  $("editing").hidden = !on;
  if (on) {
    const title = titleOf(event.content, lang()) || "";
    $("editing").textContent = t("console.editing", { title, version: event.version });
  }
}

// ---- drafts ---------------------------------------------------------------------------------
async function showDrafts() {
  if (!key) return;
  let found;
  try { found = await drafts.list(); } catch (e) { return; }
  renderDrafts(found, {
    city, language: lang,
    open: (id) => { go("draft", id); openDraft(id); },
    discard: async (id) => {
      await drafts.discard(id).catch(() => {});
      if (new URLSearchParams(location.search).get("draft") === id) startNew(false);
      showDrafts();
    },
  });
}

async function openDraft(id) {
  stopPolling();
  current = null;
  let d;
  try { d = await drafts.open(id); } catch (e) { startNew(false); fail(e); return; }
  if (d.state !== "draft" && d.announcement) {  // published since: show what it became
    const eid = d.announcement.split("/").pop();
    history.replaceState(null, "", consoleUrl(city, "announcement", eid));
    await openAnnouncement(eid);
    return;
  }
  editing(false);
  $("event-panel").hidden = true;
  $("preview-panel").hidden = true;
  checked = false;
  fill(d.body);
}

// ---- watching an event ----------------------------------------------------------------------
function fill(body) {  // the form from the server's copy, not an edit
  filling = true;
  try { keptTarget = fillForm(body, map); } finally { filling = false; }
}

async function openAnnouncement(id) {
  drafts.forget();
  await watch(`${base}/${encodeURIComponent(id)}`, true);
}

async function watch(href, fillForm = false) {
  stopPolling();
  current = { href, samples: [], lastChange: Date.now(), timer: null, last: null };
  $("preview-panel").hidden = true;
  checked = false;
  await refresh();
  if (!current.last) return;
  if (fillForm) {  // a scheduled announcement shows its time (which an update does not change)
    const e = current.last;
    fill({ ...e, scheduled_at: e.status === "scheduled" ? e.published_at : null });
  }
  await changes.opened(current.last);
  $("event-panel").hidden = false;
  $("event-panel").focus();
  current.timer = setInterval(refresh, POLL_MS);
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
    if (!current.last) { showError($("errors"), e); stopPolling(); current = null; }
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
  renderEvent(event, current.samples);
  editing(event.status !== "cancelled", event);
  if (event.status === "cancelled") {
    $("preview").hidden = true; $("new").hidden = false;
    changes.cancelState(event);
  }
  if (Date.now() - current.lastChange > POLL_FOR_MS) stopPolling();
}

if (key) enter(); else relabel();
