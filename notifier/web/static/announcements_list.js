// The department's announcements, from the server (GET /v1/cities/{city}/announcements): any tab
// or agent of the department sees the same list, filtered by status, category and date and
// searched in the titles, each with its figures and a link that opens it
// (/console?city=…&announcement=evt_…, which a reload or a new tab opens again).
import { api } from "/static/api.js";
import { t, has } from "/static/i18n.js";
import { el, when } from "/static/check_step.js";

const STATUSES = ["scheduled", "accepted", "published", "processed", "cancelled"];
const $ = (id) => document.getElementById(id);

/** The title to show: in the page's language, else French, else any. */
export function titleOf(titles, language) {
  const c = titles[language] || titles.fr || Object.values(titles)[0] || {};
  return c.title || "";
}

/** The URL of the console showing one announcement (or draft). */
export function consoleUrl(city, param, id) {
  const u = new URL("/console", location.origin);
  u.searchParams.set("city", city);
  if (id) u.searchParams.set(param, id);
  return u.pathname + u.search;
}

export class AnnouncementList {
  /** options: {base, city, categories, token: () => key, language: () => lang, open: (id) => …} */
  constructor(options) {
    Object.assign(this, options);
    this.items = null;
    $("list-status").append(new Option("", ""), ...STATUSES.map((s) => new Option("", s)));
    $("list-category").append(new Option("", ""), ...this.categories.map((c) => new Option("", c)));
    $("list-filters").addEventListener("submit", (ev) => { ev.preventDefault(); this.refresh(); });
  }

  relabel() {
    for (const o of $("list-status").options) o.textContent = o.value ? t(`console.status.${o.value}`) : t("console.list.status.any");
    for (const o of $("list-category").options) {
      o.textContent = !o.value ? t("console.list.category.any") : has(`category.${o.value}`) ? t(`category.${o.value}`) : o.value;
    }
    if (this.items) this.render();
  }

  query() {
    const q = new URLSearchParams();
    if ($("list-status").value) q.set("status", $("list-status").value);
    if ($("list-category").value) q.set("category", $("list-category").value);
    // a day in the browser's time zone: from its first minute, to its last
    if ($("list-from").value) q.set("from", new Date(`${$("list-from").value}T00:00`).toISOString());
    if ($("list-to").value) q.set("to", new Date(`${$("list-to").value}T23:59:59`).toISOString());
    if ($("list-q").value.trim()) q.set("q", $("list-q").value.trim());
    return q.toString();
  }

  async refresh() {
    const q = this.query();
    try {
      this.items = (await api("GET", `${this.base}${q ? `?${q}` : ""}`, { token: this.token() })).announcements;
    } catch (e) {
      $("list-count").textContent = e.message;
      return;
    }
    this.render();
  }

  render() {
    const rows = $("recent-rows");
    rows.replaceChildren();
    $("list-count").textContent = this.items.length ? t("console.list.count", { n: this.items.length }) : t("console.recent.none");
    for (const a of this.items) {
      const title = titleOf(a.titles, this.language());
      const tr = el("tr", null, { "data-id": a.id });
      const th = el("th", null, { scope: "row" });
      const link = el("a", title, { href: consoleUrl(this.city, "announcement", a.id) });
      link.addEventListener("click", (ev) => {
        if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;  // a new tab
        ev.preventDefault();
        this.open(a.id);
      });
      th.append(link);
      const sent = Object.values(a.deliveries).reduce(
        (sum, counts) => sum + (counts.sent || 0) + (counts.delivered || 0), 0);
      const date = a.status === "scheduled" ? t("console.list.scheduled_for", { when: when(a.published_at) }) : when(a.published_at);
      const category = has(`category.${a.category}`) ? t(`category.${a.category}`) : a.category;
      tr.append(th, el("td", t(`console.status.${a.status}`), { "data-status": a.status }),
        el("td", category), el("td", date), el("td", String(a.matched_citizens)), el("td", String(sent)));
      rows.append(tr);
    }
  }
}

/** The drafts being written, each to resume or delete. */
export function renderDrafts(list, { city, language, open, discard }) {
  const ul = $("drafts");
  ul.replaceChildren();
  if (!list.length) ul.append(el("li", t("console.drafts.none")));
  for (const d of list) {
    const titles = d.body.content || {};
    const title = titleOf(titles, language()) || t("console.drafts.untitled");
    const li = el("li", null, { "data-id": d.id });
    const link = el("a", t("console.drafts.open"), {
      href: consoleUrl(city, "draft", d.id), "aria-label": t("console.drafts.open.label", { title }),
    });
    link.addEventListener("click", (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
      ev.preventDefault();
      open(d.id);
    });
    const b = el("button", t("console.drafts.discard"), { type: "button", "aria-label": t("console.drafts.discard.label", { title }) });
    b.addEventListener("click", () => discard(d.id));
    li.append(`${title} (${t("console.drafts.changed", { when: when(d.updated_at) })}) `, link, " ", b);
    ul.append(li);
  }
}
