// The citizen portal: where (map, point and radius, or a drawn area), what (categories,
// severity), how (channels, contact points, language), when (at once or a digest; quiet hours).
// Registration with one subscription per chosen area (one request); confirmation by the emailed
// link or the texted code. Opened as /#<management token> it adds subscriptions to that citizen.
// The city is the page's (/?city=<id>): its name, categories, languages and colour come from
// GET /v1/cities/{city}; a picker leads to the others when there are others.
import { api, citizenOf, showError } from "/static/api.js";
import { apply, setupLanguages, t, has, onLanguage, lang, languages } from "/static/i18n.js";
import { AreaMap } from "/static/map.js";
import { PlaceSearch } from "/static/place.js";
import { enablePush, pushSupported } from "/static/push.js";
import { loadCity, listCities } from "/static/city.js";

const SEVERITIES = ["unknown", "minor", "moderate", "severe", "extreme"];
const DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const $ = (id) => document.getElementById(id);
const city = document.querySelector("meta[name=notifier-city]").content;
// opened with another city's citizen's token: their city's portal is the one that adds to them
const owner = citizenOf(location.hash.slice(1));
if (owner && owner.city !== city) {
  location.replace(`/?city=${encodeURIComponent(owner.city)}${location.hash}`);
  await new Promise(() => {});  // nothing more of this page: it is being replaced
}
const offered = document.querySelector("meta[name=notifier-channels]").content.split(",").filter(Boolean);
const config = await loadCity(city);

let session = null;  // {token, base, contacts} once registered (or opened with a token)

setupLanguages($("languages"));

function checkbox(container, name, value, labelKey, checked = false) {
  const label = document.createElement("label");
  const input = Object.assign(document.createElement("input"), { type: "checkbox", name, value, checked });
  input.id = `${name}-${value}`;
  const span = document.createElement("span");
  if (has(labelKey)) span.dataset.i18n = labelKey; else span.textContent = value;
  label.append(input, " ", span);
  container.append(label);
  return input;
}

for (const c of config.categories) checkbox($("categories"), "category", c, `category.${c}`);
for (const o of [...$("language").options]) if (!languages().includes(o.value)) o.remove();
for (const s of SEVERITIES) $("min-severity").append(new Option("", s));
for (const d of DAYS) $("digest-day").append(new Option("", d));
const channelBoxes = {};
for (const ch of ["email", "sms", "push"]) {
  if (!offered.includes(ch) || (ch === "push" && !pushSupported())) continue;
  const label = ch === "push" ? "portal.channel.push" : `channel.${ch}`;
  channelBoxes[ch] = checkbox($("channels"), "channel", ch, label, ch === "email");
}
$("phone-field").hidden = !offered.includes("sms");

function relabel() {
  [...$("min-severity").options].forEach((o) => { o.textContent = t(`severity.${o.value}`); });
  [...$("digest-day").options].forEach((o) => { o.textContent = t(`day.${o.value}`); });
  document.title = t("portal.doc_title");
}

/** The other cities of this deployment, when there are others: a plain GET form to /?city=. */
async function cityPicker() {
  const cities = await listCities().catch(() => []);
  if (cities.length < 2) return;
  const select = $("city-picker");
  for (const c of cities) select.append(new Option(c.name, c.id, false, c.id === city));
  $("city-form").hidden = false;
}
cityPicker();
onLanguage(relabel);
relabel();
apply($("subscribe"));  // the checkboxes made above
$("language").value = lang();
onLanguage(() => { if (!session) $("language").value = lang(); });

const map = new AreaMap($("map"), { city, id: "where", search: "place-address" });
new PlaceSearch($("place"), map, { city });  // "Votre adresse", before the map

// the digest and quiet hours fields appear with the choices that need them
document.querySelectorAll("input[name=cadence]").forEach((r) => r.addEventListener("change", () => {
  const v = document.querySelector("input[name=cadence]:checked").value;
  $("digest-fields").hidden = v === "immediate";
  $("digest-day").hidden = $("digest-day-label").hidden = v !== "weekly";
}));
$("quiet").addEventListener("change", () => { $("quiet-times").hidden = !$("quiet").checked; });

// opened from the management page: add subscriptions to that citizen
const hashToken = location.hash.slice(1);
if (hashToken && citizenOf(hashToken)) {
  session = { token: hashToken, base: citizenOf(hashToken).base, contacts: [] };
  $("adding").hidden = false;
  $("contact-fields").hidden = true;
  $("quiet-fields").hidden = true;
  // the token leaves the address bar; the city stays in it
  history.replaceState(null, "", location.pathname + location.search);
}

const fields = () => ({
  email: $("email"), phone: $("phone"), language: $("language"), point: $("where-lat"),
  radius_m: $("where-radius"), quiet_hours: $("quiet-start"), cadence: $("digest-at"),
});

function chosenChannels() {
  return Object.entries(channelBoxes).filter(([, b]) => b.checked).map(([c]) => c);
}

function cadence() {
  const v = document.querySelector("input[name=cadence]:checked").value;
  if (v === "immediate") return "immediate";
  const out = { period: v, at: $("digest-at").value };
  if (v === "weekly") out.day = $("digest-day").value;
  return out;
}

/** Checks what the API would refuse anyway, so the message comes before anything is sent. */
function localProblem(channels) {
  if (map.isEmpty()) return { field: "area", message: t(map.missingKey()) };
  if (!channels.length) return { field: "channels", message: t("portal.error.channels") };
  if (session) return null;
  const email = $("email").value.trim(), phone = $("phone").value.trim();
  if (!email && !phone) return { field: "email", message: t("portal.error.contact") };
  if (channels.includes("email") && !email) return { field: "email", message: t("portal.error.email") };
  if (channels.includes("sms") && !phone) return { field: "phone", message: t("portal.error.phone") };
  return null;
}

function subscriptionBodies(channels) {
  const common = { channels, cadence: cadence(), min_severity: $("min-severity").value };
  const categories = [...document.querySelectorAll("input[name=category]:checked")].map((c) => c.value);
  if (categories.length) common.categories = categories;
  const where = map.value();
  if (where.areas) return where.areas.map((area) => ({ area, ...common }));
  return [{ ...where, ...common }];
}

// With the subscriptions in the same request, the API checks all of it before keeping anything
// (no account is left behind by a subscription it refuses); the subscriptions made, if any.
async function register(channels, subscriptions) {
  const body = { language: $("language").value };
  const email = $("email").value.trim(), phone = $("phone").value.trim();
  if (email) body.email = email;
  if (phone && offered.includes("sms")) body.phone = phone;
  if (subscriptions) body.subscriptions = subscriptions;
  const r = await api("POST", `/v1/cities/${encodeURIComponent(city)}/citizens`, { body });
  session = { token: r.token, base: citizenOf(r.token).base, contacts: r.contacts };
  if ($("quiet").checked) {
    await api("PATCH", session.base, { token: session.token,
      body: { quiet_hours: { start: $("quiet-start").value, end: $("quiet-end").value } } });
  }
  return r.subscriptions || [];
}

$("subscribe").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const errors = $("errors");
  let channels = chosenChannels();
  const problem = localProblem(channels);
  if (problem) {
    showError(errors, { message: problem.message, field: problem.field }, fields());
    return;
  }
  showError(errors, null);
  $("submit").disabled = true;
  const notes = [];
  try {
    const made = [];
    // push needs the account first (the browser's subscription is added with its token)
    const together = !session && !channels.includes("push");
    if (together) made.push(...await register(channels, subscriptionBodies(channels)));
    else if (!session) await register(channels);
    if (channels.includes("push")) {
      try {
        await enablePush(session.base, session.token);
        notes.push(t("push.on"));
      } catch (e) {
        channels = channels.filter((c) => c !== "push");
        notes.push(t(e.message === "denied" ? "push.denied" : "push.failed"));
        if (!channels.length) throw { message: t("push.denied"), field: "channels" };
      }
    }
    for (const body of together ? [] : subscriptionBodies(channels)) {
      made.push(await api("POST", `${session.base}/subscriptions`, { token: session.token, body }));
    }
    showDone(made, notes);
  } catch (e) {
    showError(errors, e, fields());
  } finally {
    $("submit").disabled = false;
  }
});

function showDone(made, notes) {
  const list = $("done-list");
  list.replaceChildren();
  const add = (text) => { const li = document.createElement("li"); li.textContent = text; list.append(li); };
  add(t("portal.done.subscriptions", { n: made.length }));
  for (const c of session.contacts || []) {
    if (c.channel === "email" && c.status === "pending") add(t("portal.done.email", { address: c.address }));
  }
  notes.forEach(add);
  const phone = (session.contacts || []).find((c) => c.channel === "sms" && c.status === "pending");
  $("code-form").hidden = !phone;
  if (phone) { session.phone = phone; add(t("portal.done.sms", { address: phone.address })); }
  $("manage-link").href = `/manage#${session.token}`;
  $("subscribe").hidden = true;
  $("done").hidden = false;
  $("done").focus();
}

$("code-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api("POST", `${session.base}/contacts/${session.phone.id}/confirm`,
      { token: session.token, body: { code: $("code").value.trim() } });
    $("code-status").textContent = t("portal.code.ok");
    $("code-status").className = "ok";
  } catch (e) {
    $("code-status").textContent = e.reason || e.message;
    $("code-status").className = "error";
  }
});

$("another").addEventListener("click", () => {
  $("done").hidden = true;
  $("subscribe").hidden = false;
  $("contact-fields").hidden = true;  // the same citizen: no second registration
  $("adding").hidden = false;
  map.select([]);
  map.focus();
});

$("magic").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const value = $("magic-address").value.trim();
  const body = value.includes("@") ? { email: value } : { phone: value };
  try {
    await api("POST", `/v1/cities/${encodeURIComponent(city)}/magic-link`, { body });
    $("magic-status").textContent = t("portal.magic.sent");
    $("magic-status").className = "ok";
  } catch (e) {
    $("magic-status").textContent = e.status === 429 ? t("error.too_many") : e.message;
    $("magic-status").className = "error";
  }
});
