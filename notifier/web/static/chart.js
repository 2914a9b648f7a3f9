// A small line chart of an event's delivery figures over time, one per channel, hand-written
// SVG. samples: [{at: ms, counts: {status: n}}]; the table next to it holds the same numbers.
import { t } from "/static/i18n.js";

const SVG = "http://www.w3.org/2000/svg";
export const SERIES = {
  queued: ["queued", "sending"],
  sent: ["sent"],
  delivered: ["delivered"],
  failed: ["failed", "undelivered"],
};
const W = 420, H = 170, LEFT = 38, RIGHT = 10, TOP = 10, BOTTOM = 24;

export function seriesValue(counts, series) {
  return SERIES[series].reduce((sum, status) => sum + (counts?.[status] || 0), 0);
}

function node(name, attrs = {}, text = null) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== null) e.textContent = text;
  return e;
}

/** An <svg> for one channel: x is seconds since the first sample, y the number of messages. */
export function chart(channel, samples) {
  const start = samples[0].at, span = Math.max(10_000, samples[samples.length - 1].at - start);
  const values = samples.map((s) => Object.keys(SERIES).map((k) => seriesValue(s.counts[channel], k)));
  const top = Math.max(1, ...values.flat());
  const x = (at) => LEFT + ((at - start) / span) * (W - LEFT - RIGHT);
  const y = (n) => TOP + (1 - n / top) * (H - TOP - BOTTOM);
  const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
    "aria-label": t("chart.label", { channel: t(`channel.${channel}`) }), "data-channel": channel });
  svg.append(
    node("line", { x1: LEFT, y1: y(0), x2: W - RIGHT, y2: y(0), class: "axis" }),
    node("line", { x1: LEFT, y1: TOP, x2: LEFT, y2: y(0), class: "axis" }),
    node("text", { x: LEFT - 6, y: y(top) + 4, "text-anchor": "end" }, String(top)),
    node("text", { x: LEFT - 6, y: y(0) + 4, "text-anchor": "end" }, "0"),
    node("text", { x: LEFT, y: H - 6 }, "0 s"),
    node("text", { x: W - RIGHT, y: H - 6, "text-anchor": "end" }, `${Math.round(span / 1000)} s`),
  );
  Object.keys(SERIES).forEach((name, i) => {
    const points = samples.map((s, j) => `${x(s.at).toFixed(1)},${y(values[j][i]).toFixed(1)}`);
    svg.append(node("polyline", { points: points.join(" "), class: name, "data-series": name }));
  });
  return svg;
}
