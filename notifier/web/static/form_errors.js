// A form's errors, as GOV.UK's design system shows them: a summary at the top of the form
// ("There is a problem", a link to each field at fault) that takes the focus, and each message
// beside its field (above the input, linked with aria-describedby, the input aria-invalid).
// Every error of the form at once, in the reader's language, shown again when it changes.
//
// The pages' API (console, manage, portal use the same):
//   showErrors(form, problems, where)  problems: an ApiError (every fault the API found), or a
//       list of {field, key, vars?} (a check made on the page: the key of its string, so that
//       it is shown again in another language), {field, message} or {field, code, reason};
//       where: {field: element or id} or (field) => element|null; the element is a control
//       (input, select, textarea) or a group (fieldset, [role=group]…); a field it does not
//       place is in the summary only. A field is named as the API names it: the part that
//       matters is kept (`subscriptions[0].radius_m` → `radius_m`, `point.lat` → `point`).
//   clearErrors(form)
//   messageFor({field, code, reason}) → the plain message for an API fault, translated:
//       strings `error.field.<field>.<code>`, else `error.code.<code>`, else `error.code.invalid`.
import { t, has, onLanguage } from "/static/i18n.js";

const shown = new Map();  // form -> [problems, where], to show again in another language
let titled = "";  // the "Error: " put before the document's title, in the language it was put

/** The field a page places: `subscriptions[2].point.lat` -> `point`, `categories[0]` -> `categories`. */
export function fieldName(field) {
  if (!field) return "";
  return field.replace(/^subscriptions\[\d+\]\./, "").split(/[.[]/)[0];
}

export function messageFor(fault = {}) { return explain(fault).text; }

// the codes whose message does not say what it is about ("This field is required."): in the
// summary, it is said with the field's label
const GENERIC = new Set(["invalid", "required", "too_long", "not_number", "out_of_range",
  "in_the_past", "too_far_ahead", "not_time", "not_url", "choose_one"]);

/** The message, and whether it is the field's own (else a code's, said of any field). */
function explain({ field, code, reason } = {}) {
  const own = `error.field.${fieldName(field)}.${code}`;
  if (code && has(own)) return { text: t(own, { reason: reason || "" }), own: true };
  const key = code && has(`error.code.${code}`) ? `error.code.${code}` : "error.code.invalid";
  return { text: t(key, { reason: reason || "" }), own: !GENERIC.has(key.slice(11)) };
}

/** What the page calls a field: its label, its group's legend or its accessible name. */
function labelOf(el) {
  const text = el.labels?.[0]?.textContent || el.querySelector?.(":scope > legend")?.textContent ||
    el.getAttribute("aria-label") || "";
  return text.trim().replace(/\s*:$/, "");
}

function listOf(problems) {
  if (!problems) return [];
  if (Array.isArray(problems)) return problems;
  if (problems.errors?.length) return problems.errors;  // an ApiError
  return [problems];
}

function place(where, field) {
  const name = fieldName(field);
  let found = typeof where === "function" ? where(name, field) : where?.[name];
  if (typeof found === "string") found = document.getElementById(found);
  return found instanceof Element && !found.closest("[hidden]") ? found : null;
}

const CONTROL = "input, select, textarea";

function ensureId(el, prefix) {
  if (!el.id) el.id = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  return el.id;
}

function describe(el, id) {
  const ids = (el.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
  if (!ids.includes(id)) el.setAttribute("aria-describedby", [id, ...ids].join(" "));
  el.dataset.errorDescribed = id;
}

function summaryOf(form) {
  let summary = form.querySelector("[data-error-summary]");
  if (!summary) {
    summary = document.createElement("div");
    summary.dataset.errorSummary = "";
    form.prepend(summary);
  }
  summary.classList.add("error-summary");
  summary.tabIndex = -1;
  return summary;
}

/** Remove what showErrors put on the form. */
export function clearErrors(form) {
  if (!form) return;
  shown.delete(form);
  form.querySelectorAll("[data-form-error]").forEach((e) => e.remove());
  form.querySelectorAll(".field-error").forEach((e) => e.classList.remove("field-error"));
  form.querySelectorAll("[data-error-described]").forEach((el) => {
    const gone = el.dataset.errorDescribed;
    const ids = (el.getAttribute("aria-describedby") || "").split(/\s+/).filter((i) => i && i !== gone);
    if (ids.length) el.setAttribute("aria-describedby", ids.join(" "));
    else el.removeAttribute("aria-describedby");
    delete el.dataset.errorDescribed;
  });
  form.querySelectorAll("[data-error-invalid]").forEach((el) => {
    el.removeAttribute("aria-invalid");
    delete el.dataset.errorInvalid;
  });
  const summary = form.querySelector("[data-error-summary]");
  if (summary) { summary.replaceChildren(); summary.hidden = true; }
  if (titled && document.title.startsWith(titled)) document.title = document.title.slice(titled.length);
  titled = "";
}

/** Show every problem: beside its field, and in the summary at the top, which takes focus. */
export function showErrors(form, problems, where = {}, { focus = true } = {}) {
  clearErrors(form);
  const list = listOf(problems);
  if (!list.length) return;
  shown.set(form, [problems, where]);
  const summary = summaryOf(form);
  const items = [];
  const seen = new Set();
  for (const p of list) {
    const el = place(where, p.field);
    const said = p.key ? { text: t(p.key, p.vars), own: true }
      : p.message && !p.code ? { text: p.message, own: true } : explain(p);
    const text = said.text;
    // in the summary, a message said of any field names the field it is about
    const label = !said.own && el ? labelOf(el) : "";
    const listed = label ? t("form.error.labelled", { label, message: text }) : text;
    const key = `${el?.id || p.field}\n${text}`;
    if (seen.has(key)) continue;
    seen.add(key);
    items.push([listed, el ? besideField(el, text) : null]);
  }
  const box = document.createElement("div");
  box.setAttribute("role", "alert");
  const title = document.createElement("h2");
  title.className = "error-summary-title";
  title.id = `${ensureId(form, "form")}-error-title`;
  title.textContent = t("form.error.summary");
  const ul = document.createElement("ul");
  for (const [text, target] of items) {
    const li = document.createElement("li");
    if (target) {
      const a = document.createElement("a");
      a.href = `#${target.id}`;
      a.textContent = text;
      a.addEventListener("click", (ev) => { ev.preventDefault(); target.focus(); target.scrollIntoView({ block: "center" }); });
      li.append(a);
    } else li.textContent = text;
    ul.append(li);
  }
  box.append(title, ul);
  summary.replaceChildren(box);
  summary.setAttribute("aria-labelledby", title.id);
  summary.hidden = false;
  // GOV.UK: the title says there is an error, the first thing a screen reader reads
  titled = t("form.error.title_prefix");
  document.title = titled + document.title;
  if (focus) summary.focus();
}

/** The message above the field (or inside the group); what a summary link should focus. */
function besideField(el, text) {
  const group = !el.matches(CONTROL);
  const id = `${ensureId(el, "field")}-error`;
  let message = document.getElementById(id);
  if (!message) {
    message = document.createElement("p");
    message.className = "error-message";
    message.id = id;
    message.dataset.formError = "";
    if (group) {
      const legend = el.querySelector(":scope > legend");
      if (legend) legend.after(message); else el.prepend(message);
    } else {
      const label = el.labels?.[0];
      // a box in its label (a checkbox) gets the message above its label; a text field just above it
      (label?.contains(el) ? label : el).before(message);
    }
  }
  const line = document.createElement("span");
  line.className = "error-line";
  const hidden = Object.assign(document.createElement("span"), { className: "visually-hidden" });
  hidden.textContent = t("form.error.prefix");
  line.append(hidden, text);
  message.append(line);
  (el.closest(".field") || el).classList.add("field-error");
  describe(el, id);  // a control, or the group (fieldset, [role=group]) that holds the choices
  if (!group) { el.setAttribute("aria-invalid", "true"); el.dataset.errorInvalid = ""; }
  const control = group ? el.querySelector(`${CONTROL}:not([type=hidden]), [tabindex="0"]`) : el;
  if (control && control !== el) ensureId(control, "field");
  return control || el;
}

// after the page's own listeners (which may set the title again in the new language)
onLanguage(() => setTimeout(() => {
  for (const [form, [problems, where]] of [...shown]) showErrors(form, problems, where, { focus: false });
}));
