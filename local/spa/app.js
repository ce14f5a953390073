/*
 * hitkey-bff demo SPA - no build step, no tokens. The snippet an SPA team copies:
 *
 *   const res = await fetch("/auth/session", {
 *     credentials: "include",       // send the HttpOnly session cookie
 *     headers: { "X-CSRF": "1" },   // the BFF refuses requests without it (a CSRF guard)
 *   });
 *   if (res.status === 401) { location.href = "/auth/login?return_to=" + encodeURIComponent(location.pathname); }
 *   const session = await res.json();
 *
 * Sign-in is a plain link to /auth/login; sign-out is POST /auth/logout. Errors from the BFF are
 * JSON {"error": code, "message": text}. The access and refresh tokens never reach the browser:
 * the BFF keeps them encrypted and calls HitKey on the page's behalf (GET /auth/userinfo).
 */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  // Friendly words for ?auth_error=<code>, which /auth/callback appends when sign-in fails.
  const AUTH_ERRORS = {
    access_denied: "Sign-in was cancelled at HitKey.",
    authorization_failed: "HitKey could not complete the sign-in.",
    login_expired: "The sign-in took too long. Please try again.",
    login_required: "Please sign in again.",
    invalid_state: "The sign-in could not be matched to this browser. Please try again.",
    state_mismatch: "The sign-in could not be matched to this browser. Please try again.",
    invalid_request: "HitKey rejected the sign-in request.",
    invalid_grant: "The sign-in code was already used or has expired. Please try again.",
    upstream_error: "HitKey did not answer properly. Please try again in a moment.",
    upstream_timeout: "HitKey took too long to answer. Please try again in a moment.",
    temporarily_unavailable: "HitKey is temporarily unavailable. Please try again in a moment.",
    server_error: "HitKey had a problem completing the sign-in.",
    service_unavailable: "The sign-in service is temporarily unavailable.",
    misconfigured: "This deployment is not configured correctly.",
  };

  class BffError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** One call to the BFF: same origin, cookie included, X-CSRF header, JSON back. */
  async function bff(path, method = "GET") {
    let res;
    try {
      res = await fetch(path, {
        method,
        credentials: "include",
        headers: { "X-CSRF": "1" },
        cache: "no-store",
      });
    } catch (err) {
      throw new BffError(0, "network_error", "The BFF could not be reached (" + err.message + ").");
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!res.ok) {
      const code = data && typeof data.error === "string" ? data.error : "http_" + res.status;
      const message =
        data && typeof data.message === "string" ? data.message : res.statusText || "The request failed.";
      throw new BffError(res.status, code, message);
    }
    return data ?? {};
  }

  // ---- rendering (text only: server data always goes through textContent) ----

  function show(view) {
    for (const name of ["loading", "signed-out", "signed-in"]) {
      $("view-" + name).hidden = name !== view;
    }
  }

  function setStatus(text) {
    $("status").textContent = text || "";
  }

  function showError(title, message, code) {
    $("error-title").textContent = title;
    $("error-message").textContent = message || "";
    $("error-code").textContent = code || "unknown";
    $("error").hidden = false;
  }

  function showBffError(action, err) {
    showError(action + " failed", err.message, err.code + (err.status ? " (HTTP " + err.status + ")" : ""));
  }

  function clearError() {
    $("error").hidden = true;
  }

  function userOf(session) {
    const user = session.user && typeof session.user === "object" ? session.user : session;
    const fullName = [user.given_name, user.family_name].filter(Boolean).join(" ");
    const name = user.name || fullName || user.preferred_username || user.nickname || user.email || user.sub;
    return { name: String(name || "Signed in"), email: user.email ? String(user.email) : "" };
  }

  function isSignedIn(session) {
    for (const key of ["authenticated", "signed_in", "signedIn"]) {
      if (typeof session[key] === "boolean") return session[key];
    }
    return Boolean(session.user || session.sub);
  }

  /** A time from a BFF answer: epoch seconds (or ms) or an ISO date; null when absent. */
  function timeOf(raw) {
    if (typeof raw === "number") return new Date(raw > 1e12 ? raw : raw * 1000);
    if (typeof raw === "string" && raw) {
      const parsed = /^\d+$/.test(raw) ? new Date(Number(raw) * 1000) : new Date(raw);
      if (!Number.isNaN(parsed.getTime())) return parsed;
    }
    return null;
  }

  function relative(when) {
    const minutes = Math.round((when.getTime() - Date.now()) / 60000);
    if (Math.abs(minutes) >= 2 * 24 * 60) {
      const days = Math.round(Math.abs(minutes) / (24 * 60));
      return minutes > 0 ? "in " + days + " days" : days + " days ago";
    }
    if (Math.abs(minutes) >= 120) {
      const hours = Math.round(Math.abs(minutes) / 60);
      return minutes > 0 ? "in " + hours + " h" : hours + " h ago";
    }
    return minutes > 0 ? "in " + minutes + " min" : minutes === 0 ? "now" : -minutes + " min ago";
  }

  function showTime(id, when, fallback) {
    const el = $(id);
    if (!when) {
      el.textContent = fallback;
      el.removeAttribute("title");
      return;
    }
    el.textContent = when.toLocaleString() + " (" + relative(when) + ")";
    el.title = when.toISOString();
  }

  function showSignedOut(statusText) {
    $("user-name").textContent = "";
    $("user-email").textContent = "";
    $("claims").textContent = "";
    $("token-expiry").textContent = "—";
    $("session-expiry").textContent = "—";
    show("signed-out");
    setStatus(statusText);
  }

  function showSignedIn(session) {
    const user = userOf(session);
    $("user-name").textContent = user.name;
    $("user-email").textContent = user.email;
    $("avatar").textContent = user.name.trim().charAt(0).toUpperCase() || "?";
    // /auth/session's expires_at is the session's; the access token's is known after a refresh.
    showTime("session-expiry", timeOf(session.expires_at), "—");
    showTime("token-expiry", timeOf(session.access_token_expires_at), "— (refresh to see)");
    show("signed-in");
  }

  // ---- flows ----

  async function loadSession() {
    show("loading");
    let session;
    try {
      session = await bff("/auth/session");
    } catch (err) {
      if (err.status === 401) return showSignedOut();
      showBffError("Checking your session", err);
      return showSignedOut();
    }
    if (!isSignedIn(session)) return showSignedOut();
    showSignedIn(session);
    await loadClaims();
  }

  async function loadClaims() {
    $("claims").textContent = "Loading…";
    try {
      const claims = await bff("/auth/userinfo");
      $("claims").textContent = JSON.stringify(claims, null, 2);
    } catch (err) {
      if (err.status === 401) {
        // The session is gone (expired, signed out elsewhere, or HitKey revoked it).
        return showSignedOut("Your session has ended - please sign in again.");
      }
      $("claims").textContent = "";
      showBffError("Loading your claims", err);
    }
  }

  async function refreshTokens() {
    const button = $("refresh");
    button.disabled = true;
    setStatus("Refreshing tokens…");
    try {
      const result = await bff("/auth/refresh", "POST");
      clearError();
      showTime("token-expiry", timeOf(result.expires_at ?? result.access_token_expires_at), "—");
      setStatus("Tokens refreshed at " + new Date().toLocaleTimeString() + ".");
    } catch (err) {
      if (err.status === 401) return showSignedOut("Your session has ended - please sign in again.");
      setStatus("");
      showBffError("Refreshing tokens", err);
    } finally {
      button.disabled = false;
    }
  }

  async function signOut() {
    const button = $("signout");
    button.disabled = true;
    setStatus("Signing out…");
    try {
      await bff("/auth/logout", "POST");
      clearError();
      showSignedOut("You are signed out.");
    } catch (err) {
      setStatus("");
      showBffError("Signing out", err);
    } finally {
      button.disabled = false;
    }
  }

  /** ?auth_error=<code> from a failed sign-in: say so, then take it out of the address bar. */
  function consumeAuthError() {
    const url = new URL(window.location.href);
    const raw = url.searchParams.get("auth_error");
    if (raw === null) return;
    // Only a short, plain code is echoed: the query string is attacker-controllable.
    const code = /^[A-Za-z0-9_.-]{1,64}$/.test(raw) ? raw : "unknown";
    const message = Object.hasOwn(AUTH_ERRORS, code) ? AUTH_ERRORS[code] : "Sign-in did not complete.";
    showError("Sign-in failed", message, code);
    url.searchParams.delete("auth_error");
    url.searchParams.delete("auth_error_description");
    const query = url.searchParams.toString();
    window.history.replaceState(window.history.state, "", url.pathname + (query ? "?" + query : "") + url.hash);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("refresh").addEventListener("click", refreshTokens);
    $("signout").addEventListener("click", signOut);
    $("error-dismiss").addEventListener("click", clearError);
    consumeAuthError();
    loadSession();
  });
})();
