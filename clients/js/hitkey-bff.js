/**
 * @hitkey-bff/client - the browser side of hitkey-bff, for any framework, with no dependencies.
 *
 *   import { createBff } from "@hitkey-bff/client";
 *   const bff = createBff();                       // or: import bff from "@hitkey-bff/client"
 *   bff.addEventListener("signedout", () => showSignIn());
 *   const session = await bff.session();           // {authenticated: false} when signed out
 *   if (!session.authenticated) await bff.login(); // a navigation: nothing runs after it
 *   const res = await bff.api("notes", "/notes/42"); // through the BFF, which adds the token
 *
 * The rules it follows for every call: the HttpOnly session cookie goes along
 * (`credentials: "include"`), the header `X-CSRF: 1` is sent (the BFF refuses JSON routes without
 * it), and a `401` means the session is gone: the client says so once, with a `signedout` event,
 * in this tab and (through a BroadcastChannel) in the app's other tabs. Tokens never reach the
 * browser. Everything it needs from the page (fetch, location, BroadcastChannel, timers, the
 * clock) can be passed in, so it runs the same under a test runner.
 */

/** The name of the BroadcastChannel the app's tabs share. */
export const CHANNEL_NAME = "hitkey-bff";

/** setTimeout's longest delay (about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** An error answer from the BFF (`{"error": code, "message": text}`), or a network failure. */
export class BffError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the BFF could not be reached
   * @param {string} code the answer's `error` code, `http_<status>` when it had none
   * @param {string} message a sentence for people
   * @param {unknown} [body] the parsed answer, when it was JSON
   */
  constructor(status, code, message, body) {
    super(message);
    this.name = "BffError";
    this.status = status;
    this.code = code;
    this.body = body;
  }

  /** A BffError from a non-2xx Response (reads its body). */
  static async fromResponse(response) {
    const body = await readBody(response);
    const code = body && typeof body === "object" && typeof body.error === "string" ? body.error : `http_${response.status}`;
    const message =
      body && typeof body === "object" && typeof body.message === "string"
        ? body.message
        : response.statusText || `The request failed (HTTP ${response.status}).`;
    return new BffError(response.status, code, message, body);
  }
}

async function readBody(response) {
  let text;
  try {
    text = await response.text();
  } catch {
    return null;
  }
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * The JSON body of a 2xx Response (`null` when empty), else a {@link BffError}.
 * For answers of `bff.api(...)` and `bff.fetch(...)`.
 */
export async function readJson(response) {
  if (!response.ok) throw await BffError.fromResponse(response);
  return readBody(response);
}

/** Epoch seconds (the BFF's unit), epoch milliseconds or an ISO date, as milliseconds; else null. */
function toMillis(raw) {
  if (typeof raw === "number" && Number.isFinite(raw)) return raw > 1e12 ? raw : raw * 1000;
  if (typeof raw === "string" && raw) {
    const ms = /^\d+$/.test(raw) ? toMillis(Number(raw)) : Date.parse(raw);
    return Number.isFinite(ms) ? ms : null;
  }
  return null;
}

/** Headers from a Headers object, an array of pairs or a plain object, merged in order. */
function mergeHeaders(HeadersImpl, ...sources) {
  const merged = new HeadersImpl();
  for (const source of sources) {
    if (source == null) continue;
    const entries =
      typeof source.forEach === "function" && !Array.isArray(source)
        ? (() => {
            const list = [];
            source.forEach((value, name) => list.push([name, value]));
            return list;
          })()
        : Array.isArray(source)
          ? source
          : Object.entries(source);
    for (const [name, value] of entries) {
      if (value === undefined) continue;
      merged.set(name, value);
    }
  }
  return merged;
}

function makeEvent(type, detail) {
  if (typeof CustomEvent === "function") return new CustomEvent(type, { detail });
  const event = new Event(type);
  Object.defineProperty(event, "detail", { value: detail });
  return event;
}

/** An upstream's name, as the BFF's configuration allows it. */
const API_NAME = /^[a-z0-9-]{1,32}$/;
/** How many layers of percent-encoding api() looks through (a server may decode more than once). */
const MAX_DECODINGS = 4;

/** One layer of percent-decoding of ASCII escapes (`%2e` -> `.`); others are left as they are. */
function decodeAscii(text) {
  return text.replace(/%([0-7][0-9a-f])/gi, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * Why `bff.api(name, path)` must not be sent, or "" when it may. The WHATWG URL parser (every
 * browser) resolves `..`, `.`, `%2e%2e`, `.%2e`, `%2e.` and `%2e` as dot segments and a `\` as a
 * `/` before the request leaves, and a server may decode again: each decoding of the path (the
 * part before `?` or `#`) is checked.
 */
function apiTargetProblem(name, path) {
  if (typeof name !== "string" || !API_NAME.test(name)) return "the API name must be 1-32 of a-z, 0-9 and -";
  if (typeof path !== "string" || !path.startsWith("/")) return 'the path must start with "/"';
  let layer = path.split(/[?#]/, 1)[0];
  for (let depth = 0; ; depth++) {
    if (layer.includes("\\")) return "the path must not contain a backslash";
    if (layer.split("/").some((segment) => segment === "." || segment === "..")) return "the path must not contain a dot segment";
    const next = decodeAscii(layer);
    if (next === layer) return "";
    if (depth === MAX_DECODINGS) return "the path is percent-encoded too many times";
    layer = next;
  }
}

/** A client for one BFF. Create it with {@link createBff}. */
export class Bff extends EventTarget {
  #base;
  #fetch;
  #location;
  #Headers;
  #setTimeout;
  #clearTimeout;
  #now;
  #leadMs;
  #channel = null;
  #state = "unknown"; // "unknown" | "in" | "out"
  #timer = null;
  #deadline = null; // {at: ms, reason: "absolute" | "idle"}
  #warnedFor = null;
  #recheckedFor = null;
  #currentId = null; // this browser's session id, from the last sessions() answer

  constructor(options = {}) {
    super();
    const g = globalThis;
    this.#base = String(options.baseUrl ?? "").replace(/\/+$/, "");
    const fetchImpl = options.fetch ?? g.fetch;
    this.#fetch = typeof fetchImpl === "function" ? (...args) => fetchImpl.apply(g, args) : null;
    this.#location = options.location ?? g.location ?? null;
    this.#Headers = options.Headers ?? g.Headers;
    this.#setTimeout = options.setTimeout ?? ((fn, ms) => g.setTimeout(fn, ms));
    this.#clearTimeout = options.clearTimeout ?? ((id) => g.clearTimeout(id));
    this.#now = options.now ?? (() => Date.now());
    this.#leadMs = Math.max(0, Number(options.expiringLeadSeconds ?? 60)) * 1000;

    const Channel = options.BroadcastChannel === undefined ? g.BroadcastChannel : options.BroadcastChannel;
    if (typeof Channel === "function") {
      try {
        this.#channel = new Channel(options.channelName ?? CHANNEL_NAME);
        this.#channel.onmessage = (event) => this.#onMessage(event && event.data);
        this.#channel.unref?.(); // Node.js only: an open channel must not keep a process alive
      } catch {
        this.#channel = null; // e.g. an opaque origin: cross-tab sign-out is then not available
      }
    }
    if (typeof options.onSignedOut === "function") {
      this.addEventListener("signedout", (event) => options.onSignedOut(event.detail));
    }
    if (typeof options.onExpiring === "function") {
      this.addEventListener("expiring", (event) => options.onExpiring(event.detail));
    }
  }

  /** The URL of a BFF path such as `/auth/session`. */
  url(path) {
    return this.#base + path;
  }

  /** What the client believes now: "unknown" (not asked yet), "in" or "out". */
  get state() {
    return this.#state;
  }

  /**
   * `fetch` with the BFF's rules: the cookie included, `X-CSRF: 1`, and a `signedout` event on a
   * `401`. Answers the Response as fetch does (any status); a network failure is a BffError with
   * status 0 and code `network_error` (an abort stays an AbortError).
   */
  async fetch(input, init) {
    return this.#send(input, init ?? {}, false);
  }

  async #send(input, init, confirm401) {
    if (!this.#fetch) throw new BffError(0, "network_error", "No fetch() is available here: pass one to createBff({fetch}).");
    const isRequest = typeof input === "object" && input !== null && typeof input.url === "string" && "headers" in input;
    const target = typeof input === "string" && input.startsWith("/") && !input.startsWith("//") ? this.url(input) : input;
    const headers = mergeHeaders(this.#Headers, isRequest ? input.headers : null, init.headers);
    headers.set("X-CSRF", "1");
    let response;
    try {
      response = await this.#fetch(target, { ...init, credentials: init.credentials ?? "include", headers });
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      const why = err && err.message ? ` (${err.message})` : "";
      throw new BffError(0, "network_error", `The BFF could not be reached${why}.`);
    }
    if (response.status === 401) {
      if (confirm401) {
        // A 401 through the API proxy may be the upstream's own, which does not end the session.
        this.#confirmSignedOut();
      } else {
        this.#signedOut("unauthenticated", true);
      }
    }
    return response;
  }

  async #json(path, init = {}) {
    const response = await this.#send(path, { cache: "no-store", ...init }, false);
    return readJson(response);
  }

  /**
   * `GET /auth/session`: `{authenticated: false}` or the user and the session's deadlines.
   * `passive: true` reads without counting as activity (for background checks). Schedules the
   * `expiring` event; an unauthenticated answer after a signed-in one emits `signedout`.
   */
  async session({ passive = false } = {}) {
    let answer;
    try {
      answer = await this.#json(passive ? "/auth/session?passive=1" : "/auth/session");
    } catch (err) {
      if (!(err instanceof BffError) || err.status !== 401) throw err;
      answer = { authenticated: false }; // older BFFs answered 401 here; today's answer 200
    }
    const session = answer && typeof answer === "object" ? answer : { authenticated: false };
    if (session.authenticated === true) {
      this.#state = "in";
      this.#schedule(session);
    } else if (this.#state === "in") {
      this.#signedOut("session", true);
    } else {
      this.#state = "out";
      this.#clearTimer();
    }
    return session;
  }

  /**
   * Sign in: a top-level navigation to `/auth/login?return_to=...` (the BFF sends the browser
   * on to HitKey and back). `returnTo` is a path on this app, by default the current one with
   * its query and hash. The page is left, so the promise never settles.
   */
  login({ returnTo } = {}) {
    const location = this.#location;
    if (!location || typeof location.assign !== "function") {
      return Promise.reject(new BffError(0, "no_location", "login() needs a page to navigate: pass createBff({location})."));
    }
    const back = returnTo ?? `${location.pathname ?? "/"}${location.search ?? ""}${location.hash ?? ""}`;
    location.assign(this.url(`/auth/login?return_to=${encodeURIComponent(back)}`));
    return new Promise(() => {});
  }

  /**
   * `POST /auth/logout` (`everywhere: true` ends all of the user's sessions). Emits `signedout`
   * here and in the app's other tabs.
   */
  async logout({ everywhere = false } = {}) {
    await this.#json(everywhere ? "/auth/logout?everywhere=true" : "/auth/logout", { method: "POST" });
    this.#signedOut(everywhere ? "logout_everywhere" : "logout", true);
  }

  /** `POST /auth/refresh`: new tokens now; answers the access token's new expiry. */
  async refresh() {
    return this.#signedIn(await this.#json("/auth/refresh", { method: "POST" }));
  }

  /** `GET /auth/userinfo`: HitKey's claims about the user. */
  async userinfo() {
    return this.#signedIn(await this.#json("/auth/userinfo"));
  }

  /**
   * A call through the BFF's API proxy: `/api/{name}{path}` with the user's access token added
   * by the BFF. `name` is an upstream's name (`[a-z0-9-]{1,32}`); `path` starts with "/" and is
   * sent as given (query included). A path the browser could resolve out of `/api/{name}/` - a
   * dot segment (`..`, `.`, `%2e%2e`, `.%2e`, also encoded twice or more) or a `\` before any
   * `?` or `#` - is refused: the promise rejects with a BffError (status 0, code `invalid_path`)
   * and no request is sent. Answers the Response; {@link readJson} reads it.
   */
  async api(name, path = "/", init) {
    const why = apiTargetProblem(name, path);
    if (why) throw new BffError(0, "invalid_path", `api(): ${why} (name ${JSON.stringify(name)}, path ${JSON.stringify(path)})`);
    return this.#send(`/api/${name}${path}`, init ?? {}, true);
  }

  /** `GET /auth/sessions`: the user's sessions (devices), newest activity first. */
  async sessions() {
    const answer = this.#signedIn(await this.#json("/auth/sessions"));
    const list = answer && Array.isArray(answer.sessions) ? answer.sessions : [];
    const current = list.find((item) => item && item.current === true);
    this.#currentId = current ? current.id : null;
    return list;
  }

  /**
   * `DELETE /auth/sessions/{id}`: end one of the user's sessions. Ending this browser's own
   * (as the last sessions() answer marked it) signs out here and in the other tabs.
   */
  async endSession(id) {
    await this.#json(`/auth/sessions/${encodeURIComponent(String(id))}`, { method: "DELETE" });
    if (this.#currentId !== null && id === this.#currentId) this.#signedOut("logout", true);
  }

  /** `DELETE /auth/sessions`: end all of the user's other sessions; answers how many ended. */
  async endOtherSessions() {
    const answer = await this.#json("/auth/sessions", { method: "DELETE" });
    return answer && typeof answer.ended === "number" ? answer.ended : 0;
  }

  /** Stop listening to the other tabs and clear the timers. */
  close() {
    this.#clearTimer();
    if (this.#channel) {
      this.#channel.onmessage = null;
      try {
        this.#channel.close();
      } catch {
        // already closed
      }
      this.#channel = null;
    }
  }

  #signedIn(answer) {
    if (this.#state !== "in") this.#state = "in";
    return answer;
  }

  // -- signed out ------------------------------------------------------------------------

  #signedOut(reason, tellOtherTabs) {
    const wasIn = this.#state === "in";
    const already = this.#state === "out";
    this.#state = "out";
    this.#clearTimer();
    if (tellOtherTabs && (wasIn || reason.startsWith("logout")) && this.#channel) {
      try {
        this.#channel.postMessage({ type: "signedout", reason });
      } catch {
        // the channel was closed
      }
    }
    if (!already) this.dispatchEvent(makeEvent("signedout", { reason }));
  }

  #onMessage(data) {
    if (data && data.type === "signedout" && this.#state !== "out") this.#signedOut("other_tab", false);
  }

  async #confirmSignedOut() {
    try {
      await this.session({ passive: true }); // emits signedout if the session is gone
    } catch {
      // unreachable: nothing can be concluded
    }
  }

  // -- expiring ----------------------------------------------------------------------------

  #clearTimer() {
    if (this.#timer !== null) this.#clearTimeout(this.#timer);
    this.#timer = null;
    this.#deadline = null;
  }

  #schedule(session) {
    const absolute = toMillis(session.expires_at);
    const idle = toMillis(session.idle_expires_at);
    let deadline = null;
    if (absolute !== null) deadline = { at: absolute, reason: "absolute" };
    if (idle !== null && (deadline === null || idle < deadline.at)) deadline = { at: idle, reason: "idle" };
    if (this.#timer !== null) this.#clearTimeout(this.#timer);
    this.#timer = null;
    this.#deadline = deadline;
    if (deadline === null || this.#warnedFor === deadline.at) return;
    this.#arm(deadline.at - this.#leadMs);
  }

  #arm(at) {
    const delay = at - this.#now();
    if (delay <= 0) return this.#due();
    this.#timer = this.#setTimeout(() => {
      this.#timer = null;
      this.#arm(at);
    }, Math.min(delay, MAX_TIMER_MS));
  }

  async #due() {
    const deadline = this.#deadline;
    if (deadline === null) return;
    if (deadline.reason === "idle" && this.#recheckedFor !== deadline.at) {
      // Activity since then may have moved the idle deadline: look without counting as activity.
      this.#recheckedFor = deadline.at;
      try {
        await this.session({ passive: true }); // re-schedules, and comes back here if still due
        return;
      } catch {
        // unreachable: warn with what is known
      }
    }
    if (this.#deadline === null || this.#deadline.at !== deadline.at || this.#warnedFor === deadline.at) return;
    this.#warnedFor = deadline.at;
    const secondsLeft = Math.max(0, Math.round((deadline.at - this.#now()) / 1000));
    this.dispatchEvent(makeEvent("expiring", { expiresAt: new Date(deadline.at), reason: deadline.reason, secondsLeft }));
  }
}

/** A client for the BFF at `baseUrl` (default: this origin). See {@link Bff}. */
export function createBff(options = {}) {
  return new Bff(options);
}

/** The same-origin client, made on first use. */
let shared = null;
function defaultBff() {
  shared ??= createBff();
  return shared;
}

/** A ready client for this origin (made when first used), for apps that need only one. */
const bff = new Proxy(
  {},
  {
    get(_target, name) {
      const client = defaultBff();
      const value = Reflect.get(client, name, client);
      return typeof value === "function" ? value.bind(client) : value;
    },
  },
);

export default bff;
