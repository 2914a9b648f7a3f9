// The console's update and cancel forms: an update sends only what the agent changed (the API
// keeps the rest: target, expiry, the other language's text), after a check step that says what
// changed, warns when one language's text changed and not the other's, and shows how many people
// each choice of "who is told again" messages (POST …/{id}/preview); the agent confirms. The
// cancel form says how many already told will get a notice, takes the reason per language, and
// stays disabled once the announcement is cancelled.
import { api } from "/static/api.js";
import { t, onLanguage } from "/static/i18n.js";

const $ = (id) => document.getElementById(id);
const RETELL = ["all", "new", "none"];
const CHANGES = ["area", "validity", "severity", "category", "title", "text", "link"];

/**
 * o: { token() -> the key, href() -> the open announcement's URL, draft() -> the compose form
 * as a body, refresh() -> re-read the announcement, fail(err) -> show an error on the form }.
 */
export function setupChanges(o) {
  let before = null;  // the form as it held the announcement when it was opened
  let checked = null;  // {body, preview}: the update the agent is asked to confirm
  let told = null;  // how many an earlier version reached (the cancel form's count)

  /** Call once the compose form holds the opened announcement (and its figures shown). */
  async function opened(event) {
    before = o.draft();
    checked = null;
    $("update-panel").hidden = true;
    await cancelState(event);
  }

  function changesOf(now) {
    const body = {};
    for (const k of ["category", "severity"]) if (now[k] !== before[k]) body[k] = now[k];
    if (JSON.stringify(now.target) !== JSON.stringify(before.target)) body.target = now.target;
    if (now.expires_at && now.expires_at !== before.expires_at) body.expires_at = now.expires_at;
    const content = {};
    for (const [lang, c] of Object.entries(now.content)) {
      if (JSON.stringify(c) !== JSON.stringify(before.content[lang] || null)) content[lang] = c;
    }
    if (Object.keys(content).length) body.content = content;
    return body;
  }

  // ---- update: check, then confirm --------------------------------------------------------
  $("update").addEventListener("click", async () => {
    const body = changesOf(o.draft());
    $("update-status").textContent = "";
    if (!Object.keys(body).length) {
      $("update-status").textContent = t("console.update.nothing");
      $("update-panel").hidden = false;
      $("update-confirm").hidden = true;
      $("update-choice").hidden = true;
      $("update-panel").focus();
      return;
    }
    try {
      const preview = await api("POST", `${o.href()}/preview`, { token: o.token(), body });
      checked = { body, preview };
      renderCheck();
      $("update-panel").hidden = false;
      $("update-panel").focus();
    } catch (e) { o.fail(e); }
  });

  function renderCheck() {
    if (!checked) return;
    const { preview } = checked;
    $("update-confirm").hidden = false;
    $("update-choice").hidden = false;
    const named = CHANGES.filter((c) => preview.changed.some((x) => x === c || x.endsWith(`.${c}`)));
    const langs = [...new Set(preview.changed.filter((x) => x.includes(".")).map((x) => x.split(".")[0]))];
    $("update-changed").textContent = t("console.update.changed", {
      what: named.map((c) => t(`console.update.what.${c}`)).join(", ") || "—",
      langs: langs.map((l) => l.toUpperCase()).join(", ") || "—",
    });
    const warnings = $("update-warnings");
    warnings.replaceChildren();
    for (const w of preview.warnings) {
      const p = document.createElement("p");
      p.className = "warning";
      const lang = w.field.split(".")[1];
      p.textContent = t("console.update.untranslated", { lang: t(`console.update.lang.${lang}`) });
      warnings.append(p);
    }
    for (const r of RETELL) {
      const n = preview.messaged[r];
      $(`retell-${r}-n`).textContent = n ? t("console.update.count", { n }) : t("console.update.count.zero");
    }
    reachLine();
  }

  function retell() {
    return document.querySelector("input[name=retell]:checked")?.value || "all";
  }

  function reachLine() {
    if (!checked) return;
    const r = retell(), n = checked.preview.messaged[r], again = checked.preview.told_again[r];
    $("update-reach").textContent = r === "none" && n === 0
      ? t("console.update.reach.none")
      : t("console.update.reach", { n, again });
  }

  document.querySelectorAll("input[name=retell]").forEach((i) => i.addEventListener("change", reachLine));

  $("update-confirm").addEventListener("click", async () => {
    if (!checked) return;
    const button = $("update-confirm");
    button.disabled = true;  // one click, one update
    try {
      const answer = await api("PUT", o.href(), {
        token: o.token(), body: { ...checked.body, retell: retell() },
      });
      checked = null;
      $("update-panel").hidden = true;
      $("update-status").textContent = t("console.update.done", { version: answer.version });
      await o.refresh();
      before = o.draft();
    } catch (e) {
      $("update-status").textContent = e.message;
      o.fail(e);
    } finally {
      button.disabled = false;
    }
  });

  // ---- cancel -----------------------------------------------------------------------------
  async function cancelState(event) {
    const done = event?.status === "cancelled";
    $("cancel").disabled = done;
    $("cancel-form").querySelectorAll("input").forEach((i) => { i.disabled = done; });
    if (done) {
      $("cancel-status").textContent = t("console.cancelled");
      $("cancel-status").className = "ok";
      $("cancel-count").textContent = "";
      return;
    }
    try {
      const p = await api("POST", `${o.href()}/preview`, { token: o.token(), body: {} });
      told = p.told;
    } catch (e) { told = null; }
    cancelCount();
  }

  function cancelCount() {
    if (told === null) { $("cancel-count").textContent = ""; return; }
    if (!$("cancel-notify").checked) $("cancel-count").textContent = t("console.cancel.silent");
    else if (!told) $("cancel-count").textContent = t("console.cancel.count.zero");
    else $("cancel-count").textContent = t("console.cancel.count", { n: told });
  }
  $("cancel-notify").addEventListener("change", cancelCount);

  $("cancel-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = $("cancel");
    if (button.disabled) return;
    button.disabled = true;  // a cancel goes once
    const reason = {};
    for (const lang of ["fr", "en"]) {
      const v = $(`cancel-reason-${lang}`)?.value.trim();
      if (v) reason[lang] = v;
    }
    const body = { notify: $("cancel-notify").checked };
    if (Object.keys(reason).length) body.reason = reason;
    try {
      await api("POST", `${o.href()}/cancel`, { token: o.token(), body });
      await o.refresh();
      await cancelState({ status: "cancelled" });
    } catch (e) {
      button.disabled = false;
      $("cancel-status").textContent = e.message;
      $("cancel-status").className = "error";
    }
  });

  onLanguage(() => { renderCheck(); cancelCount(); });
  return { opened, cancelState };
}
