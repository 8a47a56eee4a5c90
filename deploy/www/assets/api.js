// The API as the viewer uses it: JSON over fetch, same origin. With access control on (README "Security"),
// the first 401 asks the reader for a token once; it is kept in sessionStorage (this tab only, gone when
// the tab closes) and sent as `Authorization: Bearer` on every request, the event stream included.

const tokenKey = "runjournal.token";

/** An API error answer: `status` and the API's `{"error":{"code","message"}}`. */
export class APIError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export function storedToken() {
  return sessionStorage.getItem(tokenKey) || "";
}

export function authHeaders() {
  const token = storedToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

let pendingPrompt = null;

/**
 * Asks for a token (one dialog at a time, however many requests were refused) and stores it.
 * Resolves true when the reader entered one.
 */
export function askForToken(reason) {
  if (pendingPrompt) return pendingPrompt;
  pendingPrompt = new Promise((resolve) => {
    const dialog = document.createElement("dialog");
    dialog.className = "token-dialog";
    dialog.innerHTML = `
      <form method="dialog">
        <h2>Token required</h2>
        <p class="why"></p>
        <label for="token-input">API token (read scope or more)</label>
        <input id="token-input" type="password" autocomplete="off" required>
        <p class="hint">Kept in this tab only (sessionStorage) and sent as <code>Authorization: Bearer</code>.</p>
        <div class="actions"><button type="submit" class="primary">Use token</button></div>
      </form>`;
    dialog.querySelector(".why").textContent = reason;
    document.body.append(dialog);
    dialog.addEventListener("close", () => {
      const value = dialog.querySelector("input").value.trim();
      dialog.remove();
      pendingPrompt = null;
      if (value) sessionStorage.setItem(tokenKey, value);
      resolve(Boolean(value));
    });
    dialog.showModal();
  });
  return pendingPrompt;
}

/** fetch with the token; a 401 asks for one and retries once the reader gave it. */
export async function apiFetch(path, options = {}) {
  for (;;) {
    const response = await fetch(path, { ...options, headers: { ...(options.headers || {}), ...authHeaders() } });
    if (response.status === 401) {
      const message = storedToken() ? "The token was refused (unknown or revoked)." : "This server requires an access token.";
      if (await askForToken(message)) continue;
    }
    return response;
  }
}

/** GET/POST returning parsed JSON, or throwing APIError. */
export async function apiJSON(path, options = {}) {
  const response = await apiFetch(path, options);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!response.ok) {
    throw new APIError(response.status, body?.error?.code, body?.error?.message || text.slice(0, 200));
  }
  return body;
}
