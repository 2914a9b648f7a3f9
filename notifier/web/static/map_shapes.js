// The map's other ways to say where: a point and a radius, and a drawn area. Their fields (the
// radius; coordinates only behind "Saisir des coordonnées"), the shape drawn on the map, the
// keyboard's cross-hair (the arrows move it, Enter or Space places it, Backspace takes the last
// corner back), "Ma position" (and what happened when the browser gives none), and the point
// said in words. Each function takes the AreaMap (``map.js``), which holds the state.
import { t } from "/static/i18n.js";

const SVG = "http://www.w3.org/2000/svg";
const MIN_RADIUS = 50, MAX_RADIUS = 5000;
const CURSOR_PX = 12;  // the keyboard's cross-hair steps, in pixels

function el(name, attrs = {}, ns = null) {
  const e = ns ? document.createElementNS(ns, name) : document.createElement(name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** The point's and the polygon's fields: {point, poly}, to append under the map. */
export function shapeFields(map) {
  const id = map.id;
  const point = el("div", { class: "point-fields" });
  point.innerHTML = `
    <div class="field"><label for="${id}-radius" data-i18n="map.radius"></label>
      <input type="number" id="${id}-radius" min="${MIN_RADIUS}" max="${MAX_RADIUS}" step="50" value="${map.radius}">
      <input type="range" id="${id}-radius-range" min="${MIN_RADIUS}" max="2000" step="50" value="${map.radius}" data-i18n-attr="aria-label:map.radius"></div>
    <button type="button" id="${id}-locate" data-i18n="map.locate"></button>
    <div id="${id}-locate-status" class="locate-status" role="status"></div>
    <details class="coordinates"><summary data-i18n="map.coordinates"></summary>
      <div class="field"><label for="${id}-lat" data-i18n="map.lat"></label>
        <input type="number" id="${id}-lat" step="0.0001" min="-90" max="90" inputmode="decimal"></div>
      <div class="field"><label for="${id}-lon" data-i18n="map.lon"></label>
        <input type="number" id="${id}-lon" step="0.0001" min="-180" max="180" inputmode="decimal"></div>
    </details>`;
  const lat = point.querySelector(`#${id}-lat`), lon = point.querySelector(`#${id}-lon`);
  const radius = point.querySelector(`#${id}-radius`), range = point.querySelector(`#${id}-radius-range`);
  const fromInputs = () => {
    const la = parseFloat(lat.value), lo = parseFloat(lon.value);
    map.point = Number.isFinite(la) && Number.isFinite(lo) ? { lat: la, lon: lo } : null;
    map.place = null;
    map.drawShape(); map.changed();
  };
  lat.addEventListener("input", fromInputs); lon.addEventListener("input", fromInputs);
  radius.addEventListener("input", () => { map.radius = Number(radius.value); range.value = radius.value; map.drawShape(); map.changed(); });
  range.addEventListener("input", () => { map.radius = Number(range.value); radius.value = range.value; map.drawShape(); map.changed(); });
  point.querySelector(`#${id}-locate`).addEventListener("click", () => map.locate());
  map.locateEl = point.querySelector(`#${id}-locate-status`);
  map.inputs = { lat, lon, radius, range };

  // the polygon
  const poly = el("div", { class: "polygon-fields" });
  poly.innerHTML = `
    <button type="button" id="${id}-undo" data-i18n="map.undo"></button>
    <button type="button" id="${id}-clear" data-i18n="map.clear"></button>`;
  poly.querySelector(`#${id}-undo`).addEventListener("click", () => map.undo());
  poly.querySelector(`#${id}-clear`).addEventListener("click", () => { map.vertices = []; map.drawShape(); map.changed(); });
  return { point, poly };
}

/** In the point and polygon modes: the arrows move the cross-hair, Enter or Space places it. */
export function cursorKey(map, ev) {
  const step = CURSOR_PX / map.view.scale();
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if (!map.cursor) map.cursor = centre(map);
  if (moves[ev.key]) {
    const [dx, dy] = moves[ev.key];
    map.cursor = [map.cursor[0] + dx, map.cursor[1] + dy];
    map.view.show({ x: map.cursor[0], y: map.cursor[1], width: 0, height: 0 });
    map.drawCursor();
  } else if (ev.key === "Enter" || ev.key === " ") {
    const tr = map.data.transform;
    map.placeAt(tr.lon0 + map.cursor[0] / tr.x_per_lon, tr.lat0 - map.cursor[1] / tr.y_per_lat);
  } else if (ev.key === "Backspace" && map.mode === "polygon") map.undo();
  else return;
  ev.preventDefault();
}

function centre(map) {
  if (map.mode === "point" && map.point) return map.xy(map.point.lon, map.point.lat);
  const v = map.view.view;
  return [v.x + v.w / 2, v.y + v.h / 2];
}

export function drawCursor(map) {
  if (!map.crosshair) return;
  map.crosshair.replaceChildren();
  const focused = document.activeElement === map.svg && map.mode !== "areas";
  map.crosshair.setAttribute("visibility", focused ? "visible" : "hidden");
  if (!focused) return;
  if (!map.cursor) map.cursor = centre(map);
  const [x, y] = map.cursor, r = 9 / map.view.scale();
  map.crosshair.append(
    el("circle", { cx: x, cy: y, r }, SVG),
    el("path", { d: `M${x - 2 * r} ${y}H${x + 2 * r}M${x} ${y - 2 * r}V${y + 2 * r}` }, SVG));
}

/** "Ma position": the browser's position, or what happened and the way on. */
export function locate(map) {
  if (!navigator.geolocation) { sayLocate(map, "map.locate.unavailable"); return; }
  sayLocate(map, "map.locate.busy");
  navigator.geolocation.getCurrentPosition((pos) => {
    const { longitude: lon, latitude: lat } = pos.coords;
    if (!map.areaAt(lon, lat)) { sayLocate(map, "map.locate.outside"); return; }
    sayLocate(map, null);
    map.setPoint(lon, lat, { here: true });
    map.view.show({ x: map.xy(lon, lat)[0], y: map.xy(lon, lat)[1], width: 0, height: 0 });
  }, (err) => {
    sayLocate(map, err.code === 1 ? "map.locate.denied" : "map.locate.unavailable");
  }, { timeout: 15000, maximumAge: 0 });
}

function sayLocate(map, key) { map.locateKey = key; renderLocate(map); }

/** What happened to "Ma position", and the way on: the address search. */
export function renderLocate(map) {
  if (!map.locateEl) return;
  map.locateEl.replaceChildren();
  map.locateEl.className = "locate-status";
  if (!map.locateKey) return;
  const field = map.search && document.getElementById(map.search);
  const failed = map.locateKey !== "map.locate.busy";
  if (failed) map.locateEl.classList.add("panel");
  const p = el("p");
  p.textContent = t(map.locateKey);
  map.locateEl.append(p);
  if (failed && field) {
    const b = el("button", { type: "button", id: `${map.id}-locate-search` });
    b.textContent = t("map.locate.search");
    b.addEventListener("click", () => { field.scrollIntoView({ block: "center" }); field.focus(); });
    map.locateEl.append(b);
  }
}

/** The circle or the drawn area on the map. */
export function drawShape(map) {
  if (!map.shape) return;
  map.shape.replaceChildren();
  const dot = 4 / (map.view ? map.view.scale() : 1);
  if (map.mode === "point" && map.point) {
    const [x, y] = map.xy(map.point.lon, map.point.lat);
    const r = map.radius / map.data.transform.metres_per_unit;
    map.shape.append(el("circle", { cx: x, cy: y, r, class: "shape" }, SVG));
    map.shape.append(el("circle", { cx: x, cy: y, r: dot, class: "vertex" }, SVG));
  } else if (map.mode === "polygon" && map.vertices.length) {
    const pts = map.vertices.map(([lo, la]) => map.xy(lo, la).join(",")).join(" ");
    map.shape.append(el(map.vertices.length > 2 ? "polygon" : "polyline", { points: pts, class: "shape" }, SVG));
    for (const [lo, la] of map.vertices) {
      const [x, y] = map.xy(lo, la);
      map.shape.append(el("circle", { cx: x, cy: y, r: dot * 1.2, class: "vertex" }, SVG));
    }
  }
}

/** "800 m autour du 12 Rue Monge", "300 m autour de votre position, dans Saint-Victor (5e)". */
export function pointSummary(map) {
  if (!map.point) return t("map.point.none");
  const r = map.radius, place = map.place;
  if (place?.label) return t(place.number ? "map.point.summary.address" : "map.point.summary.street", { r, address: place.label });
  const code = map.areaAt(map.point.lon, map.point.lat);
  if (!code) return t("map.point.summary", { r, lat: map.point.lat, lon: map.point.lon });
  return t(place?.here ? "map.point.summary.here" : "map.point.summary.area", { r, area: map.areaName(code) });
}
