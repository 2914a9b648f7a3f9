// "Votre adresse": the first way to say where, as FixMyStreet starts with "enter a street or
// postcode". What is typed goes to GET /v1/cities/{city}/addresses (the city's gazetteer); the
// matches are buttons; choosing one adds the quartier holding it to the map's choice (at the
// level shown), or, in the map's "point and radius" mode, centres the radius on it. Nobody is
// asked for a latitude or a longitude. Enter in the field searches (it never sends the form).
import { t, onLanguage } from "/static/i18n.js";

function el(name, attrs = {}) {
  const e = document.createElement(name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

export class PlaceSearch {
  /** root: an empty element; map: the page's AreaMap; id: a prefix for element ids. */
  constructor(root, map, { city, id = "place" } = {}) {
    this.root = root; this.map = map; this.city = city; this.id = id;
    this.hits = []; this.chosen = null; this.message = null;  // {key, vars} of the status
    this.build();
    map.onChange(() => this.renderChosen());
    onLanguage(() => this.render());
    this.render();
  }

  build() {
    const id = this.id;
    this.root.classList.add("place-search");
    this.root.innerHTML = `
      <div class="field">
        <label for="${id}-address" class="place-label"></label>
        <p class="hint" id="${id}-hint"></p>
        <div class="place-row">
          <input type="text" id="${id}-address" autocomplete="street-address" spellcheck="false"
            aria-describedby="${id}-hint ${id}-status">
          <button type="button" id="${id}-go"></button>
        </div>
      </div>
      <div id="${id}-status" class="status" role="status"></div>
      <ul id="${id}-results" class="place-results" hidden></ul>
      <div id="${id}-chosen" class="panel place-chosen" hidden tabindex="-1">
        <p id="${id}-chosen-text"></p>
        <button type="button" id="${id}-radius"></button>
      </div>`;
    const $ = (s) => this.root.querySelector(`#${id}-${s}`);
    this.input = $("address"); this.statusEl = $("status"); this.list = $("results");
    this.chosenEl = $("chosen"); this.chosenText = $("chosen-text"); this.radiusButton = $("radius");
    $("go").addEventListener("click", () => this.search());
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") { ev.preventDefault(); this.search(); }
    });
    this.radiusButton.addEventListener("click", () => this.useRadius());
  }

  render() {
    const id = this.id, $ = (s) => this.root.querySelector(`#${id}-${s}`);
    this.root.querySelector(".place-label").textContent = t("place.label");
    $("hint").textContent = t("place.hint");
    $("go").textContent = t("place.search");
    this.radiusButton.textContent = t("place.use_radius");
    this.statusEl.textContent = this.message ? t(this.message.key, this.message.vars) : "";
    this.renderChosen();
  }

  say(key, vars = {}) { this.message = key ? { key, vars } : null; this.render(); }

  async search() {
    const q = this.input.value.trim();
    this.list.hidden = true; this.list.replaceChildren(); this.chosenEl.hidden = true;
    if (q.length < 2) { this.say("place.short"); this.input.focus(); return; }
    this.say("place.searching");
    let data;
    try {
      const r = await fetch(`/v1/cities/${encodeURIComponent(this.city)}/addresses?q=${encodeURIComponent(q)}`);
      if (!r.ok) throw new Error(String(r.status));
      data = await r.json();
    } catch {
      this.say("place.failed");
      return;
    }
    if (!data.available) { this.say("place.unavailable"); return; }
    this.hits = data.addresses;
    if (!this.hits.length) { this.say("place.none", { q }); return; }
    this.say("place.found", { n: this.hits.length });
    for (const hit of this.hits) {
      const li = el("li");
      const b = el("button", { type: "button", class: "place-hit" });
      b.textContent = hit.label;
      if (hit.match === "nearest") {
        const note = el("span", { class: "hint" });
        note.textContent = ` ${t("place.nearest")}`;
        b.append(note);
      }
      b.addEventListener("click", () => this.choose(hit));
      li.append(b);
      this.list.append(li);
    }
    this.list.hidden = false;
  }

  /** The address chosen: its quartier added to the choice, or the radius centred on it. */
  choose(hit) {
    this.chosen = hit;
    this.list.hidden = true;
    this.say(null);
    this.input.value = hit.label;
    const map = this.map;
    if (map.mode === "areas") {
      const area = hit.areas.find((a) => a.kind === map.level) || hit.areas[0];
      this.chosen.code = area.code;
      map.add(area.code);
      map.zoomTo(area.code);
    } else {
      this.chosen.code = null;
      if (map.mode === "polygon") map.setMode("point");  // a drawn area has no address: a radius
      this.centre(hit);
    }
    this.chosenEl.hidden = false;
    this.renderChosen();
    this.chosenEl.focus();
  }

  centre(hit) {
    this.map.setPoint(hit.point.lon, hit.point.lat, { label: hit.label, number: hit.number });
    this.map.zoomTo(hit.areas[0].code);
  }

  useRadius() {
    const hit = this.chosen;
    if (!hit) return;
    if (hit.code) this.map.toggle(hit.code);  // the radius instead of the quartier
    this.map.setMode("point");
    this.centre(hit);
    this.chosen = { ...hit, code: null };
    this.chosenEl.hidden = false;
    this.renderChosen();
    this.chosenEl.focus();
  }

  /** What the address did, while it still holds (hidden once the choice moves on). */
  renderChosen() {
    const hit = this.chosen, map = this.map;
    if (!hit) return;
    const holds = hit.code ? map.mode === "areas" && map.selected.has(hit.code)
      : map.mode === "point" && map.place?.label === hit.label;
    if (!holds) { this.chosenEl.hidden = true; return; }
    if (hit.code) {
      const kind = map.byCode.get(hit.code)?.kind;
      const key = ["quartier", "arrondissement"].includes(kind) ? `place.chosen.${kind}` : "place.chosen.area";
      this.chosenText.textContent = t(key, { address: hit.label, area: map.areaName(hit.code) });
      this.radiusButton.hidden = !map.modes.includes("point");
    } else {
      this.chosenText.textContent = this.map.pointSummary();
      this.radiusButton.hidden = true;
    }
  }
}
