// The area picker of the portal and the console: the city's areas drawn as SVG from
// GET /v1/cities/{city}/map, plus a point and radius, or a drawn polygon. A city has one or two
// levels of areas, their kinds named by the city ("arrondissement" > "quartier" in Paris): the
// first level is the areas with no parent, the second those with one. Paris names its areas with
// the arrondissement's ordinal ("Saint-Victor (5e)"); other cities by their names.
//
// Keyboard: the map is one tab stop (a listbox); arrow keys move between areas, Home/End jump,
// typing the start of a name goes to it, Enter or Space selects. Clicks do the same. To place a
// point or draw an area, the map itself is the tab stop: the arrows move a cross-hair, Enter
// places it (Backspace takes the last corner back). Everywhere + and − zoom, Shift and the
// arrows pan (``map_view.js``); the buttons above the map do the same. The SVG is a group
// (not an image): its areas are options screen readers reach. The focus ring is a copy of the
// area's outline, never of the area itself (a copy would be a second, invisible tab stop).
//
// A point needs no coordinates: the address search (``place.js``) or "Ma position" places it,
// and the summary says where in words ("800 m autour du 12 Rue Monge").
import { t, has, onLanguage, apply } from "/static/i18n.js";
import { MapView, MAX_ZOOM, declutter, zoomButtons } from "/static/map_view.js";
import { cursorKey, drawCursor, drawShape, locate, pointSummary, renderLocate, shapeFields } from "/static/map_shapes.js";

const SVG = "http://www.w3.org/2000/svg";
const ORDINALS = "paris";  // the city whose areas are named with the arrondissement's ordinal
const NAMED = ["arrondissement", "quartier"];  // the kinds the strings have words for
const LABEL_PX = 15, SUBLABEL_PX = 12.5;  // on screen, whatever the zoom
const SUBLABELS_FROM = 1.1;  // pixels per map unit from which the finest areas are named

function el(name, attrs = {}, ns = null) {
  const e = ns ? document.createElementNS(ns, name) : document.createElement(name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function fold(s) {  // for type-ahead: case and accents do not matter
  return s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
}

/** In Paris "Saint-Victor (5e)" or "5e arrondissement – Panthéon", in the page's language;
 *  elsewhere the area's name. ``a`` is an area of /v1/cities/{city}/areas or /map. */
export function areaName(a, city) {
  if (city !== ORDINALS) return a.name;
  const n = Number((a.kind === "arrondissement" ? a.code : a.parent).slice(-2));
  const ord = t("map.ordinal", { n });
  return t(a.kind === "arrondissement" ? "map.arrondissement.name" : "map.quartier.name", { ord, name: a.name });
}

export class AreaMap {
  /** root: an empty element; options: {city, id (a prefix for element ids), modes, search (the
   *  id of an address field, offered when the browser cannot give the position)} */
  constructor(root, { city, id = "map", modes = ["areas", "point", "polygon"], search = null } = {}) {
    this.root = root; this.city = city; this.id = id; this.modes = modes; this.search = search;
    this.place = null;  // what the point is, in words: {label, number} of an address, or {here}
    this.cursor = null; this.locateKey = null;
    this.mode = modes[0]; this.level = null;  // the kind shown, once loaded
    this.kinds = [];  // the city's levels, once loaded (a form may be sent before)
    this.selected = new Set(); this.point = null; this.radius = 300; this.vertices = [];
    this.listeners = []; this.typed = ""; this.typedAt = 0;
    this.ready = this.load();
  }

  onChange(fn) { this.listeners.push(fn); }

  changed() { this.renderSelection(); this.listeners.forEach((fn) => fn(this)); }

  async load() {
    const r = await fetch(`/v1/cities/${encodeURIComponent(this.city)}/map`);
    if (!r.ok) throw new Error(`map: ${r.status}`);
    this.data = await r.json();
    this.byCode = new Map(this.data.areas.map((a) => [a.code, a]));
    const kinds = (second) => [...new Set(this.data.areas.filter((a) => !a.parent === !second).map((a) => a.kind))];
    this.top = kinds(false);  // the first level's kind (or kinds)
    this.kinds = [...kinds(true), ...this.top];  // the finest first, as the picker offers them
    this.level = this.kinds[0];
    this.build();
    onLanguage(() => this.relabel());
    this.relabel();
  }

  // ---- building -------------------------------------------------------------------------
  build() {
    const id = this.id, root = this.root;
    root.classList.add("map-picker");
    root.replaceChildren();
    if (this.modes.length > 1) {
      const modes = el("div", { role: "radiogroup", class: "choices", "aria-labelledby": `${id}-mode-label` });
      const label = el("span", { id: `${id}-mode-label`, class: "visually-hidden", "data-i18n": "map.mode" });
      modes.append(label);
      for (const m of this.modes) {
        const lab = el("label");
        const input = el("input", { type: "radio", name: `${id}-mode`, value: m, id: `${id}-mode-${m}` });
        input.checked = m === this.mode;
        input.addEventListener("change", () => this.setMode(m));
        lab.append(input, " ", el("span", { "data-i18n": `map.mode.${m}` }));
        modes.append(lab);
      }
      root.append(modes);
    }
    const levels = el("div", { role: "radiogroup", class: "choices levels", "aria-labelledby": `${id}-level-label` });
    levels.append(el("span", { id: `${id}-level-label`, "data-i18n": "map.level" }));
    for (const lv of this.kinds) {
      const lab = el("label");
      const input = el("input", { type: "radio", name: `${id}-level`, value: lv, id: `${id}-level-${lv}` });
      input.checked = lv === this.level;
      input.addEventListener("change", () => this.setLevel(lv));
      lab.append(input, " ", el("span", { class: "level-name", "data-kind": lv }));
      levels.append(lab);
    }
    this.levelsEl = levels;
    root.append(levels);

    const help = el("p", { class: "hint", id: `${id}-help` });
    this.helpEl = help;
    root.append(help);

    const { width, height } = this.data;
    root.append(zoomButtons(id, () => this.view));
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "map", id: `${id}-svg`,
      role: "group", "aria-describedby": `${id}-help` }, SVG);
    this.svg = svg;
    const groups = {};
    for (const kind of this.kinds) {
      const g = el("g", { role: "listbox", "aria-multiselectable": "true", "data-kind": kind,
        "aria-describedby": `${id}-help` }, SVG);
      groups[kind] = g;
    }
    const borders = el("g", { "aria-hidden": "true" }, SVG);
    const labels = el("g", { "aria-hidden": "true", class: "labels" }, SVG);
    const sublabels = el("g", { "aria-hidden": "true", class: "sublabels" }, SVG);
    for (const a of this.data.areas) {
      const p = el("path", { d: a.d, class: "area", role: "option", tabindex: "-1",
        "aria-selected": "false", "data-code": a.code, id: `${id}-area-${a.code}` }, SVG);
      p.append(el("title", {}, SVG));
      p.addEventListener("click", (ev) => this.clickArea(ev, a.code));
      p.addEventListener("focus", () => this.showFocus(p));
      p.addEventListener("blur", () => this.focusRing.setAttribute("visibility", "hidden"));
      groups[a.kind].append(p);
      const text = el("text", { x: a.label[0], y: a.label[1], class: a.parent ? "sublabel" : "label",
        "data-code": a.code }, SVG);
      text.textContent = a.name;
      (a.parent ? sublabels : labels).append(text);
      if (!a.parent) borders.append(el("path", { d: a.d, class: "border" }, SVG));
    }
    this.groups = groups; this.labels = labels; this.sublabels = sublabels;
    // the outline of the focused area, drawn again on top: a path, not a <use> of the area
    this.focusRing = el("g", { class: "focus-ring", visibility: "hidden", "aria-hidden": "true" }, SVG);
    this.focusRing.append(el("path", { class: "ring-outer" }, SVG), el("path", { class: "ring-inner" }, SVG));
    this.shape = el("g", { "aria-hidden": "true" }, SVG);
    this.crosshair = el("g", { class: "crosshair", "aria-hidden": "true", visibility: "hidden" }, SVG);
    svg.append(...this.kinds.map((k) => groups[k]), borders, sublabels, labels, this.shape,
      this.focusRing, this.crosshair);
    svg.addEventListener("keydown", (ev) => this.key(ev));
    svg.addEventListener("click", (ev) => this.clickMap(ev));
    svg.addEventListener("focus", () => this.drawCursor());
    svg.addEventListener("blur", () => this.crosshair.setAttribute("visibility", "hidden"));
    root.append(svg);
    this.view = new MapView(svg, width, height, () => this.viewChanged());

    // the selected areas, each with a button that removes it
    const live = el("p", { class: "status", "aria-live": "polite", id: `${id}-summary` });
    this.summaryEl = live;
    this.listEl = el("ul", { class: "selection-list", "aria-labelledby": `${id}-summary` });
    root.append(live, this.listEl);

    const { point, poly } = shapeFields(this);
    this.pointEl = point; this.polyEl = poly;
    root.append(point, poly);
    this.setMode(this.mode);
  }

  relabel() {
    for (const a of this.data.areas) {
      const p = this.svg.querySelector(`[data-code="${a.code}"]`);
      const name = this.areaName(a.code);
      p.setAttribute("aria-label", name);
      p.querySelector("title").textContent = name;
    }
    if (this.city === ORDINALS) {  // "5e", "5th": the arrondissement's ordinal
      this.labels.querySelectorAll("text").forEach((e) => {
        e.textContent = t("map.ordinal", { n: Number(e.dataset.code.slice(-2)) });
      });
    }
    for (const [kind, g] of Object.entries(this.groups)) {
      g.setAttribute("aria-label", NAMED.includes(kind) ? t(`map.${kind}s`) : t("map.group", { level: this.levelName(kind) }));
    }
    this.svg.setAttribute("aria-label", t("map.label"));
    apply(this.root);
    this.root.querySelectorAll(".level-name").forEach((e) => { e.textContent = this.levelName(e.dataset.kind); });
    const mode = this.root.querySelector(`#${this.id}-mode-areas + span`);
    if (mode && !this.kinds.every((k) => NAMED.includes(k))) mode.textContent = t("map.mode.areas.any");
    this.helpEl.textContent = t(`map.help.${this.mode}`);
    this.renderLocate();
    this.renderSelection();
  }

  areaName(code) {
    const a = this.byCode.get(code);
    return a ? areaName(a, this.city) : code;
  }

  /** "quartiers", or the kind as the city names it when the strings have no word for it. */
  levelName(kind) {
    return has(`map.level.${kind}`) ? t(`map.level.${kind}`) : kind.replaceAll("_", " ");
  }

  /** The key of the message asking for an area in the current mode. */
  missingKey() {
    const any = this.mode === "areas" && !this.kinds.every((k) => NAMED.includes(k));
    if (this.mode === "point") return "place.error.where.point";
    return `portal.error.where.${this.mode}${any ? ".any" : ""}`;
  }

  // ---- modes ----------------------------------------------------------------------------
  setMode(mode) {
    this.mode = mode;
    const r = this.root.querySelector(`#${this.id}-mode-${mode}`);
    if (r) r.checked = true;
    this.levelsEl.hidden = mode !== "areas" || this.kinds.length < 2;
    this.pointEl.hidden = mode !== "point";
    this.polyEl.hidden = mode !== "polygon";
    this.svg.classList.toggle("drawing", mode !== "areas");
    // placing a point or drawing: the map itself is the tab stop (the cross-hair's)
    if (mode === "areas") this.svg.removeAttribute("tabindex"); else this.svg.setAttribute("tabindex", "0");
    this.setLevel(this.level);
    this.helpEl.textContent = t(`map.help.${mode}`);
    this.drawShape();
    this.changed();
  }

  setLevel(level) {
    this.level = level;
    const areas = this.mode === "areas";
    const shown = areas ? level : this.kinds[0];  // the finest under a point or a drawn area
    for (const [kind, g] of Object.entries(this.groups)) g.setAttribute("display", kind === shown ? "inline" : "none");
    this.labels.setAttribute("display", this.top.includes(shown) ? "inline" : "none");
    // only the areas of the level in use are in the tab order, and only in the areas mode
    for (const g of Object.values(this.groups)) {
      g.querySelectorAll("path").forEach((p) => p.setAttribute("tabindex", "-1"));
      g.setAttribute("aria-hidden", String(!areas || g !== this.groups[shown]));
    }
    if (areas) (this.current(shown) || this.options(shown)[0]).setAttribute("tabindex", "0");
    this.viewChanged();
  }

  // ---- zoom and names -------------------------------------------------------------------
  /** After a zoom, a pan or a resize: names at a readable size, the finest ones once they fit. */
  viewChanged() {
    if (!this.view) return;
    const s = this.view.scale();
    const shown = this.mode === "areas" ? this.level : this.kinds[0];
    const fine = this.kinds.length > 1 && shown === this.kinds[0] && s >= SUBLABELS_FROM;
    this.labels.setAttribute("display", fine ? "none" : "inline");
    this.sublabels.setAttribute("display", fine ? "inline" : "none");
    this.labels.style.fontSize = `${LABEL_PX / s}px`;
    this.sublabels.style.fontSize = `${SUBLABEL_PX / s}px`;
    declutter(fine ? this.sublabels : this.labels, (code) => this.selected.has(code));
    const zoom = this.view.zoom;
    this.root.querySelector(`#${this.id}-zoom-in`).disabled = zoom >= MAX_ZOOM - 1e-6;
    this.root.querySelector(`#${this.id}-zoom-out`).disabled = zoom <= 1 + 1e-6;
    this.root.querySelector(`#${this.id}-zoom-reset`).disabled = zoom <= 1 + 1e-6;
    this.drawShape();
    this.drawCursor();
  }

  /** Zooms in to an area and shows it. */
  zoomTo(code) {
    const p = this.svg.querySelector(`path.area[data-code="${code}"]`);
    if (!p) return;
    this.view.show(p.getBBox(), true);
    // close enough for the finest areas' names to show
    if (this.view.scale() < SUBLABELS_FROM) this.view.zoomBy((SUBLABELS_FROM * 1.05) / this.view.scale());
  }

  /** The code of the finest area holding a point, or null (outside the city). */
  areaAt(lon, lat) {
    const [x, y] = this.xy(lon, lat);
    const hit = this.options(this.kinds[0]).find((p) => p.isPointInFill(new DOMPoint(x, y)));
    return hit ? hit.dataset.code : null;
  }

  options(kind = this.level) { return [...this.groups[kind].querySelectorAll("path")]; }

  current(kind = this.level) {
    return this.options(kind).find((p) => this.selected.has(p.dataset.code)) || null;
  }

  // ---- areas ----------------------------------------------------------------------------
  clickArea(ev, code) {
    if (this.mode !== "areas") return;  // the map click places a point or a vertex
    ev.stopPropagation();
    this.moveFocus(ev.currentTarget, false);
    this.toggle(code);
  }

  toggle(code) {
    if (this.selected.has(code)) this.selected.delete(code); else this.selected.add(code);
    const p = this.svg.querySelector(`[data-code="${code}"]`);
    p.setAttribute("aria-selected", String(this.selected.has(code)));
    this.changed();
  }

  select(codes) {
    this.selected = new Set(codes);
    this.svg.querySelectorAll("path.area").forEach((p) =>
      p.setAttribute("aria-selected", String(this.selected.has(p.dataset.code))));
    this.changed();
  }

  /** Adds an area to the choice (an address found in it). */
  add(code) {
    if (!this.selected.has(code)) this.toggle(code);
  }

  moveFocus(p, focus = true) {
    this.options().forEach((o) => o.setAttribute("tabindex", "-1"));
    p.setAttribute("tabindex", "0");
    if (focus) { p.focus(); this.view.show(p.getBBox()); }
  }

  showFocus(p) {
    this.focusRing.querySelectorAll("path").forEach((r) => r.setAttribute("d", p.getAttribute("d")));
    this.focusRing.setAttribute("visibility", "visible");
  }

  key(ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const typing = this.mode === "areas" && Date.now() - this.typedAt < 1000;  // "saint-vic"
    const area = ev.target.closest?.("path.area")?.getBBox();
    const at = area ? [area.x + area.width / 2, area.y + area.height / 2] : this.cursor || [];
    if (!typing && this.view.key(ev, at)) { ev.preventDefault(); return; }
    if (this.mode !== "areas") { this.cursorKey(ev); return; }
    const p = ev.target.closest?.("path.area");
    if (!p) return;
    const all = this.options(), i = all.indexOf(p);
    let next = null;
    if (ev.key === "ArrowRight" || ev.key === "ArrowDown") next = all[(i + 1) % all.length];
    else if (ev.key === "ArrowLeft" || ev.key === "ArrowUp") next = all[(i - 1 + all.length) % all.length];
    else if (ev.key === "Home") next = all[0];
    else if (ev.key === "End") next = all[all.length - 1];
    else if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); this.toggle(p.dataset.code); return; }
    else if (ev.key.length === 1 && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      const now = Date.now();
      this.typed = (now - this.typedAt > 1000 ? "" : this.typed) + fold(ev.key);
      this.typedAt = now;
      const names = all.map((o) => fold(this.byCode.get(o.dataset.code).name));
      const order = [...all.keys()].map((k) => (i + (this.typed.length === 1 ? 1 : 0) + k) % all.length);
      const hit = order.find((k) => names[k].startsWith(this.typed));
      if (hit !== undefined) next = all[hit];
      ev.preventDefault();
    }
    if (next) { ev.preventDefault(); this.moveFocus(next); }
  }

  // ---- point and polygon ----------------------------------------------------------------
  lonlat(ev) {
    const pt = this.svg.createSVGPoint();
    pt.x = ev.clientX; pt.y = ev.clientY;
    const { x, y } = pt.matrixTransform(this.svg.getScreenCTM().inverse());
    const tr = this.data.transform;
    return { lon: +(tr.lon0 + x / tr.x_per_lon).toFixed(6), lat: +(tr.lat0 - y / tr.y_per_lat).toFixed(6) };
  }

  xy(lon, lat) {
    const tr = this.data.transform;
    return [(lon - tr.lon0) * tr.x_per_lon, (tr.lat0 - lat) * tr.y_per_lat];
  }

  clickMap(ev) {
    if (this.mode === "areas") return;
    const { lon, lat } = this.lonlat(ev);
    this.cursor = this.xy(lon, lat);
    this.placeAt(lon, lat);
  }

  placeAt(lon, lat) {
    if (this.mode === "point") this.setPoint(lon, lat);
    else { this.vertices.push([+lon.toFixed(6), +lat.toFixed(6)]); this.drawShape(); this.changed(); }
  }

  undo() { this.vertices.pop(); this.drawShape(); this.changed(); }

  cursorKey(ev) { cursorKey(this, ev); }
  drawCursor() { drawCursor(this); }
  drawShape() { drawShape(this); }
  locate() { locate(this); }
  renderLocate() { renderLocate(this); }
  /** "800 m autour du 12 Rue Monge", "300 m autour de votre position, dans Saint-Victor (5e)". */
  pointSummary() { return pointSummary(this); }

  /** Places the point; ``place`` says what it is in words ({label, number}, or {here: true}). */
  setPoint(lon, lat, place = null) {
    this.point = { lon: +lon.toFixed(6), lat: +lat.toFixed(6) };
    this.place = place;
    this.inputs.lat.value = this.point.lat; this.inputs.lon.value = this.point.lon;
    this.drawShape(); this.changed();
  }

  // ---- what was chosen ------------------------------------------------------------------
  renderSelection() {
    if (!this.summaryEl) return;
    this.listEl.replaceChildren();
    if (this.mode === "areas") {
      const names = [...this.selected].map((c) => this.areaName(c));
      this.summaryEl.textContent = names.length ? t("map.selected", { n: names.length }) : t("map.none");
      for (const code of this.selected) {
        const li = el("li");
        const b = el("button", { type: "button", "aria-label": t("map.remove", { name: this.areaName(code) }) });
        b.textContent = "×";
        b.addEventListener("click", () => this.toggle(code));
        li.append(this.areaName(code), b);
        this.listEl.append(li);
      }
    } else if (this.mode === "point") {
      this.summaryEl.textContent = this.pointSummary();
    } else {
      this.summaryEl.textContent = t("map.polygon.summary", { n: this.vertices.length });
    }
  }

  /** What the citizen or the department chose: {areas}, {point, radius_m} or {polygon}. */
  value() {
    if (this.mode === "areas") return { areas: [...this.selected] };
    if (this.mode === "point") return this.point ? { point: this.point, radius_m: this.radius } : {};
    if (this.vertices.length < 3) return {};
    const ring = [...this.vertices, this.vertices[0]];
    return { polygon: { type: "Polygon", coordinates: [ring] } };
  }

  isEmpty() {
    const v = this.value();
    return !(v.areas?.length || v.point || v.polygon);
  }

  focus() {
    if (this.mode === "areas") (this.options().find((p) => p.getAttribute("tabindex") === "0") || this.options()[0]).focus();
    else if (this.mode === "point") (this.search && document.getElementById(this.search) || this.inputs.radius).focus();
    else this.svg.focus();
  }
}
