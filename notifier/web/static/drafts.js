// The console's drafts, kept by the server (/v1/cities/{city}/drafts): the form is saved as the
// agent types (a moment after the last change), so that a reload, another tab or another agent
// of the department finds it; a draft is checked and published by its id, which makes a second
// click (or a second tab) answer with the same announcement instead of publishing it again.
import { api } from "/static/api.js";

const SAVE_AFTER_MS = 800;

export class Drafts {
  /** base: /v1/cities/{city}/drafts; token: () => the department's key */
  constructor(base, token) {
    this.base = base; this.token = token;
    this.id = null;  // the draft being written, once saved
    this.timer = null; this.saving = null; this.body = null;
    this.dirty = false;  // changed since the last save
    this.listeners = [];
  }

  onSaved(fn) { this.listeners.push(fn); }

  /** Save ``body`` a moment from now (the last call wins). */
  later(body) {
    this.body = body; this.dirty = true;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.save().catch(() => {}), SAVE_AFTER_MS);
  }

  /** Save what was last given now (and wait for a save under way). */
  async save(body = this.body) {
    clearTimeout(this.timer);
    if (body === null) return null;
    if (body !== this.body) { this.body = body; this.dirty = true; }
    while (this.saving) await this.saving.catch(() => {});
    this.dirty = false;
    this.saving = this.write(body).catch((e) => { this.dirty = true; throw e; });
    try { return await this.saving; } finally { this.saving = null; }
  }

  async write(body) {
    let draft;
    if (this.id) {
      try {
        draft = await api("PUT", `${this.base}/${this.id}`, { token: this.token(), body });
      } catch (e) {
        if (e.status !== 409 && e.status !== 404) throw e;
        this.id = null;  // published or discarded elsewhere: this text becomes a new draft
      }
    }
    if (!draft) draft = await api("POST", this.base, { token: this.token(), body });
    this.id = draft.id;
    this.listeners.forEach((fn) => fn(draft));
    return draft;
  }

  async open(id) {
    const draft = await api("GET", `${this.base}/${id}`, { token: this.token() });
    if (draft.state === "draft") this.id = draft.id;
    return draft;
  }

  /** Save ``body`` (the form as it is) and check it. */
  async check(body) {
    await this.save(body);
    return api("POST", `${this.base}/${this.id}/check`, { token: this.token() });
  }

  /** Publish the draft (once, however often this is called): the announcement's answer. */
  async publish() {
    if (this.dirty || !this.id) await this.save();  // else the text checked, as it is kept
    const answer = await api("POST", `${this.base}/${this.id}/publish`, { token: this.token() });
    this.forget();
    return answer;
  }

  forget() { clearTimeout(this.timer); this.id = null; this.body = null; this.dirty = false; }

  async list() { return (await api("GET", this.base, { token: this.token() })).drafts; }

  async discard(id) {
    await api("DELETE", `${this.base}/${id}`, { token: this.token() });
    if (id === this.id) this.forget();
  }
}
