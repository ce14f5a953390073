/** Types for @hitkey-bff/client (hitkey-bff.js). */

/** The name of the BroadcastChannel the app's tabs share. */
export declare const CHANNEL_NAME: "hitkey-bff";

/** The user as HitKey's userinfo describes them (the fields the BFF keeps in the session). */
export interface User {
  sub: string;
  name?: string;
  given_name?: string;
  family_name?: string;
  preferred_username?: string;
  email?: string;
  email_verified?: boolean;
  picture?: string;
  [claim: string]: unknown;
}

export interface SignedOut {
  authenticated: false;
}

export interface SignedIn {
  authenticated: true;
  user: User;
  /** The session's absolute end, epoch seconds. */
  expires_at: number;
  /** The session's inactivity deadline, epoch seconds (BFFs with an idle timeout). */
  idle_expires_at?: number;
  /** The access token's expiry, epoch seconds (the token itself stays on the server). */
  access_token_expires_at?: number;
}

/** `GET /auth/session`: `200 {"authenticated": false}` when nobody is signed in, never a 401. */
export type Session = SignedIn | SignedOut;

/** `POST /auth/refresh`. */
export interface Refreshed {
  /** The new access token's expiry, epoch seconds. */
  expires_at: number;
}

/** HitKey's claims from `GET /auth/userinfo`. */
export type UserInfo = User;

/** One entry of `GET /auth/sessions`. */
export interface SessionInfo {
  /** A public identifier: it cannot be turned into a session. */
  id: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  idle_expires_at?: number;
  /** A short description such as "Chrome on macOS". */
  device: string;
  /** True for this browser's own session. */
  current: boolean;
}

export type SignedOutReason =
  /** A 401 from the BFF, or /auth/session answering unauthenticated after a signed-in answer. */
  | "unauthenticated"
  | "session"
  /** logout() or ending this browser's own session. */
  | "logout"
  | "logout_everywhere"
  /** Another tab of the app signed out. */
  | "other_tab";

export interface SignedOutDetail {
  reason: SignedOutReason;
}

export interface ExpiringDetail {
  /** When the session ends. */
  expiresAt: Date;
  /** "absolute": its lifetime is over, sign in again; "idle": any call (not passive) extends it. */
  reason: "absolute" | "idle";
  secondsLeft: number;
}

export interface BffOptions {
  /** Where the BFF is; "" (default) for this origin, e.g. "https://bff.example.com" otherwise. */
  baseUrl?: string;
  /** Called with each `signedout` event's detail. */
  onSignedOut?: (detail: SignedOutDetail) => void;
  /** Called with each `expiring` event's detail. */
  onExpiring?: (detail: ExpiringDetail) => void;
  /** How long before the session's end `expiring` fires, in seconds (default 60). */
  expiringLeadSeconds?: number;
  /** The BroadcastChannel's name (default "hitkey-bff"). */
  channelName?: string;
  // Injection points (defaults: the page's globals), for tests and unusual hosts.
  fetch?: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  location?: Pick<Location, "assign" | "pathname" | "search" | "hash">;
  /** A BroadcastChannel constructor; `null` turns cross-tab sign-out off. */
  BroadcastChannel?: (new (name: string) => BroadcastChannel) | null;
  Headers?: typeof Headers;
  setTimeout?: (callback: () => void, ms: number) => unknown;
  clearTimeout?: (id: unknown) => void;
  /** The clock, epoch milliseconds. */
  now?: () => number;
}

/** An error answer from the BFF (`{"error": code, "message": text}`), or a network failure. */
export declare class BffError extends Error {
  constructor(status: number, code: string, message: string, body?: unknown);
  /** HTTP status; 0 when the BFF could not be reached. */
  readonly status: number;
  /**
   * The answer's `error` code (`http_<status>` when it had none). With status 0 nothing was
   * answered: `network_error` (unreachable), `invalid_path` (api() refused to send the call).
   */
  readonly code: string;
  /** The parsed answer, when it was JSON. */
  readonly body: unknown;
  static fromResponse(response: Response): Promise<BffError>;
}

/** The JSON body of a 2xx Response (`null` when empty), else throws a {@link BffError}. */
export declare function readJson<T = unknown>(response: Response): Promise<T>;

export interface BffEventMap {
  signedout: CustomEvent<SignedOutDetail>;
  expiring: CustomEvent<ExpiringDetail>;
}

export declare class Bff extends EventTarget {
  constructor(options?: BffOptions);
  /** "unknown" until the first answer, then "in" or "out". */
  readonly state: "unknown" | "in" | "out";
  /** The URL of a BFF path such as "/auth/session". */
  url(path: string): string;
  /** fetch with the cookie, `X-CSRF: 1`, and `signedout` on a 401. Any status resolves. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  session(options?: { passive?: boolean }): Promise<Session>;
  /** A top-level navigation to sign in; never settles (the page is left). */
  login(options?: { returnTo?: string }): Promise<never>;
  logout(options?: { everywhere?: boolean }): Promise<void>;
  refresh(): Promise<Refreshed>;
  userinfo(): Promise<UserInfo>;
  /**
   * `/api/{name}{path}` through the BFF's API proxy. `name` matches `[a-z0-9-]{1,32}`; `path`
   * starts with "/" and, before any `?` or `#`, has no backslash and no dot segment in any
   * decoding (`..`, `.`, `%2e%2e`, `.%2e`, `%2e.`, `%2e`, `%252e%252e`, ...). Otherwise it rejects
   * with a {@link BffError} (status 0, code `"invalid_path"`) and sends no request.
   */
  api(name: string, path?: string, init?: RequestInit): Promise<Response>;
  sessions(): Promise<SessionInfo[]>;
  endSession(id: string): Promise<void>;
  /** Ends the user's other sessions; resolves to how many ended. */
  endOtherSessions(): Promise<number>;
  /** Stop listening to the other tabs and clear the timers. */
  close(): void;

  addEventListener<K extends keyof BffEventMap>(
    type: K,
    listener: (this: Bff, event: BffEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof BffEventMap>(
    type: K,
    listener: (this: Bff, event: BffEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

export declare function createBff(options?: BffOptions): Bff;

/** A client for this origin, made when first used. */
declare const bff: Bff;
export default bff;
