// What an error answer of the hub means, in the user's language: from its `code` and `params`
// (docs/errors.md), never from the English `detail` alone.
import { waitFor } from "./format.js";
import { t } from "./i18n.js";

/** The string for ``key`` if the app has one (``t`` answers the key itself when it has none). */
function known(key, params) {
  const text = t(key, params);
  return text === key ? null : text;
}

/** A field's name as the user knows it, or the API's name in quotes. */
function fieldName(field) {
  return known(`field.${field}`) ?? `“${field}”`;
}

/** One refused field: the most specific string there is (field and problem, then problem). */
export function fieldProblem(p) {
  const params = { ...p, field: fieldName(p.field) };
  return known(`apierr.invalid_field.${p.field}.${p.type}`, params)
    ?? known(`apierr.invalid_field.${p.type}`, params)
    ?? t("apierr.invalid_field", params);
}

/** Seconds to wait from Retry-After, else from the answer's params; null when neither says. */
function waitSeconds(retryAfter, params) {
  for (const v of [retryAfter, params && params.wait]) {
    const n = Number(v);
    if (v !== null && v !== undefined && v !== "" && Number.isFinite(n) && n > 0) return n;
  }
  return null;
}

/** The message for an error answer: its code's string, else one for its status. */
export function explain(status, body, retryAfter) {
  const code = body && typeof body.code === "string" ? body.code : null;
  const params = (body && body.params) || {};
  const wait = waitSeconds(retryAfter, params);
  if (code === "invalid_field") {
    const problems = Array.isArray(body.errors) && body.errors.length ? body.errors : [params];
    return [...new Set(problems.map(fieldProblem))].join(" ");
  }
  if (status === 429 || code === "login_rate_limited" || code === "register_rate_limited") {
    return wait ? t("error.too_many_wait", { wait: waitFor(wait) }) : t("error.too_many");
  }
  if (code) {
    const text = known(`apierr.${code}`, { ...params, wait: wait ? waitFor(wait) : "" });
    if (text) return text;
  }
  if (status === 401) return t("error.session");
  if (status === 403) return t("error.forbidden");
  if (status === 404) return t("error.not_found");
  // A code this app does not know yet (a newer hub): say so in the user's language, then the detail.
  const detail = body && typeof body.detail === "string" ? body.detail : "";
  const generic = t("error.generic", { status });
  return detail ? `${generic} ${t("error.detail", { detail })}` : generic;
}
