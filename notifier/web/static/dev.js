// The dev outbox of `notifier up`: the emails the local SMTP outbox kept (/dev/outbox) and the
// text messages the local Twilio-shaped server took (/dev/sms), newest first, with their
// links clickable (confirm, manage, unsubscribe), refreshed every few seconds.
import { setupLanguages, t, onLanguage } from "/static/i18n.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 3000;
let emails = [], sms = [], open = new Set();

setupLanguages($("languages"));

/** Text with its http(s) links made clickable, built as DOM nodes (no HTML is interpreted). */
function linkified(text) {
  const out = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(/https?:\/\/[^\s<>"]+/g)) {
    out.append(text.slice(last, m.index));
    const a = document.createElement("a");
    a.href = m[0]; a.textContent = m[0];
    out.append(a);
    last = m.index + m[0].length;
  }
  out.append(text.slice(last));
  return out;
}

async function json(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (r.status === 404) return null;  // that outbox is not local
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return (await r.json()).messages;
}

function render() {
  const ul = $("emails");
  ul.replaceChildren();
  if (emails === null) ul.append(item(t("dev.emails.off")));
  else if (!emails.length) ul.append(item(t("dev.none")));
  for (const m of emails || []) {
    const details = document.createElement("details");
    details.open = open.has(m.id);
    details.addEventListener("toggle", () => { if (details.open) open.add(m.id); else open.delete(m.id); });
    const summary = document.createElement("summary");
    const subject = document.createElement("strong");
    subject.textContent = m.subject;
    summary.append(subject, ` — ${t("dev.to")} ${m.to} · ${m.date}`);
    const pre = document.createElement("pre");
    pre.className = "message";
    pre.append(linkified(m.text));
    const raw = document.createElement("a");
    raw.href = `/dev/outbox/${encodeURIComponent(m.id)}`; raw.textContent = t("dev.raw");
    details.append(summary, pre, raw);
    ul.append(item(details));
  }
  const sl = $("sms");
  sl.replaceChildren();
  if (sms === null) sl.append(item(t("dev.sms.off")));
  else if (!sms.length) sl.append(item(t("dev.none")));
  for (const m of sms || []) {
    const head = document.createElement("div");
    const to = document.createElement("strong");
    to.textContent = m.to;
    const tag = document.createElement("span");
    tag.className = "tag"; tag.textContent = m.status;
    head.append(to, " ", tag, ` · ${m.date}`);
    const body = document.createElement("pre");
    body.className = "message";
    body.append(linkified(m.body));
    sl.append(item(head, body));
  }
}

function item(...children) {
  const li = document.createElement("li");
  li.append(...children);
  return li;
}

async function load() {
  try {
    [emails, sms] = await Promise.all([json("/dev/outbox"), json("/dev/sms")]);
    $("status").textContent = t("dev.updated", { time: new Date().toLocaleTimeString() });
    render();
  } catch (e) {
    $("status").textContent = e.message;
  }
}

onLanguage(render);
$("reload").addEventListener("click", load);
setInterval(() => { if ($("auto").checked) load(); }, REFRESH_MS);
load();
