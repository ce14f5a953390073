/*
 * hitkey-bff demo SPA - no build step, no tokens. Every call goes through the JS client
 * (clients/js/hitkey-bff.js, served here as /hitkey-bff.js), the same module an app installs as
 * @hitkey-bff/client:
 *
 *   import { createBff } from "/hitkey-bff.js";
 *   const bff = createBff();
 *   bff.addEventListener("signedout", () => showSignIn());  // a 401, a sign-out, another tab
 *   const session = await bff.session();   // 200 {"authenticated": false} when signed out, not a 401
 *   if (!session.authenticated) bff.login(); // a top-level navigation back to this very URL
 *
 * Errors from the BFF are BffError {status, code, message}. The access and refresh tokens never
 * reach the browser: the BFF keeps them encrypted and calls HitKey and the APIs for the page.
 * Server data is only ever shown through textContent.
 */
import { BffError, createBff, readJson } from "/hitkey-bff.js";

const $ = (id) => document.getElementById(id);
const bff = createBff();

// Friendly words for ?auth_error=<code>, which /auth/callback appends when sign-in fails.
const AUTH_ERRORS = {
  invalid_request: "The sign-in answer was incomplete. Please try again.",
  invalid_state: "The sign-in could not be matched to this browser (it may have been started in another tab, or took too long). Please try again.",
  login_cookie_missing:
    "Your browser did not send back its sign-in cookie, so the sign-in could not be finished. Please try again. " +
    "If it happens again: allow cookies for this site, and finish signing in within 10 minutes. " +
    "On http://localhost, Safari and other WebKit browsers drop secure cookies: open the app over https " +
    "(or start the local stack with HTTP_COOKIES=1 make run), or use Chrome or Firefox.",
  invalid_grant: "The sign-in code was already used or has expired. Please try again.",
  access_denied: "Sign-in was cancelled at HitKey.",
  upstream_error: "HitKey did not answer properly. Please try again in a moment.",
  upstream_timeout: "HitKey took too long to answer. Please try again in a moment.",
  misconfigured: "This deployment is not configured correctly - tell whoever runs it.",
  service_unavailable: "The sign-in service is temporarily unavailable. Please try again in a moment.",
  server_error: "HitKey had a problem completing the sign-in. Please try again.",
  temporarily_unavailable: "HitKey is temporarily unavailable. Please try again in a moment.",
  authorization_failed: "HitKey could not complete the sign-in.",
  login_required: "Please sign in again.",
};
const AUTH_ERROR_FALLBACK = "Sign-in did not complete. Please try again.";

const SIGNED_OUT_WORDS = {
  logout: "You are signed out.",
  logout_everywhere: "You are signed out on every device.",
  other_tab: "You signed out in another tab.",
  unauthenticated: "Your session has ended - please sign in again.",
  session: "Your session has ended - please sign in again.",
};

// ---- rendering (text only: server data always goes through textContent) ----

function show(view) {
  for (const name of ["loading", "signed-out", "signed-in"]) {
    $(`view-${name}`).hidden = name !== view;
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

function describe(err) {
  if (err instanceof BffError) return `${err.code}${err.status ? ` (HTTP ${err.status})` : ""}`;
  return err && err.name ? err.name : "error";
}

function showBffError(action, err) {
  showError(`${action} failed`, err && err.message, describe(err));
}

function clearError() {
  $("error").hidden = true;
}

function panelError(id, err) {
  const el = $(id);
  if (!err) {
    el.hidden = true;
    el.textContent = "";
    return;
  }
  const missing = err instanceof BffError && err.status === 404 && err.code === "http_404";
  const message = missing ? "This BFF has no such route yet." : err.message || "The request failed.";
  el.textContent = `${message} - ${describe(err)}`;
  el.hidden = false;
}

function userOf(session) {
  const user = session.user && typeof session.user === "object" ? session.user : {};
  const fullName = [user.given_name, user.family_name].filter(Boolean).join(" ");
  const name = user.name || fullName || user.preferred_username || user.nickname || user.email || user.sub;
  return { name: String(name || "Signed in"), email: user.email ? String(user.email) : "" };
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
    return minutes > 0 ? `in ${days} days` : `${days} days ago`;
  }
  if (Math.abs(minutes) >= 120) {
    const hours = Math.round(Math.abs(minutes) / 60);
    return minutes > 0 ? `in ${hours} h` : `${hours} h ago`;
  }
  return minutes > 0 ? `in ${minutes} min` : minutes === 0 ? "now" : `${-minutes} min ago`;
}

function showTime(id, when, fallback) {
  const el = $(id);
  if (!when) {
    el.textContent = fallback;
    el.removeAttribute("title");
    return;
  }
  el.textContent = `${when.toLocaleString()} (${relative(when)})`;
  el.title = when.toISOString();
}

function showSignedOut(statusText) {
  $("user-name").textContent = "";
  $("user-email").textContent = "";
  $("claims").textContent = "";
  $("token-expiry").textContent = "—";
  $("session-expiry").textContent = "—";
  $("api-result").hidden = true;
  $("api-result").textContent = "";
  panelError("api-error", null);
  $("sessions").replaceChildren();
  panelError("sessions-error", null);
  show("signed-out");
  setStatus(statusText);
}

function showSignedIn(session) {
  const user = userOf(session);
  $("user-name").textContent = user.name;
  $("user-email").textContent = user.email;
  $("avatar").textContent = user.name.trim().charAt(0).toUpperCase() || "?";
  // /auth/session's expires_at is the session's (or its idle deadline, when that comes first).
  const ends = [timeOf(session.expires_at), timeOf(session.idle_expires_at)].filter(Boolean);
  showTime("session-expiry", ends.length ? new Date(Math.min(...ends.map(Number))) : null, "—");
  showTime("token-expiry", timeOf(session.access_token_expires_at), "— (refresh to see)");
  show("signed-in");
}

// ---- flows ----

async function loadSession() {
  show("loading");
  let session;
  try {
    session = await bff.session();
  } catch (err) {
    showBffError("Checking your session", err);
    return showSignedOut();
  }
  if (!session.authenticated) return showSignedOut();
  showSignedIn(session);
  await Promise.all([loadClaims(), loadSessions()]);
}

async function loadClaims() {
  $("claims").textContent = "Loading…";
  try {
    const claims = await bff.userinfo();
    $("claims").textContent = JSON.stringify(claims, null, 2);
  } catch (err) {
    $("claims").textContent = "";
    if (err.status !== 401) showBffError("Loading your claims", err); // 401: the signedout event says it
  }
}

/** While a button's action runs, it is disabled; it always comes back. */
async function busy(button, action) {
  button.disabled = true;
  try {
    return await action();
  } finally {
    button.disabled = false;
  }
}

async function refreshTokens() {
  await busy($("refresh"), async () => {
    setStatus("Refreshing tokens…");
    try {
      const result = await bff.refresh();
      clearError();
      showTime("token-expiry", timeOf(result.expires_at ?? result.access_token_expires_at), "—");
      setStatus(`Tokens refreshed at ${new Date().toLocaleTimeString()}.`);
    } catch (err) {
      if (err.status === 401) return; // the signedout event shows the signed-out view
      setStatus("");
      showBffError("Refreshing tokens", err);
    }
  });
}

async function signOut(button, everywhere) {
  await busy(button, async () => {
    setStatus("Signing out…");
    try {
      await bff.logout({ everywhere }); // the signedout event shows the signed-out view
      clearError();
    } catch (err) {
      setStatus("");
      showBffError("Signing out", err);
    }
  });
}

async function callApi() {
  const result = $("api-result");
  await busy($("call-api"), async () => {
    panelError("api-error", null);
    result.hidden = false;
    result.textContent = "Calling…";
    try {
      const answer = await readJson(await bff.api("demo", "/hello"));
      result.textContent = JSON.stringify(answer, null, 2);
    } catch (err) {
      result.hidden = true;
      result.textContent = "";
      panelError("api-error", err);
    }
  });
}

function sessionItem(item) {
  const li = document.createElement("li");
  const text = document.createElement("div");
  text.className = "session-text";
  const device = document.createElement("span");
  device.className = "session-device";
  device.textContent = String(item.device || "Unknown device");
  if (item.current) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "this device";
    device.append(badge);
  }
  const seen = document.createElement("span");
  seen.className = "session-seen";
  const when = timeOf(item.last_seen_at) || timeOf(item.created_at);
  seen.textContent = when ? `Last active ${when.toLocaleString()} (${relative(when)})` : "Last activity unknown";
  if (when) seen.title = when.toISOString();
  text.append(device, seen);
  const end = document.createElement("button");
  end.type = "button";
  end.className = "button small subtle";
  end.textContent = "Sign out";
  end.setAttribute("aria-label", `Sign out ${device.textContent}`);
  end.dataset.sessionId = String(item.id);
  end.addEventListener("click", () => endSession(end, item));
  li.dataset.current = item.current ? "true" : "false";
  li.append(text, end);
  return li;
}

async function loadSessions() {
  const list = $("sessions");
  panelError("sessions-error", null);
  try {
    const sessions = await bff.sessions();
    list.replaceChildren(...sessions.map(sessionItem));
    $("end-others").disabled = !sessions.some((item) => !item.current);
  } catch (err) {
    list.replaceChildren();
    $("end-others").disabled = true;
    if (err.status !== 401) panelError("sessions-error", err);
  }
}

async function endSession(button, item) {
  await busy(button, async () => {
    try {
      await bff.endSession(String(item.id)); // this browser's own: the signedout event follows
      if (!item.current) {
        setStatus(`Signed out ${String(item.device || "that device")}.`);
        await loadSessions();
      }
    } catch (err) {
      panelError("sessions-error", err);
    }
  });
}

async function endOthers() {
  let done = false;
  await busy($("end-others"), async () => {
    try {
      const ended = await bff.endOtherSessions();
      setStatus(`Signed out ${ended} other session${ended === 1 ? "" : "s"}.`);
      done = true;
    } catch (err) {
      panelError("sessions-error", err);
    }
  });
  // After busy() re-enabled the button: the reloaded list decides whether it stays enabled.
  if (done) await loadSessions();
}

/** ?auth_error=<code> from a failed sign-in: say so, then take it out of the address bar. */
function consumeAuthError() {
  const url = new URL(window.location.href);
  const raw = url.searchParams.get("auth_error");
  if (raw === null) return;
  // Only a short, plain code is echoed: the query string is attacker-controllable.
  const code = /^[A-Za-z0-9_.-]{1,64}$/.test(raw) ? raw : "unknown";
  const message = Object.hasOwn(AUTH_ERRORS, code) ? AUTH_ERRORS[code] : AUTH_ERROR_FALLBACK;
  showError("Sign-in failed", message, code);
  url.searchParams.delete("auth_error");
  url.searchParams.delete("auth_error_description");
  const query = url.searchParams.toString();
  window.history.replaceState(window.history.state, "", url.pathname + (query ? `?${query}` : "") + url.hash);
}

bff.addEventListener("signedout", (event) => {
  showSignedOut(SIGNED_OUT_WORDS[event.detail.reason] || SIGNED_OUT_WORDS.session);
});
bff.addEventListener("expiring", (event) => {
  const { reason, expiresAt } = event.detail;
  setStatus(
    reason === "idle"
      ? `You have been inactive: your session ends at ${expiresAt.toLocaleTimeString()} unless you use the page.`
      : `Your session ends at ${expiresAt.toLocaleTimeString()}: sign in again to continue after that.`,
  );
});

$("signin").addEventListener("click", (event) => {
  event.preventDefault(); // the link works without JS too; the client keeps path, query and hash
  bff.login();
});
$("refresh").addEventListener("click", refreshTokens);
$("signout").addEventListener("click", () => signOut($("signout"), false));
$("signout-everywhere").addEventListener("click", () => signOut($("signout-everywhere"), true));
$("call-api").addEventListener("click", callApi);
$("sessions-reload").addEventListener("click", loadSessions);
$("end-others").addEventListener("click", endOthers);
$("error-dismiss").addEventListener("click", clearError);
consumeAuthError();
loadSession();
