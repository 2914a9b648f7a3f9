// The delivery of one announcement in the console: its summary in words (its status, version,
// people matched, when it is scheduled for and until when it holds), its figures per channel
// and status, and a chart of each channel over the samples polled so far.
import { t, lang } from "/static/i18n.js";
import { chart, SERIES, seriesValue } from "/static/chart.js";
import { when } from "/static/check_step.js";
import { titleOf } from "/static/announcements_list.js";

const $ = (id) => document.getElementById(id);

export function renderEvent(event, samples) {
  const title = titleOf(event.content, lang());
  $("event-summary").textContent = t("console.event.summary", {
    title, status: t(`console.status.${event.status}`), version: event.version, n: event.matched_citizens,
  });
  const dates = [];
  if (event.status === "scheduled") dates.push(t("console.event.scheduled_for", { when: when(event.published_at) }));
  if (event.expires_at) dates.push(t("console.event.expires", { when: when(event.expires_at) }));
  $("event-when").textContent = dates.join(" ");
  const rows = $("figures");
  rows.replaceChildren();
  const channels = Object.keys(event.deliveries);
  if (!channels.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td"); td.colSpan = 6; td.textContent = t("console.figures.none");
    tr.append(td); rows.append(tr);
  }
  for (const channel of channels) {
    const counts = event.deliveries[channel];
    const tr = document.createElement("tr");
    tr.dataset.channel = channel;
    const th = document.createElement("th"); th.scope = "row"; th.textContent = t(`channel.${channel}`);
    tr.append(th);
    const shown = new Set();
    for (const series of Object.keys(SERIES)) {
      const td = document.createElement("td");
      td.dataset.series = series;
      td.textContent = String(seriesValue(counts, series));
      SERIES[series].forEach((s) => shown.add(s));
      tr.append(td);
    }
    const other = Object.entries(counts).filter(([s]) => !shown.has(s));
    const td = document.createElement("td");
    td.textContent = other.map(([s, n]) => `${t(`figure.${s}`)}: ${n}`).join(", ") || "0";
    tr.append(td);
    rows.append(tr);
  }
  const charts = $("charts");
  charts.replaceChildren();
  if (samples?.length) {
    for (const channel of channels) {
      const fig = document.createElement("figure");
      const cap = document.createElement("figcaption");
      cap.textContent = t(`channel.${channel}`);
      fig.append(cap, chart(channel, samples));
      charts.append(fig);
    }
  }
}
