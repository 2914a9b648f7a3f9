// Calls to the notifier API from the pages: JSON in, JSON out, errors as ApiError: the API's
// {field, reason, code} of the first fault, `errors` (every fault the API found), and a
// `message` in the reader's language (form_errors.js's messageFor: never the English reason).
import { messageFor, showErrors, clearErrors } from "/static/form_errors.js";

export class ApiError extends Error {
  constructor(status, field, reason, code = "", errors = null) {
    super(messageFor({ field, code, reason }));
    this.status = status; this.field = field; this.reason = reason; this.code = code;
    this.errors = errors?.length ? errors : [{ field, reason, code }];
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
    throw new ApiError(0, null, "the service does not answer", "network");
  }
  if (r.status === 204) return null;
  const data = await r.json().catch(() => null);
  if (!r.ok) {
    const err = data?.error || {};
    const code = err.code || (r.status >= 500 ? "internal" : "invalid");
    throw new ApiError(r.status, err.field || null, err.reason || `${r.status} ${r.statusText}`,
      code, err.errors);
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

/** Show an error (an ApiError, or {field, message} / {field, key}): every fault beside its
 *  field and in the form's error summary (form_errors.js); null clears them. `summary` is the
 *  element the summary goes in (inside the form), `fields` maps the API's field names to the
 *  page's elements. */
export function showError(summary, err, fields = {}) {
  const form = summary.closest("form") || summary.parentElement;
  summary.dataset.errorSummary = "";
  summary.removeAttribute("role");  // the summary holds its own alert
  summary.classList.remove("error");
  if (!err) { clearErrors(form); return; }
  showErrors(form, err, fields);
}
