// Zoom and pan of the area map, by its SVG viewBox: the map's buttons, the keyboard (+ and −,
// Shift and the arrows), a drag with the mouse or one finger once zoomed, a pinch with two
// fingers or a trackpad (which Chromium sends as Ctrl + wheel). A plain wheel scrolls the page.
// The map keeps labels and the focus ring at their size on screen (``scale``: pixels per unit).
// Here too: the zoom buttons, and the names that would overlap left out.

export const MAX_ZOOM = 8;
const DRAG = 5;  // pixels before a press becomes a drag (and its click is not a choice)

export class MapView {
  /** svg: the map; width, height: its drawing's units; changed(view): after every change. */
  constructor(svg, width, height, changed) {
    this.svg = svg; this.changed = changed;
    this.base = { x: 0, y: 0, w: width, h: height };
    this.view = { ...this.base };
    this.pointers = new Map(); this.moved = false; this.start = null;
    svg.addEventListener("pointerdown", (e) => this.down(e));
    svg.addEventListener("pointermove", (e) => this.move(e));
    for (const type of ["pointerup", "pointercancel", "pointerleave"]) {
      svg.addEventListener(type, (e) => this.pointers.delete(e.pointerId));
    }
    // a drag is not a click: its click stops here, before the areas and the map see it
    svg.addEventListener("click", (e) => {
      if (this.moved) { e.stopPropagation(); e.preventDefault(); this.moved = false; }
    }, true);
    svg.addEventListener("wheel", (e) => {
      if (!e.ctrlKey) return;  // the page scrolls; a pinch on a trackpad zooms
      e.preventDefault();
      const [x, y] = this.units(e.clientX, e.clientY);
      this.zoomBy(Math.exp(-e.deltaY / 100), x, y);
    }, { passive: false });
    new ResizeObserver(() => {  // a new shape (a phone turned): the view follows, else the names
      const { x, y, w, h } = this.view;
      if (Math.abs(w * this.aspect() - h) > 0.5) this.set(x, y, w); else this.apply();
    }).observe(svg);
  }

  get zoom() { return this.base.w / this.view.w; }

  /** Height over width of the map on screen: the drawing's, unless the page gives the map
   *  another shape (a phone's squarer map), which the view then fills. */
  aspect() {
    const r = this.svg.getBoundingClientRect();
    const shaped = getComputedStyle(this.svg).aspectRatio !== "auto";  // else it follows the view
    return shaped && r.width && r.height ? r.height / r.width : this.base.h / this.base.w;
  }

  /** Screen pixels per map unit (1 when the map is not laid out). */
  scale() {
    const w = this.svg.getBoundingClientRect().width;
    return w ? w / this.view.w : 1;
  }

  units(clientX, clientY) {
    const r = this.svg.getBoundingClientRect(), s = this.scale();
    return [this.view.x + (clientX - r.left) / s, this.view.y + (clientY - r.top) / s];
  }

  set(x, y, w) {
    const { base } = this;
    w = Math.min(base.w, Math.max(base.w / MAX_ZOOM, w));
    const h = w * this.aspect();
    x = Math.min(base.w - w, Math.max(0, x));
    y = h >= base.h ? (base.h - h) / 2 : Math.min(base.h - h, Math.max(0, y));
    this.view = { x, y, w, h };
    this.apply();
  }

  zoomBy(factor, cx = this.view.x + this.view.w / 2, cy = this.view.y + this.view.h / 2) {
    const { view } = this;
    const w = Math.min(this.base.w, Math.max(this.base.w / MAX_ZOOM, view.w / factor));
    const h = w * this.aspect();
    this.set(cx - ((cx - view.x) / view.w) * w, cy - ((cy - view.y) / view.h) * h, w);
  }

  panBy(dx, dy) { this.set(this.view.x + dx, this.view.y + dy, this.view.w); }

  reset() { this.set(0, 0, this.base.w); }

  /** Brings a box of the map (an area's bounding box) into view, zooming in to it if asked. */
  show(box, zoomIn = false) {
    const { view } = this;
    const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
    if (zoomIn) {
      const a = this.aspect();
      const w = Math.min(this.base.w, Math.max(box.width * 2.5, (box.height * 2.5) / a));
      this.set(cx - w / 2, cy - (w * a) / 2, w);
      return;
    }
    const inside = box.x >= view.x && box.y >= view.y &&
      box.x + box.width <= view.x + view.w && box.y + box.height <= view.y + view.h;
    if (!inside) this.set(cx - view.w / 2, cy - view.h / 2, view.w);
  }

  apply() {
    const { x, y, w, h } = this.view;
    this.svg.setAttribute("viewBox", `${x} ${y} ${w} ${h}`);
    this.svg.classList.toggle("zoomed", this.zoom > 1.01);
    this.changed(this);
  }

  down(e) {
    this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    this.moved = false;
    this.start = { x: e.clientX, y: e.clientY };
  }

  move(e) {
    const last = this.pointers.get(e.pointerId);
    if (!last) return;
    const s = this.scale();
    if (this.pointers.size === 2) {  // a pinch: the change of the fingers' distance
      const [a, b] = [...this.pointers.values()];
      const other = a === last ? b : a;
      const before = Math.hypot(last.x - other.x, last.y - other.y);
      const after = Math.hypot(e.clientX - other.x, e.clientY - other.y);
      if (before > 0) {
        const [cx, cy] = this.units((e.clientX + other.x) / 2, (e.clientY + other.y) / 2);
        this.zoomBy(after / before, cx, cy);
      }
      this.moved = true;
    } else if (this.zoom > 1.01 && e.buttons) {  // a drag, once zoomed
      if (Math.hypot(e.clientX - this.start.x, e.clientY - this.start.y) > DRAG) this.moved = true;
      if (this.moved) this.panBy((last.x - e.clientX) / s, (last.y - e.clientY) / s);
    }
    this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
  }

  /** Shift and the arrows pan, + and − zoom (around ``at``, [x, y], if given: the focused
   *  area, the cross-hair); whether the key was one of them. */
  key(ev, at = []) {
    const step = this.view.w / 5;
    const pans = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (ev.shiftKey && pans[ev.key]) { this.panBy(...pans[ev.key]); return true; }
    if (ev.key === "+" || ev.key === "=") { this.zoomBy(2, ...at); return true; }
    if (ev.key === "-" || ev.key === "_") { this.zoomBy(0.5, ...at); return true; }
    return false;
  }
}

/** The map's zoom buttons (+, −, the whole city), ids ``{id}-zoom-in|out|reset``; ``view()``
 *  gives the MapView (made after them). */
export function zoomButtons(id, view) {
  const tools = document.createElement("div");
  Object.assign(tools, { className: "map-tools" });
  tools.setAttribute("role", "group");
  tools.dataset.i18nAttr = "aria-label:map.zoom";
  for (const [name, text] of [["in", "+"], ["out", "−"], ["reset", ""]]) {
    const b = Object.assign(document.createElement("button"), { type: "button", id: `${id}-zoom-${name}`,
      className: `zoom-${name}` });
    if (text) { b.textContent = text; b.dataset.i18nAttr = `aria-label:map.zoom.${name}`; }
    else b.dataset.i18n = `map.zoom.${name}`;
    b.addEventListener("click", () => {
      if (name === "reset") view().reset(); else view().zoomBy(name === "in" ? 2 : 0.5);
    });
    tools.append(b);
  }
  return tools;
}

/** Names of a group that would overlap one another are hidden, those ``first(code)`` first. */
export function declutter(group, first) {
  const texts = [...group.querySelectorAll("text")];
  texts.forEach((e) => e.removeAttribute("visibility"));
  texts.sort((a, b) => first(b.dataset.code) - first(a.dataset.code));
  const placed = [];
  for (const e of texts) {
    const r = e.getBoundingClientRect();
    if (!r.width) continue;
    const clash = placed.some((q) => r.left < q.right && q.left < r.right && r.top < q.bottom && q.top < r.bottom);
    if (clash) e.setAttribute("visibility", "hidden"); else placed.push(r);
  }
}
