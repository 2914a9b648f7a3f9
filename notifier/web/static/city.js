// The city a page is for, as GET /v1/cities/{city} describes it: its name fills the strings'
// {city}, its languages are the page's, its colour becomes the --brand custom property (set
// from this script: the CSP allows no inline style attribute), darkened if white text on it,
// or it as text on white, would be hard to read.
import { api } from "/static/api.js";
import { define, restrict } from "/static/i18n.js";

/** The city's public configuration: {id, name, languages, default_language, categories,
 *  departments, branding: {colour, logo_url}, areas: {kind: count}}. */
export async function loadCity(id) {
  const city = await api("GET", `/v1/cities/${encodeURIComponent(id)}`);
  define({ city: city.name });
  restrict(city.languages, city.default_language);
  document.documentElement.style.setProperty("--brand", readable(city.branding.colour));
  return city;
}

/** The cities of this deployment: [{id, name}]. */
export async function listCities() {
  return (await api("GET", "/v1/cities")).cities;
}

function luminance(rgb) {  // WCAG 2 relative luminance
  const [r, g, b] = rgb.map((v) => v / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** ``#rrggbb``, darkened step by step until its contrast with white is at least 4.5:1. */
export function readable(hex) {
  let rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  if (rgb.some(Number.isNaN)) return "#0b3d91";
  while (1.05 / (luminance(rgb) + 0.05) < 4.5) rgb = rgb.map((v) => Math.floor(v * 0.9));
  return `#${rgb.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}
