// @ts-check
/**
 * Talking to the Corral HTTP API with the session cookie.
 *
 * The browser holds the session in an HttpOnly cookie that no script can read; this
 * module holds only the session's CSRF token (in memory, never in storage) and sends it
 * in the X-CSRF-Token header with every request that changes state.
 */

/** @type {string | null} */
let csrfToken = null;

/** A problem document (RFC 9457) the API answered, as an Error. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {Record<string, any>} problem
   */
  constructor(status, problem) {
    super(String(problem.detail || problem.title || `HTTP ${status}`));
    this.status = status;
    this.problem = problem;
  }
}

/**
 * @typedef {{principal: string, role: string, key_id: string, csrf_token: string,
 *            expires_in_s: number}} Session
 */

/**
 * One API call; resolves to the JSON answer (null for 204), rejects with an ApiError.
 * @param {string} method
 * @param {string} path  relative to the console's page, e.g. "v1/packs"
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function call(method, path, body) {
  return (await exchange(method, path, body)).data;
}

/**
 * Like ``call``, with the answer's headers too (the playground reads Server-Timing).
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<{data: any, headers: Headers}>}
 */
export async function exchange(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  if (response.status === 204) return { data: null, headers: response.headers };
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data || {});
  return { data, headers: response.headers };
}

/**
 * A POST whose answer is NDJSON, one JSON value a line (a sync's pages): each value is
 * handed to ``onLine`` as it arrives. Rejects with an ApiError when the call cannot start.
 * @param {string} path
 * @param {unknown} body
 * @param {(value: any) => void} onLine
 * @param {AbortSignal} [signal]  aborting it stops the stream (and the call upstream)
 * @returns {Promise<void>}
 */
export async function streamLines(path, body, onLine, signal) {
  const response = await fetch(path, {
    method: "POST",
    signal,
    headers: { "Content-Type": "application/json", Accept: "application/x-ndjson",
      ...(csrfToken ? { "X-CSRF-Token": csrfToken } : {}) },
    body: JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  if (!response.ok || !response.body) {
    const text = await response.text();
    throw new ApiError(response.status, text ? JSON.parse(text) : {});
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += value;
    const lines = pending.split("\n");
    pending = lines.pop() || "";
    for (const line of lines) if (line.trim()) onLine(JSON.parse(line));
  }
  if (pending.trim()) onLine(JSON.parse(pending));
}

/**
 * Upload a pack's .wasm (admins): the file is the request body, as `curl --data-binary`.
 * @param {File} file
 * @returns {Promise<Record<string, any>>} the pack detail
 */
export async function uploadPack(file) {
  const response = await fetch("v1/packs", {
    method: "POST",
    headers: { "Content-Type": "application/wasm", Accept: "application/json",
      ...(csrfToken ? { "X-CSRF-Token": csrfToken } : {}) },
    body: file,
    credentials: "same-origin",
    cache: "no-store",
  });
  const data = await response.json();
  if (!response.ok) throw new ApiError(response.status, data || {});
  return data;
}

/**
 * Exchange an API key for the session cookie. The key goes out in this one request and
 * is kept nowhere.
 * @param {string} key
 * @returns {Promise<Session>}
 */
export async function signIn(key) {
  const session = await call("POST", "v1/console/session", { key });
  csrfToken = session.csrf_token;
  return session;
}

/**
 * The session this browser already has (after a reload), or null.
 * @returns {Promise<Session | null>}
 */
export async function currentSession() {
  try {
    const session = await call("GET", "v1/console/session");
    csrfToken = session.csrf_token;
    return session;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

/** End the session on the server (the cookie is cleared too). */
export async function signOut() {
  try {
    await call("DELETE", "v1/console/session");
  } finally {
    csrfToken = null;
  }
}
