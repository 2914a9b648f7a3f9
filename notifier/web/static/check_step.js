// The console's check-and-publish step, as GOV.UK Notify has one: before anything goes out, the
// agent sees when it goes and until when, what to look at (a text message cut to fit, French and
// English texts that do not say the same dates, times, numbers or links), the reach per channel
// and every message as it will read, with its SMS segments. The answer is the API's
// POST /v1/cities/{city}/drafts/{id}/check (or /announcements/preview, without the warnings).
import { t, lang } from "/static/i18n.js";

const UNSUBSCRIBE = "@@UNSUBSCRIBE_URL@@";  // each recipient's own link, filled in when sent
const $ = (id) => document.getElementById(id);

/** An element with its text and attributes (the console's list uses it too). */
export function el(name, text = null, attrs = {}) {
  const e = document.createElement(name);
  if (text !== null) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** A date and time in the page's language: "10 décembre 2026 à 14:00". */
export function when(iso) {
  return new Intl.DateTimeFormat(lang(), { dateStyle: "long", timeStyle: "short" }).format(new Date(iso));
}

/** A value the check compares, as a person reads it ("12-05" is 5 December). */
function shown(what, value) {
  if (what !== "dates") return value;
  const parts = value.split("-").map(Number);
  const [y, m, d] = parts.length === 3 ? parts : [null, ...parts];
  const options = { day: "numeric", month: "long", ...(y ? { year: "numeric" } : {}) };
  return new Intl.DateTimeFormat(lang(), options).format(new Date(y || 2000, m - 1, d));
}

function warning(w) {
  if (w.kind === "sms_cut") {
    return t("console.warning.sms_cut", { language: t(`console.language.${w.language}`), segments: w.segments });
  }
  const list = (values) => values.map((v) => shown(w.what, v)).join(", ") || t("console.warning.none");
  return t("console.warning.differs", { what: t(`console.what.${w.what}`), fr: list(w.fr), en: list(w.en) });
}

export function renderCheck(p) {
  const whenList = $("check-when");
  whenList.replaceChildren();
  if (p.scheduled_at !== undefined) {
    whenList.append(el("li", p.scheduled_at ? t("console.check.scheduled", { when: when(p.scheduled_at) }) : t("console.check.now")));
    whenList.append(el("li", p.expires_at ? t("console.check.expires", { when: when(p.expires_at) }) : t("console.check.no_expiry")));
    whenList.append(el("li", t("console.check.languages", { languages: p.languages.map((l) => t(`console.language.${l}`)).join(", ") })));
  }
  const warnings = $("check-warnings");
  warnings.replaceChildren();
  if (p.warnings) {
    if (p.warnings.length) {
      const box = el("div", null, { class: "warning", id: "warnings" });
      box.append(el("h3", t("console.check.warnings")));
      const ul = el("ul");
      for (const w of p.warnings) ul.append(el("li", warning(w), { "data-kind": w.kind, ...(w.what ? { "data-what": w.what } : {}) }));
      box.append(ul);
      warnings.append(box);
    } else warnings.append(el("p", t("console.check.ok"), { id: "warnings-none" }));
  }
  $("reach").textContent = t("console.reach", { n: p.citizens, areas: p.areas });
  const rows = $("reach-table");
  rows.replaceChildren();
  for (const [channel, n] of Object.entries(p.contact_points)) {
    const tr = el("tr", null, { "data-channel": channel });
    tr.append(el("th", t(`channel.${channel}`), { scope: "row" }), el("td", String(n)));
    rows.append(tr);
  }
  const out = $("messages");
  out.replaceChildren();
  for (const [channel, byLang] of Object.entries(p.messages)) {
    for (const [language, m] of Object.entries(byLang)) {
      const h = el("h3", `${t(`channel.${channel}`)} — ${t(`console.language.${language}`)}`);
      const pre = el("pre", null, { class: "message", lang: language, "data-channel": channel });
      out.append(h, pre);
      if (channel === "email") pre.textContent = `${m.subject}\n\n${m.text.replaceAll(UNSUBSCRIBE, t("console.unsubscribe_link"))}`;
      else if (channel === "sms") {
        pre.textContent = m.text;
        out.append(el("p", t("console.sms", { segments: m.segments, encoding: m.encoding, length: m.length }), { class: "hint" }));
      } else pre.textContent = `${m.title}\n${m.body}`;
    }
  }
}
