// The page the magic link opens (/manage#<token>): contact points (confirm a phone by its
// code, add one, remove one after saying what keeps working, turn on web push here),
// subscriptions (each with its channels and minimum importance in words; change one in place,
// remove one; add through the portal), preferences (language, quiet hours), export and erase.
import { api, citizenOf } from "/static/api.js";
import { setupLanguages, t, onLanguage, languages } from "/static/i18n.js";
import { areaName } from "/static/map.js";
import { enablePush, pushSupported } from "/static/push.js";
import { loadCity } from "/static/city.js";

const $ = (id) => document.getElementById(id);
const token = location.hash.slice(1);
const who = token ? citizenOf(token) : null;
let me = null, areas = new Map(), city = null;
let editing = null;  // the id of the subscription whose form is open
let removing = null;  // the id of the contact point whose removal is asked
const SEVERITIES = ["unknown", "minor", "moderate", "severe", "extreme"];

// the citizen's city names the header and the languages; without one, the header says "My alerts"
const brand = document.querySelector("header .brand");
if (who && (city = await loadCity(who.city).catch(() => null))) {
  brand.href = `/?city=${encodeURIComponent(who.city)}`;
  for (const o of [...$("language").options]) if (!languages().includes(o.value)) o.remove();
} else {
  brand.dataset.i18n = "manage.brand";
}
setupLanguages($("languages"));

function say(el, text, ok = true) {
  el.textContent = text;
  el.className = ok ? "ok" : "error";
}

function li(...children) {
  const item = document.createElement("li");
  item.append(...children);
  return item;
}

function button(key, onClick, vars = {}, cls = "") {
  const b = document.createElement("button");
  b.type = "button"; b.textContent = t(key); if (cls) b.className = cls;
  if (vars.label) b.setAttribute("aria-label", vars.label);
  b.addEventListener("click", onClick);
  return b;
}

function where(s) {
  if (s.kind === "area") return areas.has(s.area) ? areaName(areas.get(s.area), who.city) : s.area;
  if (s.kind === "point") return t("manage.sub.point", { r: s.radius_m, lat: s.point.lat, lon: s.point.lon });
  if (s.kind === "polygon") return t("manage.sub.polygon");
  if (s.kind === "department") return t("manage.sub.department", { name: s.department });
  if (s.kind === "request") return t("manage.sub.request", { id: s.request });
  return s.kind;
}

function cadenceText(s) {
  const c = s.cadence || { period: "immediate" };
  if (c.period === "daily") return t("manage.sub.daily", { at: c.at });
  if (c.period === "weekly") return t("manage.sub.weekly", { day: t(`day.${c.day}`), at: c.at });
  return t("manage.sub.immediate");
}

function channelsText(channels) {
  if (!channels.length) return t("manage.sub.every_channel");
  return channels.map((c) => t(`channel.${c}`)).join(", ");
}

/** What a subscription holds, in plain words: [label, value] pairs. */
function describe(s) {
  const rows = [];
  if (s.kind !== "request") {
    rows.push(["manage.sub.topics", s.categories.length
      ? s.categories.map((c) => t(`category.${c}`)).join(", ") : t("manage.sub.all")]);
    rows.push(["manage.sub.importance", t(`severity.${s.min_severity}`)]);
  }
  rows.push(["manage.sub.channels", channelsText(s.channels)]);
  rows.push(["manage.sub.cadence", cadenceText(s)]);
  return rows;
}

function details(s) {
  const dl = document.createElement("dl");
  dl.className = "facts";
  for (const [label, value] of describe(s)) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = t(label); dd.textContent = value;
    dl.append(dt, dd);
  }
  return dl;
}

function confirmed(channel) {
  return me.contacts.filter((c) => c.channel === channel && c.status === "confirmed");
}

function render() {
  const contacts = $("contacts"), subs = $("subs");
  contacts.replaceChildren(); subs.replaceChildren();
  for (const c of me.contacts) contacts.append(contactItem(c));
  if (!me.subscriptions.length) subs.append(li(t("manage.subs.none")));
  for (const s of me.subscriptions) subs.append(subscriptionItem(s));
  $("language").value = me.citizen.language;
  const q = me.citizen.quiet_hours;
  $("quiet").checked = !!q;
  if (q) { $("quiet-start").value = q.start; $("quiet-end").value = q.end; }
  $("push-block").hidden = !pushSupported() || !me.offersPush;
}

function contactItem(c) {
  const status = document.createElement("span");
  status.className = "tag"; status.textContent = t(`status.${c.status}`);
  const item = li(`${t(`channel.${c.channel}`)} : ${c.address} `, status);
  const what = `${t(`channel.${c.channel}`)} ${c.address}`;
  const url = `${who.base}/contacts/${encodeURIComponent(c.id)}`;
  if (c.status === "pending" && c.channel !== "push") {
    const said = document.createElement("span");
    said.setAttribute("role", "status");
    item.append(" ", button("manage.resend", async () => {
      try {
        await api("POST", `${url}/resend`, { token });
        say(said, t("manage.resend.sent"));
      } catch (e) {
        say(said, e.status === 429 ? t("error.too_many") : e.message, false);
      }
    }, { label: t("manage.resend.label", { what }) }), " ", said);
  }
  const remove = button("manage.remove", () => {
    removing = c.id; render();
    document.getElementById(`remove-${c.id}-no`)?.focus();
  }, { label: t("manage.remove.contact", { what }) });
  remove.id = `remove-${c.id}`;
  item.append(" ", remove);
  if (c.channel === "sms" && c.status === "pending") item.append(codeForm(c));
  if (removing === c.id) item.append(removalPanel(c, what, url));
  return item;
}

/** "Remove this contact point?" with what keeps working and what would stop. */
function removalPanel(c, what, url) {
  const panel = document.createElement("div");
  panel.className = "panel"; panel.setAttribute("role", "group");
  const q = document.createElement("p");
  q.id = `remove-${c.id}-q`; panel.setAttribute("aria-labelledby", q.id);
  q.textContent = t("manage.remove.question", { what });
  panel.append(q);
  const others = me.contacts.filter((o) => o.id !== c.id && o.status === "confirmed");
  const after = document.createElement("p");
  after.textContent = others.length
    ? t("manage.remove.still", { where: others.map((o) => o.address).join(", ") })
    : t("manage.remove.nothing_left");
  panel.append(after);
  const left = confirmed(c.channel).filter((o) => o.id !== c.id);
  const stranded = left.length ? [] : me.subscriptions.filter((s) =>
    s.channels.length && s.channels.every((ch) => ch === c.channel
      || !me.contacts.some((o) => o.id !== c.id && o.channel === ch && o.status === "confirmed")));
  if (stranded.length) {
    const warn = document.createElement("p");
    warn.className = "warn";
    warn.textContent = t("manage.remove.stranded", { what: stranded.map(where).join(", ") });
    panel.append(warn);
  }
  const yes = button("manage.remove.yes", async () => {
    try {
      await api("DELETE", url, { token });
    } catch (e) {
      say($("contact-status"), e.message, false);
      return;
    }
    removing = null;
    await load();
    say($("contact-status"), others.length
      ? t("manage.removed.still", { what: c.address, where: others.map((o) => o.address).join(", ") })
      : t("manage.removed", { what: c.address }));
    $("contacts-h").focus();
  }, {}, "danger");
  const no = button("manage.remove.no", () => {
    removing = null; render(); document.getElementById(`remove-${c.id}`)?.focus();
  });
  no.id = `remove-${c.id}-no`;
  panel.append(yes, " ", no);
  return panel;
}

function subscriptionItem(s) {
  const title = document.createElement("h3");
  title.id = `sub-${s.id}`; title.tabIndex = -1; title.className = "sub-title";
  title.textContent = where(s);
  const item = li(title, details(s));
  if (s.kind !== "request") {
    const edit = button("manage.edit", () => {
      editing = editing === s.id ? null : s.id; render();
      document.getElementById(`edit-${s.id}`)?.querySelector("input, select")?.focus();
    }, { label: t("manage.edit.label", { what: where(s) }) });
    edit.setAttribute("aria-expanded", String(editing === s.id));
    edit.setAttribute("aria-controls", `edit-${s.id}`);
    item.append(edit, " ");
  }
  item.append(button("manage.remove", async () => {
    await api("DELETE", `${who.base}/subscriptions/${encodeURIComponent(s.id)}`, { token });
    await load();
    $("subs-h").focus?.();
  }, { label: t("manage.remove.label", { what: where(s) }) }));
  if (editing === s.id) item.append(editForm(s));
  return item;
}

function choice(type, name, value, label, checked) {
  const l = document.createElement("label");
  const input = document.createElement("input");
  input.type = type; input.name = name; input.value = value; input.checked = checked;
  l.append(input, ` ${label}`);
  return l;
}

function fieldset(legendKey, id) {
  const f = document.createElement("fieldset");
  const legend = document.createElement("legend");
  legend.textContent = t(legendKey);
  f.append(legend);
  if (id) f.id = id;
  return f;
}

function problem(id) {
  const p = document.createElement("p");
  p.id = id; p.className = "error"; p.hidden = true;
  return p;
}

/** The form that changes a subscription in place: what it holds, the rest kept. */
function editForm(s) {
  const form = document.createElement("form");
  form.id = `edit-${s.id}`; form.className = "panel edit"; form.noValidate = true;
  const p = `e-${s.id}`;
  const topics = fieldset("manage.sub.topics");
  const hint = document.createElement("p");
  hint.className = "hint"; hint.textContent = t("portal.categories.hint");
  const boxes = document.createElement("div"); boxes.className = "choices";
  for (const c of city?.categories || s.categories) {
    boxes.append(choice("checkbox", "categories", c, t(`category.${c}`), s.categories.includes(c)));
  }
  topics.append(hint, boxes);

  const importance = document.createElement("div"); importance.className = "field";
  importance.innerHTML = `<label for="${p}-sev"></label><select id="${p}-sev" name="min_severity"></select>`;
  importance.querySelector("label").textContent = t("manage.sub.importance");
  for (const v of SEVERITIES) {
    const o = new Option(t(`severity.${v}`), v, false, v === s.min_severity);
    importance.querySelector("select").append(o);
  }

  const channels = fieldset("manage.sub.channels", `${p}-channels`);
  const had = new Set(me.contacts.map((c) => c.channel));
  const cBoxes = document.createElement("div"); cBoxes.className = "choices";
  for (const ch of ["email", "sms", "push"]) {
    if (had.has(ch) || s.channels.includes(ch)) {
      cBoxes.append(choice("checkbox", "channels", ch, t(`channel.${ch}`), s.channels.includes(ch)));
    }
  }
  const chErr = problem(`${p}-channels-error`);
  channels.append(chErr, cBoxes);

  const cadence = document.createElement("div"); cadence.className = "field";
  const c = s.cadence || { period: "immediate" };
  cadence.innerHTML = `<label for="${p}-cad"></label><select id="${p}-cad" name="period"></select>
    <label for="${p}-day"></label><select id="${p}-day" name="day"></select>
    <label for="${p}-at"></label><input type="time" id="${p}-at" name="at">`;
  const labels = cadence.querySelectorAll("label");
  labels[0].textContent = t("manage.sub.cadence");
  labels[1].textContent = t("portal.digest.day");
  labels[2].textContent = t("portal.digest.at");
  for (const v of ["immediate", "daily", "weekly"]) {
    cadence.querySelector(`#${p}-cad`).append(new Option(t(`portal.cadence.${v}`), v, false, v === c.period));
  }
  for (const d of ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]) {
    cadence.querySelector(`#${p}-day`).append(new Option(t(`day.${d}`), d, false, d === (c.day || "monday")));
  }
  cadence.querySelector(`#${p}-at`).value = c.at || "18:00";
  const showTimes = () => {
    const period = cadence.querySelector(`#${p}-cad`).value;
    labels[1].hidden = cadence.querySelector(`#${p}-day`).hidden = period !== "weekly";
    labels[2].hidden = cadence.querySelector(`#${p}-at`).hidden = period === "immediate";
  };
  cadence.querySelector(`#${p}-cad`).addEventListener("change", showTimes);
  showTimes();

  form.append(topics, importance, channels, cadence);
  let radius = null;
  if (s.kind === "point") {
    const r = document.createElement("div"); r.className = "field";
    r.innerHTML = `<label for="${p}-r"></label><p class="hint" id="${p}-r-hint"></p>
      <p class="error" id="${p}-r-error" hidden></p>
      <input type="number" id="${p}-r" min="50" max="5000" step="50" aria-describedby="${p}-r-hint">`;
    r.querySelector("label").textContent = t("manage.sub.radius");
    r.querySelector(".hint").textContent = t("manage.sub.radius.hint");
    radius = r.querySelector("input"); radius.value = s.radius_m;
    form.append(r);
  }
  const save = document.createElement("button");
  save.type = "submit"; save.className = "primary"; save.textContent = t("manage.edit.save");
  const cancel = button("manage.edit.cancel", () => {
    editing = null; render(); document.getElementById(`sub-${s.id}`)?.focus();
  });
  const said = document.createElement("p"); said.setAttribute("role", "status");
  form.append(save, " ", cancel, said);

  const invalid = (input, errorEl, key) => {
    errorEl.textContent = t(key); errorEl.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", `${errorEl.id} ${input.getAttribute("aria-describedby") || ""}`.trim());
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    form.querySelectorAll(".error").forEach((e) => { e.hidden = true; });
    form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    const picked = (name) => [...form.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
    const body = {
      categories: picked("categories"),
      min_severity: form.querySelector(`#${p}-sev`).value,
      channels: picked("channels"),
    };
    const period = form.querySelector(`#${p}-cad`).value;
    body.cadence = period === "immediate" ? "immediate"
      : period === "daily" ? { period, at: form.querySelector(`#${p}-at`).value }
      : { period, day: form.querySelector(`#${p}-day`).value, at: form.querySelector(`#${p}-at`).value };
    const wrong = [];
    if (!body.channels.length) {
      invalid(channels, chErr, "manage.error.channels"); wrong.push(channels.querySelector("input"));
    }
    if (radius) {
      const r = Number(radius.value);
      if (!(r >= 50 && r <= 5000)) {
        invalid(radius, form.querySelector(`#${p}-r-error`), "manage.error.radius"); wrong.push(radius);
      } else body.radius_m = r;
    }
    if (wrong.length) { wrong[0]?.focus(); return; }
    save.disabled = true;
    try {
      await api("PATCH", `${who.base}/subscriptions/${encodeURIComponent(s.id)}`, { token, body });
    } catch (e) {
      save.disabled = false;
      say(said, e.status === 0 ? e.reason : t("manage.error.save"), false);
      return;
    }
    editing = null;
    await load();
    say($("subs-status"), t("manage.edit.saved", { what: where(s) }));
    document.getElementById(`sub-${s.id}`)?.focus();
  });
  return form;
}

function codeForm(contact) {
  const form = document.createElement("form");
  const id = `code-${contact.id}`;
  form.innerHTML = `<label for="${id}"></label> <input type="text" id="${id}" inputmode="numeric"
    maxlength="6" autocomplete="one-time-code"> <button type="submit"></button> <span role="status"></span>`;
  form.querySelector("label").textContent = t("portal.code");
  form.querySelector("button").textContent = t("portal.code.submit");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("POST", `${who.base}/contacts/${contact.id}/confirm`,
        { token, body: { code: form.querySelector("input").value.trim() } });
      const before = new Set(me.subscriptions.filter((s) => s.channels.includes("sms")).map((s) => s.id));
      await load();
      const joined = me.subscriptions.filter((s) => s.channels.includes("sms") && !before.has(s.id));
      say($("contact-status"), joined.length
        ? t("manage.confirmed.joined", { n: joined.length, what: contact.address })
        : t("portal.code.ok"));
    } catch (e) {
      say(form.querySelector("span"), e.message, false);  // translated (api.js)
    }
  });
  return form;
}

async function load() {
  try {
    me = await api("GET", who.base, { token });
  } catch (e) {
    $("status").removeAttribute("data-i18n");
    say($("status"), e.status === 401 ? t("manage.expired") : e.message, false);
    $("content").hidden = true;
    return;
  }
  me.offersPush = await fetch("/v1/push/public-key").then((r) => r.ok).catch(() => false);
  $("status").removeAttribute("data-i18n");  // "Loading…" is over: a language switch keeps it so
  $("status").textContent = "";
  $("content").hidden = false;
  render();
}

async function start() {
  if (!who) { say($("status"), t("manage.invalid"), false); return; }
  $("add-sub").href = `/?city=${encodeURIComponent(who.city)}#${token}`;
  try {
    const r = await api("GET", `/v1/cities/${encodeURIComponent(who.city)}/areas`);
    areas = new Map(r.areas.map((a) => [a.code, a]));
  } catch (e) { /* names fall back to codes */ }
  await load();
}

onLanguage(() => { if (me) render(); });

$("add-contact").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("new-contact"), error = $("new-contact-error");
  const value = input.value.trim();
  const body = value.includes("@") ? { email: value } : { phone: value };
  const wrong = (key) => {
    error.textContent = t(key); error.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "new-contact-error new-contact-hint");
    input.focus();
  };
  error.hidden = true; input.removeAttribute("aria-invalid");
  input.setAttribute("aria-describedby", "new-contact-hint");
  $("add-contact-status").textContent = "";
  if (!value) { wrong("manage.error.address.empty"); return; }
  try {
    await api("POST", `${who.base}/contacts`, { token, body });
    say($("add-contact-status"), t(body.email ? "manage.contact.email_sent" : "manage.contact.sms_sent"));
    input.value = "";
    await load();
  } catch (e) {
    if (e.status === 429) say($("add-contact-status"), t("error.too_many"), false);
    else if (e.status === 422 && /at most/.test(e.reason)) wrong("manage.error.address.too_many");
    else if (e.status === 422 && e.field === "email") wrong("manage.error.address.email");
    else if (e.status === 422 && e.field === "phone") wrong("manage.error.address.phone");
    else say($("add-contact-status"), e.status === 0 ? e.reason : t("manage.error.save"), false);
  }
});

$("push-button").addEventListener("click", async () => {
  try {
    await enablePush(who.base, token);
    say($("push-status"), t("push.on"));
    await load();
  } catch (e) {
    say($("push-status"), t(e.message === "denied" ? "push.denied" : "push.failed"), false);
  }
});

$("prefs").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = {
    language: $("language").value,
    quiet_hours: $("quiet").checked ? { start: $("quiet-start").value, end: $("quiet-end").value } : null,
  };
  try {
    await api("PATCH", who.base, { token, body });
    say($("prefs-status"), t("manage.saved"));
  } catch (e) {
    say($("prefs-status"), e.message, false);
  }
});

$("export").addEventListener("click", async () => {
  const r = await fetch(`${who.base}/export`, { headers: { Authorization: `Bearer ${token}` } });
  const url = URL.createObjectURL(await r.blob());
  const a = Object.assign(document.createElement("a"), { href: url, download: `notifier-${who.cid}.json` });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
});

$("erase").addEventListener("click", () => {
  $("erase-confirm").hidden = false;
  $("erase-no").focus();
});
$("erase-no").addEventListener("click", () => { $("erase-confirm").hidden = true; $("erase").focus(); });
$("erase-yes").addEventListener("click", async () => {
  try {
    await api("DELETE", who.base, { token });
    $("content").hidden = true;
    say($("status"), t("manage.erased"));
    $("status").focus?.();
  } catch (e) {
    say($("status"), e.message, false);
  }
});

start();
