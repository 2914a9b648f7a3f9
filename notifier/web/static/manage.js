// The page the magic link opens (/manage#<token>): contact points (confirm a phone by its
// code, add one, turn on web push here), subscriptions (remove; add through the portal),
// preferences (language, quiet hours), export and erase.
import { api, citizenOf } from "/static/api.js";
import { setupLanguages, t, onLanguage, languages } from "/static/i18n.js";
import { areaName } from "/static/map.js";
import { enablePush, pushSupported } from "/static/push.js";
import { loadCity } from "/static/city.js";

const $ = (id) => document.getElementById(id);
const token = location.hash.slice(1);
const who = token ? citizenOf(token) : null;
let me = null, areas = new Map();

// the citizen's city names the header and the languages; without one, the header says "My alerts"
const brand = document.querySelector("header .brand");
if (who && await loadCity(who.city).then(() => true, () => false)) {
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

function describe(s) {
  const parts = [];
  if (s.kind !== "request") {
    parts.push(s.categories.length ? s.categories.map((c) => t(`category.${c}`)).join(", ") : t("manage.sub.all"));
  }
  parts.push(s.channels.map((c) => t(`channel.${c}`)).join(", "));
  const c = s.cadence || { period: "immediate" };
  if (c.period === "daily") parts.push(t("manage.sub.daily", { at: c.at }));
  else if (c.period === "weekly") parts.push(t("manage.sub.weekly", { day: t(`day.${c.day}`), at: c.at }));
  return parts.join(" · ");
}

function render() {
  const contacts = $("contacts"), subs = $("subs");
  contacts.replaceChildren(); subs.replaceChildren();
  for (const c of me.contacts) {
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
          say(said, e.message, false);  // translated (api.js)
        }
      }, { label: t("manage.resend.label", { what }) }), " ", said);
    }
    item.append(" ", button("manage.remove", async () => {
      await api("DELETE", url, { token });
      await load();
      $("contacts-h")?.focus?.();
    }, { label: t("manage.remove.contact", { what }) }));
    if (c.channel === "sms" && c.status === "pending") item.append(codeForm(c));
    contacts.append(item);
  }
  if (!me.subscriptions.length) subs.append(li(t("manage.subs.none")));
  for (const s of me.subscriptions) {
    const title = document.createElement("strong");
    title.textContent = where(s);
    const detail = document.createElement("div");
    detail.className = "hint"; detail.textContent = describe(s);
    const remove = button("manage.remove", async () => {
      await api("DELETE", `${who.base}/subscriptions/${encodeURIComponent(s.id)}`, { token });
      await load();
      $("subs-h").focus?.();
    }, { label: t("manage.remove.label", { what: where(s) }) });
    subs.append(li(title, " ", remove, detail));
  }
  $("language").value = me.citizen.language;
  const q = me.citizen.quiet_hours;
  $("quiet").checked = !!q;
  if (q) { $("quiet-start").value = q.start; $("quiet-end").value = q.end; }
  $("push-block").hidden = !pushSupported() || !me.offersPush;
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
      await load();
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
    say($("status"), e.status === 401 ? t("manage.expired") : e.message, false);
    $("content").hidden = true;
    return;
  }
  me.offersPush = await fetch("/v1/push/public-key").then((r) => r.ok).catch(() => false);
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
  const value = $("new-contact").value.trim();
  const body = value.includes("@") ? { email: value } : { phone: value };
  try {
    await api("POST", `${who.base}/contacts`, { token, body });
    say($("contact-status"), t(body.email ? "manage.contact.email_sent" : "manage.contact.sms_sent"));
    $("new-contact").value = "";
    await load();
  } catch (e) {
    say($("contact-status"), e.status === 429 ? t("error.too_many") : e.message, false);
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
