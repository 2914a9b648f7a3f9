// Calls to the notifier API from the pages: JSON in, JSON out, errors as {field, reason}.
import { t } from "/static/i18n.js";

export class ApiError extends Error {
  constructor(status, field, reason) {
    super(field ? `${field}: ${reason}` : reason);
    this.status = status; this.field = field; this.reason = reason;
  }
}

/** fetch JSON; throws ApiError with the API's field and reason on a 4xx or 5xx. */
export async function api(method, path, { body, token, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, null, t("error.network"));
  }
  if (r.status === 204) return null;
  const data = await r.json().catch(() => null);
  if (!r.ok) {
    const err = data?.error || {};
    throw new ApiError(r.status, err.field || null, err.reason || `${r.status} ${r.statusText}`);
  }
  return data;
}

/** The citizen a management token is for: {city, cid, base} (the payload is not secret). */
export function citizenOf(token) {
  try {
    const b64 = token.split(".")[0].replace(/-/g, "+").replace(/_/g, "/");
    const payload = JSON.parse(atob(b64 + "===".slice((b64.length + 3) % 4)));
    if (!payload.c || !payload.s) return null;
    return {
      city: payload.c, cid: payload.s,
      base: `/v1/cities/${encodeURIComponent(payload.c)}/citizens/${encodeURIComponent(payload.s)}`,
    };
  } catch (e) {
    return null;
  }
}

/** Show an error: in the summary (role=alert), and on the field it names when there is one. */
export function showError(summary, err, fields = {}) {
  document.querySelectorAll("[aria-invalid=true]").forEach((e) => e.removeAttribute("aria-invalid"));
  const input = err?.field ? fields[err.field.split(/[.[]/)[0]] : null;
  summary.textContent = err ? (err.status === 429 ? t("error.too_many") : err.message) : "";
  if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
  else if (err) summary.focus?.();
}
