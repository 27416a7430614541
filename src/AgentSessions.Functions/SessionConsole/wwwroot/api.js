// The public sessions API as the console calls it: same origin, bearer key from sessionStorage, JSON in and out.

const KEY_ITEM = 'agent-sessions.api-key';

/** The API key of this tab. sessionStorage only: it goes with the tab and never into localStorage or a cookie. */
export const apiKey = {
  get: () => sessionStorage.getItem(KEY_ITEM),
  set: (key) => sessionStorage.setItem(KEY_ITEM, key),
  clear: () => sessionStorage.removeItem(KEY_ITEM),
};

/** An answer other than 2xx, with the contract's error body when there is one. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || body?.detail || `The service answered HTTP ${status}`);
    this.status = status;
    this.code = body?.error ?? null;
  }
}

let unauthorized = () => {};

/** Called with the server's message when a signed-in call gets 401: the key no longer works. */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

export function signedOut(message) {
  unauthorized(message);
}

/**
 * Calls the API. `key` overrides the stored key (sign-in tries a key before keeping it; a 401 then is only an answer).
 * Returns { status, body }; throws ApiError for anything but 2xx.
 */
export async function call(method, path, body, { key } = {}) {
  const headers = { Accept: 'application/json', Authorization: `Bearer ${key ?? apiKey.get() ?? ''}` };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }

  const response = await fetch(path, init);
  const text = await response.text();
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }

  if (response.status === 401 && key === undefined) {
    signedOut(json?.message);
  }

  if (!response.ok) {
    throw new ApiError(response.status, json);
  }

  return { status: response.status, body: json };
}

export const sessionPath = (id) => `/v1/sessions/${encodeURIComponent(id)}`;

/** Which commands each status allows: the contract's state table (anything else answers 409). */
export const allowedCommands = {
  ready: [],
  running: ['pause', 'cancel'],
  waiting_for_input: ['pause', 'cancel'],
  paused: ['resume', 'cancel'],
  finished: [],
  error: [],
};

export const statuses = Object.keys(allowedCommands);

/** A wire timestamp for people: local date and time, with the exact value kept in datetime. */
export function timeElement(iso) {
  const time = document.createElement('time');
  time.dateTime = iso ?? '';
  const date = iso ? new Date(iso) : null;
  time.textContent = date && !Number.isNaN(date.getTime()) ? date.toLocaleString() : (iso ?? '');
  return time;
}

export function statusBadge(element, status, pending = false) {
  element.className = 'status' + (pending ? ' pending' : '');
  element.dataset.status = status ?? '';
  element.textContent = status ?? '';
}
