// The citizen portal: where (map, point and radius, or a drawn area), what (categories,
// severity), how (channels, contact points, language), when (at once or a digest; quiet hours).
// Registration with one subscription per chosen area (one request); confirmation by the emailed
// link or the texted code. Opened as /#<management token> it adds subscriptions to that citizen.
// The city is the page's (/?city=<id>): its name, categories, languages and colour come from
// GET /v1/cities/{city}; a picker leads to the others when there are others.
import { api, citizenOf } from "/static/api.js";
import { showErrors, clearErrors } from "/static/form_errors.js";
import { apply, setupLanguages, t, has, onLanguage, lang, languages } from "/static/i18n.js";
import { AreaMap } from "/static/map.js";
import { PlaceSearch } from "/static/place.js";
import { browserPushSubscription, enablePush, pushSupported } from "/static/push.js";
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

// where each field the API (or the checks below) may name is shown: the control, or the group
const where = (name) => {
  const map = $("map").closest("fieldset");
  const byName = {
    email: $("email"), phone: $("phone"), language: $("language"), min_severity: $("min-severity"),
    categories: $("categories"), channels: $("channels"), push: $("channels"),
    radius_m: $("where-radius") || map, point: map, polygon: map, area: map,
    quiet_hours: $("quiet-start"), cadence: $("digest-at"),
  };
  return byName[name] || null;
};

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

/** What the page can tell is missing before asking the API (which checks the rest of the
 *  request, all of it, before writing anything): every problem, each by its field. */
function localProblems(channels) {
  const out = [];
  if (map.isEmpty()) out.push({ field: "area", key: map.missingKey() });
  if (!channels.length) out.push({ field: "channels", key: "portal.error.channels" });
  if (!session) {
    const email = $("email").value.trim(), phone = $("phone").value.trim();
    if (!email && !phone) out.push({ field: "email", key: "portal.error.contact" });
    else if (channels.includes("email") && !email) out.push({ field: "email", key: "portal.error.email" });
    if (channels.includes("sms") && !phone) out.push({ field: "phone", key: "portal.error.phone" });
    if ($("quiet").checked && $("quiet-start").value === $("quiet-end").value) {
      out.push({ field: "quiet_hours", key: "error.code.same_times" });
    }
  }
  return out;
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
// (no account is left behind by a subscription it refuses, and every fault comes back at once);
// the subscriptions made.
async function register(subscriptions) {
  const body = { language: $("language").value, subscriptions };
  const email = $("email").value.trim(), phone = $("phone").value.trim();
  if (email) body.email = email;
  if (phone && offered.includes("sms")) body.phone = phone;
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
  const form = $("subscribe");
  let channels = chosenChannels();
  const problems = localProblems(channels);
  if (problems.length) { showErrors(form, problems, where); return; }
  clearErrors(form);
  $("submit").disabled = true;
  const notes = [];
  try {
    // push: the browser's subscription is asked for first, so that a "no" changes the
    // channels before anything is sent; it joins the account once the account is made
    let push = null;
    if (channels.includes("push")) {
      try {
        push = await browserPushSubscription();
      } catch (e) {
        channels = channels.filter((c) => c !== "push");
        notes.push(t(e.message === "denied" ? "push.denied" : "push.failed"));
        if (!channels.length) throw [{ field: "channels", key: "push.denied" }];
      }
    }
    const made = [];
    if (!session) made.push(...await register(subscriptionBodies(channels)));
    else {
      for (const body of subscriptionBodies(channels)) {
        made.push(await api("POST", `${session.base}/subscriptions`, { token: session.token, body }));
      }
    }
    if (push) {
      try {
        await enablePush(session.base, session.token, push);
        notes.push(t("push.on"));
      } catch (e) {
        notes.push(t("push.failed"));
      }
    }
    showDone(made, notes);
  } catch (e) {
    showErrors(form, e, where);
    if (e.code === "no_citizen" || e.code === "token_revoked") offerSignUpAgain(form);
  } finally {
    $("submit").disabled = false;
  }
});

/** The account this page adds to is gone (erased) or its link revoked: the way forward is a
 *  new sign-up, on the same page, without the token. */
function offerSignUpAgain(form) {
  const again = document.createElement("a");
  again.href = `/?city=${encodeURIComponent(city)}`;
  again.className = "button";
  again.dataset.formError = "";  // goes with the errors
  again.textContent = t("form.signup_again");
  form.querySelector("[data-error-summary] [role=alert]")?.append(again);
}

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

const codeWhere = { code: $("code"), contact: $("code") };

$("code-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = $("code-form");
  $("code-status").textContent = "";
  const code = $("code").value.trim();
  if (!/^[0-9]{6}$/.test(code)) {
    showErrors(form, [{ field: "code", key: code ? "error.code.not_code" : "error.field.code.required" }], codeWhere);
    return;
  }
  clearErrors(form);
  try {
    await api("POST", `${session.base}/contacts/${session.phone.id}/confirm`,
      { token: session.token, body: { code } });
    $("code-again").hidden = true;
    $("code-status").textContent = t("portal.code.ok");
    $("code-status").className = "ok";
  } catch (e) {
    showErrors(form, e, codeWhere);
    // the way forward: a new code (sent again, or the number added again once expired)
    $("code-again").hidden = !["wrong_code", "code_expired"].includes(e.code);
    if (e.code === "code_expired") session.phone.expired = true;
  }
});

$("code-again").addEventListener("click", async () => {
  const form = $("code-form");
  try {
    if (session.phone.expired) {
      session.phone = await api("POST", `${session.base}/contacts`,
        { token: session.token, body: { phone: session.phone.address } });
    } else {
      await api("POST", `${session.base}/contacts/${session.phone.id}/resend`, { token: session.token });
    }
    clearErrors(form);
    $("code").value = "";
    $("code-status").textContent = t("form.code.sent", { address: session.phone.address });
    $("code-status").className = "ok";
    $("code").focus();
  } catch (e) {
    showErrors(form, e, codeWhere);
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
  const form = $("magic");
  const value = $("magic-address").value.trim();
  const body = value.includes("@") ? { email: value } : { phone: value };
  $("magic-status").textContent = "";
  if (!value) { showErrors(form, [{ field: "email", key: "portal.error.contact" }], { email: $("magic-address") }); return; }
  try {
    await api("POST", `/v1/cities/${encodeURIComponent(city)}/magic-link`, { body });
    clearErrors(form);
    $("magic-status").textContent = t("portal.magic.sent");
    $("magic-status").className = "ok";
  } catch (e) {
    showErrors(form, e, { email: $("magic-address"), phone: $("magic-address") });
  }
});
