// French and English for the pages: the strings are in /static/strings.json, keyed by
// language. Elements carry data-i18n="key" (their text) and data-i18n-attr="attr:key;…".
// A value may hold {name} placeholders, and be {one, other, …} chosen by the plural rules of
// the language for {n} (ordinal rules when the value has "ordinal": true). Placeholders a page
// defines once (the city's name: {city}) are filled in everywhere.
export const LANGUAGES = { fr: "Français", en: "English" };
const STORE = "notifier.lang";
const STRINGS = await (await fetch("/static/strings.json")).json();
const listeners = [];
const defined = {};
let offered = Object.keys(LANGUAGES);  // a city may offer fewer (restrict)

function asked() {  // what the address, an earlier choice or the browser asks for, if anything
  const inUrl = new URLSearchParams(location.search).get("lang");
  if (inUrl in LANGUAGES) return inUrl;
  const kept = localStorage.getItem(STORE);
  if (kept in LANGUAGES) return kept;
  for (const l of navigator.languages || []) {
    const short = l.slice(0, 2).toLowerCase();
    if (short in LANGUAGES) return short;
  }
  return null;
}

let current = asked() || "fr";

export function lang() { return current; }

/** Only these languages on this page (a city's), ``fallback`` when the one asked is not. */
export function restrict(languages, fallback) {
  const ok = Object.keys(LANGUAGES).filter((l) => languages.includes(l));
  if (ok.length) offered = ok;
  const wanted = asked();
  current = offered.includes(wanted) ? wanted : offered.includes(fallback) ? fallback : offered[0];
  document.documentElement.lang = current;
}

export function languages() { return [...offered]; }

/** Placeholders every string of the page may use, e.g. define({city: "Paris"}). */
export function define(vars) { Object.assign(defined, vars); }

export function has(key) { return key in STRINGS[current] || key in STRINGS.fr; }

export function t(key, vars = {}) {
  let value = STRINGS[current][key] ?? STRINGS.fr[key];
  if (value === undefined) return key;
  vars = { ...defined, ...vars };
  if (typeof value === "object") {
    const rules = new Intl.PluralRules(current, value.ordinal ? { type: "ordinal" } : {});
    value = value[rules.select(Number(vars.n))] ?? value.other;
  }
  return value.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

export function apply(root = document) {
  root.querySelectorAll("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
  root.querySelectorAll("[data-i18n-attr]").forEach((e) => {
    for (const pair of e.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      e.setAttribute(attr, t(key));
    }
  });
}

export function onLanguage(fn) { listeners.push(fn); }

export function setLanguage(l) {
  if (!offered.includes(l)) return;
  current = l;
  localStorage.setItem(STORE, l);
  document.documentElement.lang = l;
  apply();
  document.querySelectorAll("button[data-lang]").forEach((b) =>
    b.setAttribute("aria-pressed", String(b.dataset.lang === l)));
  listeners.forEach((fn) => fn(l));
}

/** The switch in the header: one button per language offered (none for one), the current one
 *  pressed. */
export function setupLanguages(nav) {
  for (const code of offered.length > 1 ? offered : []) {
    const name = LANGUAGES[code];
    const b = document.createElement("button");
    b.type = "button"; b.lang = code; b.dataset.lang = code; b.textContent = name;
    b.setAttribute("aria-pressed", String(code === current));
    b.addEventListener("click", () => setLanguage(code));
    nav.append(b);
  }
  document.documentElement.lang = current;
  apply();
}
