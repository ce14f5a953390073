import assert from "node:assert/strict";
import { describe, it } from "node:test";

import bff, { Bff, BffError, CHANNEL_NAME, createBff, readJson } from "../hitkey-bff.js";
import { json, record, settle, stubBroadcast, stubFetch, stubLocation, stubTimers } from "../test-support/stubs.js";

const SIGNED_IN = (expiresAt, extra = {}) => ({
  authenticated: true,
  user: { sub: "u1", name: "Ada Lovelace" },
  expires_at: expiresAt,
  access_token_expires_at: expiresAt,
  ...extra,
});

/** A client with every global stubbed; returns the stubs beside it. */
function make(routes, options = {}) {
  const net = stubFetch(routes);
  const bus = options.bus ?? stubBroadcast();
  const timers = options.timers ?? stubTimers();
  const location = options.location ?? stubLocation("https://app.example/settings/profile?tab=x#y");
  const client = createBff({
    fetch: net.fetch,
    location,
    BroadcastChannel: bus.BroadcastChannel,
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    now: timers.now,
    ...options.client,
  });
  return { client, net, bus, timers, location };
}

const header = (call, name) => new Headers(call.init.headers).get(name);

describe("fetch", () => {
  it("sends the cookie and X-CSRF: 1, under baseUrl", async () => {
    const { client, net } = make({ "GET https://bff.example/auth/x": { ok: 1 } }, { client: { baseUrl: "https://bff.example/" } });
    const res = await client.fetch("/auth/x");
    assert.equal(res.status, 200);
    assert.equal(net.calls[0].url, "https://bff.example/auth/x");
    assert.equal(net.calls[0].init.credentials, "include");
    assert.equal(header(net.calls[0], "X-CSRF"), "1");
  });

  it("merges Headers objects, arrays of pairs and plain objects, and always sends X-CSRF: 1", async () => {
    const { client, net } = make(() => json(200, {}));
    await client.fetch("/a", { headers: new Headers({ Accept: "application/json", "X-CSRF": "0" }) });
    await client.fetch("/b", { headers: [["Content-Type", "text/plain"], ["X-Trace", "t1"]] });
    await client.fetch("/c", { method: "POST", headers: { "If-Match": '"v1"', "x-csrf": "no" } });
    await client.fetch(new Request("https://app.example/d", { headers: { "X-From-Request": "r" } }), { headers: { "X-From-Init": "i" } });
    assert.equal(header(net.calls[0], "accept"), "application/json");
    assert.equal(header(net.calls[1], "content-type"), "text/plain");
    assert.equal(header(net.calls[1], "x-trace"), "t1");
    assert.equal(header(net.calls[2], "if-match"), '"v1"');
    assert.equal(net.calls[2].init.method, "POST");
    assert.equal(header(net.calls[3], "x-from-request"), "r");
    assert.equal(header(net.calls[3], "x-from-init"), "i");
    for (const call of net.calls) assert.equal(header(call, "x-csrf"), "1", call.url);
  });

  it("leaves absolute and protocol-relative URLs alone", async () => {
    const { client, net } = make(() => json(200, {}), { client: { baseUrl: "https://bff.example" } });
    await client.fetch("https://other.example/x");
    await client.fetch("//cdn.example/y");
    assert.deepEqual(net.calls.map((c) => c.url), ["https://other.example/x", "//cdn.example/y"]);
  });

  it("answers any status as fetch does, and emits signedout once on a 401", async () => {
    const told = [];
    const { client } = make(
      { "GET /auth/userinfo": json(401, { error: "unauthenticated", message: "no session" }), "GET /x": json(403, { error: "forbidden" }) },
      { client: { onSignedOut: (detail) => told.push(detail) } },
    );
    const seen = record(client, "signedout");
    assert.equal((await client.fetch("/x")).status, 403);
    assert.deepEqual(seen, []);
    assert.equal((await client.fetch("/auth/userinfo")).status, 401);
    assert.equal((await client.fetch("/auth/userinfo")).status, 401);
    assert.deepEqual(seen, [{ reason: "unauthenticated" }]);
    assert.deepEqual(told, [{ reason: "unauthenticated" }]);
    assert.equal(client.state, "out");
  });

  it("turns a network failure into BffError(0, network_error) but lets an abort through", async () => {
    const { client } = make({ "GET /down": new TypeError("Failed to fetch"), "GET /abort": new DOMException("stop", "AbortError") });
    await assert.rejects(client.fetch("/down"), (err) => {
      assert.ok(err instanceof BffError && err instanceof Error);
      assert.equal(err.status, 0);
      assert.equal(err.code, "network_error");
      assert.match(err.message, /could not be reached \(Failed to fetch\)/);
      return true;
    });
    await assert.rejects(client.fetch("/abort"), { name: "AbortError" });
  });
});

describe("session", () => {
  it("answers {authenticated: false} without an event when nobody was signed in", async () => {
    const { client, net } = make({ "GET /auth/session": { authenticated: false } });
    const seen = record(client, "signedout");
    assert.deepEqual(await client.session(), { authenticated: false });
    assert.equal(net.calls[0].init.cache, "no-store");
    assert.equal(header(net.calls[0], "x-csrf"), "1");
    assert.deepEqual(seen, []);
    assert.equal(client.state, "out");
  });

  it("passive: true asks with ?passive=1", async () => {
    const { client, net } = make({ "GET /auth/session?passive=1": SIGNED_IN(2e9) });
    const session = await client.session({ passive: true });
    assert.equal(session.authenticated, true);
    assert.equal(session.user.name, "Ada Lovelace");
    assert.equal(net.calls[0].url, "/auth/session?passive=1");
    assert.equal(client.state, "in");
  });

  it("emits signedout (and tells the other tabs) when a signed-in session is found gone", async () => {
    let answer = SIGNED_IN(2e9);
    const { client, bus } = make({ "GET /auth/session": () => json(200, answer) });
    const seen = record(client, "signedout");
    await client.session();
    answer = { authenticated: false };
    await client.session();
    await client.session();
    assert.deepEqual(seen, [{ reason: "session" }]);
    assert.deepEqual(bus.posted.map((p) => p.data), [{ type: "signedout", reason: "session" }]);
  });

  it("reads an older BFF's 401 as signed out", async () => {
    const { client } = make({ "GET /auth/session": json(401, { error: "unauthenticated", message: "x" }) });
    assert.deepEqual(await client.session(), { authenticated: false });
  });

  it("throws a BffError with the answer's code and message", async () => {
    const { client } = make({ "GET /auth/session": json(403, { error: "origin_not_allowed", message: "requests from this origin are not allowed" }) });
    await assert.rejects(client.session(), (err) => {
      assert.ok(err instanceof BffError);
      assert.equal(err.name, "BffError");
      assert.deepEqual([err.status, err.code, err.message], [403, "origin_not_allowed", "requests from this origin are not allowed"]);
      assert.deepEqual(err.body, { error: "origin_not_allowed", message: "requests from this origin are not allowed" });
      return true;
    });
  });
});

describe("login", () => {
  it("navigates to /auth/login with the current path, query and hash, and never settles", async () => {
    const { client, location, net } = make({});
    const outcome = await Promise.race([client.login().then(() => "settled"), settle().then(() => "pending")]);
    assert.equal(outcome, "pending");
    assert.deepEqual(location.assigned, ["/auth/login?return_to=%2Fsettings%2Fprofile%3Ftab%3Dx%23y"]);
    assert.equal(net.calls.length, 0, "sign-in is a navigation, not a fetch");
  });

  it("takes an explicit returnTo, under baseUrl", async () => {
    const { client, location } = make({}, { client: { baseUrl: "https://bff.example" } });
    client.login({ returnTo: "/a b?c=d&e=f#g" });
    assert.deepEqual(location.assigned, ["https://bff.example/auth/login?return_to=%2Fa%20b%3Fc%3Dd%26e%3Df%23g"]);
  });

  it("rejects with a BffError when there is no page to navigate", async () => {
    const client = createBff({ fetch: async () => json(200, {}), location: null, BroadcastChannel: null });
    await assert.rejects(client.login(), { code: "no_location" });
  });
});

describe("logout", () => {
  it("POSTs /auth/logout, emits signedout and tells the other tabs", async () => {
    const { client, net, bus } = make({ "POST /auth/logout": () => new Response(null, { status: 204 }) });
    const seen = record(client, "signedout");
    await client.logout();
    assert.equal(net.calls[0].method, "POST");
    assert.equal(header(net.calls[0], "x-csrf"), "1");
    assert.deepEqual(seen, [{ reason: "logout" }]);
    assert.deepEqual(bus.posted.map((p) => p.data), [{ type: "signedout", reason: "logout" }]);
  });

  it("everywhere: true asks for ?everywhere=true", async () => {
    const { client, net } = make({ "POST /auth/logout?everywhere=true": () => new Response(null, { status: 204 }) });
    const seen = record(client, "signedout");
    await client.logout({ everywhere: true });
    assert.equal(net.calls[0].url, "/auth/logout?everywhere=true");
    assert.deepEqual(seen, [{ reason: "logout_everywhere" }]);
  });

  it("a failed sign-out throws and signs nobody out", async () => {
    const { client, bus } = make({ "POST /auth/logout": json(503, { error: "service_unavailable", message: "try later" }) });
    const seen = record(client, "signedout");
    await assert.rejects(client.logout(), { status: 503, code: "service_unavailable" });
    assert.deepEqual(seen, []);
    assert.deepEqual(bus.posted, []);
  });
});

describe("refresh and userinfo", () => {
  it("refresh() POSTs and answers the new expiry", async () => {
    const { client, net } = make({ "POST /auth/refresh": { expires_at: 1767225600 } });
    assert.deepEqual(await client.refresh(), { expires_at: 1767225600 });
    assert.equal(net.calls[0].method, "POST");
    assert.equal(client.state, "in");
  });

  it("userinfo() answers the claims", async () => {
    const { client } = make({ "GET /auth/userinfo": { sub: "u1", email: "ada@example.com" } });
    assert.deepEqual(await client.userinfo(), { sub: "u1", email: "ada@example.com" });
  });

  it("an answer that is not JSON becomes http_<status> with the status text", async () => {
    const { client } = make({ "POST /auth/refresh": new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }) });
    await assert.rejects(client.refresh(), { status: 502, code: "http_502", message: "Bad Gateway" });
  });

  it("a 401 from refresh signs out and throws", async () => {
    const { client } = make({ "POST /auth/refresh": json(401, { error: "session_ended", message: "sign in again" }) });
    const seen = record(client, "signedout");
    await assert.rejects(client.refresh(), { status: 401, code: "session_ended" });
    assert.deepEqual(seen, [{ reason: "unauthenticated" }]);
  });
});

describe("api", () => {
  it("calls /api/{name}{path} with the path as given", async () => {
    const { client, net } = make(() => json(200, { hello: "Ada" }), { client: { baseUrl: "https://bff.example" } });
    const res = await client.api("demo", "/hello?x=1&y=%2F", { method: "PUT", headers: { "Content-Type": "application/json" }, body: "{}" });
    assert.deepEqual(await readJson(res), { hello: "Ada" });
    await client.api("my-api-2", "/");
    assert.equal(net.calls[0].url, "https://bff.example/api/demo/hello?x=1&y=%2F");
    assert.equal(net.calls[0].init.method, "PUT");
    assert.equal(net.calls[0].init.body, "{}");
    assert.equal(header(net.calls[0], "content-type"), "application/json");
    assert.equal(header(net.calls[0], "x-csrf"), "1");
    assert.equal(net.calls[0].init.credentials, "include");
    assert.equal(net.calls[1].url, "https://bff.example/api/my-api-2/");
  });

  const refused = async (client, name, path) =>
    assert.rejects(client.api(name, path), (err) => {
      assert.ok(err instanceof BffError, `${JSON.stringify([name, path])}: ${err}`);
      assert.equal(err.code, "invalid_path");
      assert.equal(err.status, 0);
      return true;
    });

  it("refuses a path that does not start with / before any request", async () => {
    const { client, net } = make({});
    for (const path of ["hello", "https://evil.example/", "", "?x=/..", 42, null]) await refused(client, "demo", path);
    assert.equal(net.calls.length, 0);
  });

  it("refuses a name outside [a-z0-9-]{1,32} before any request", async () => {
    const { client, net } = make({});
    for (const name of ["", "a/b c", "..", "%2e%2e", "Demo", "demo/../../auth", "a".repeat(33), "demo?x", undefined, 7]) {
      await refused(client, name, "/hello");
    }
    assert.equal(net.calls.length, 0);
  });

  it("refuses every dot segment a browser or a decoding server resolves, and backslashes, before any request", async () => {
    const { client, net } = make({});
    const dots = ["..", ".", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "%2E.", ".%2E", "%2e", "%2E", "%252e%252e", "%25252e%25252E", encodeURIComponent("..")];
    for (const dot of dots) {
      for (const path of [`/${dot}`, `/${dot}/`, `/a/${dot}/auth/sessions`, `/${dot}/${dot}/auth/sessions?x=1`, `/a/${dot}#frag`]) {
        await refused(client, "demo", path);
      }
    }
    for (const path of ["/a\\..\\auth", "/a\\b", "/%5c..%5cauth", "/a/%2f..%2f..%2fauth", "/%2525252525252e%2525252525252e"]) {
      await refused(client, "demo", path);
    }
    assert.equal(net.calls.length, 0);
  });

  it("checks only the path: dots and backslashes in the query or fragment are sent as given", async () => {
    const { client, net } = make(() => json(200, {}));
    for (const path of ["/files?dir=../..", "/files?x=%2e%2e/%2e", "/a#/../..", "/a?b=c\\d", "/v1.2/..x/.well-known/x..y", "/%25/100%25"]) {
      await client.api("demo", path);
    }
    assert.deepEqual(
      net.calls.map((c) => c.url),
      ["/api/demo/files?dir=../..", "/api/demo/files?x=%2e%2e/%2e", "/api/demo/a#/../..", "/api/demo/a?b=c\\d", "/api/demo/v1.2/..x/.well-known/x..y", "/api/demo/%25/100%25"],
    );
  });

  it("an upstream's own 401 does not sign out while the session is alive", async () => {
    const { client, net } = make({ "GET /api/demo/private": json(401, { error: "nope" }), "GET /auth/session?passive=1": SIGNED_IN(2e9) });
    const seen = record(client, "signedout");
    const res = await client.api("demo", "/private");
    assert.equal(res.status, 401);
    await settle();
    assert.deepEqual(net.calls.map((c) => c.url), ["/api/demo/private", "/auth/session?passive=1"]);
    assert.deepEqual(seen, []);
  });

  it("a 401 with the session gone signs out", async () => {
    let alive = true;
    const { client } = make({
      "GET /auth/session": () => json(200, alive ? SIGNED_IN(2e9) : { authenticated: false }),
      "GET /auth/session?passive=1": () => json(200, { authenticated: false }),
      "GET /api/demo/hello": json(401, { error: "unauthenticated", message: "no session" }),
    });
    const seen = record(client, "signedout");
    await client.session();
    alive = false;
    await client.api("demo", "/hello");
    await settle();
    assert.deepEqual(seen, [{ reason: "session" }]);
  });

  it("readJson throws a BffError for an error answer", async () => {
    await assert.rejects(readJson(json(404, { error: "unknown_api", message: "no API named x" })), { status: 404, code: "unknown_api" });
    assert.equal(await readJson(new Response(null, { status: 204 })), null);
  });
});

describe("sessions", () => {
  const LIST = {
    sessions: [
      { id: "s-this", device: "Chrome on Linux", current: true, created_at: 1, last_seen_at: 2, expires_at: 3 },
      { id: "s/other", device: "Safari on iOS", current: false, created_at: 1, last_seen_at: 2, expires_at: 3 },
    ],
  };

  it("lists, ends one, ends the others", async () => {
    const { client, net } = make({
      "GET /auth/sessions": LIST,
      "DELETE /auth/sessions/s%2Fother": () => new Response(null, { status: 204 }),
      "DELETE /auth/sessions": { ended: 1 },
    });
    const seen = record(client, "signedout");
    assert.deepEqual(await client.sessions(), LIST.sessions);
    await client.endSession("s/other");
    assert.equal(await client.endOtherSessions(), 1);
    assert.deepEqual(net.calls.map((c) => `${c.method} ${c.url}`), ["GET /auth/sessions", "DELETE /auth/sessions/s%2Fother", "DELETE /auth/sessions"]);
    for (const call of net.calls) assert.equal(header(call, "x-csrf"), "1");
    assert.deepEqual(seen, []);
  });

  it("ending this browser's own session signs out here and in the other tabs", async () => {
    const { client, bus } = make({ "GET /auth/sessions": LIST, "DELETE /auth/sessions/s-this": () => new Response(null, { status: 204 }) });
    const seen = record(client, "signedout");
    await client.sessions();
    await client.endSession("s-this");
    assert.deepEqual(seen, [{ reason: "logout" }]);
    assert.equal(bus.posted.length, 1);
  });

  it("a BFF without the routes answers a BffError to show", async () => {
    const { client } = make({ "GET /auth/sessions": json(404, { error: "not_found", message: "no route for GET /auth/sessions" }) });
    await assert.rejects(client.sessions(), { status: 404, code: "not_found", message: "no route for GET /auth/sessions" });
  });
});

describe("other tabs", () => {
  it("a sign-out in one tab signs out the others, which do not echo it", async () => {
    const bus = stubBroadcast();
    const timers = stubTimers();
    const routes = { "GET /auth/session": SIGNED_IN(timers.now() / 1000 + 3600), "POST /auth/logout": () => new Response(null, { status: 204 }) };
    const one = make(routes, { bus, timers });
    const two = make(routes, { bus, timers });
    const outOne = record(one.client, "signedout");
    const outTwo = record(two.client, "signedout");
    await one.client.session();
    await two.client.session();
    assert.ok(timers.pending.size >= 2);
    await one.client.logout();
    assert.deepEqual(outOne, [{ reason: "logout" }]);
    assert.deepEqual(outTwo, [{ reason: "other_tab" }]);
    assert.equal(bus.posted.length, 1, "the second tab must not broadcast again");
    assert.equal(two.client.state, "out");
    assert.equal(timers.pending.size, 0, "sign-out clears the expiry timers in both tabs");
  });

  it("uses the hitkey-bff channel by default, another name when asked, and stops after close()", async () => {
    const bus = stubBroadcast();
    const one = make({}, { bus });
    const other = make({}, { bus, client: { channelName: "another-app" } });
    assert.deepEqual([...bus.open].map((c) => c.name).sort(), ["another-app", CHANNEL_NAME]);
    const seen = record(one.client, "signedout");
    one.client.close();
    other.client.close();
    assert.equal(bus.open.size, 0);
    new bus.BroadcastChannel(CHANNEL_NAME).postMessage({ type: "signedout", reason: "logout" });
    assert.deepEqual(seen, []);
  });

  it("works without BroadcastChannel", async () => {
    const net = stubFetch({ "POST /auth/logout": () => new Response(null, { status: 204 }) });
    const client = createBff({ fetch: net.fetch, BroadcastChannel: null });
    const seen = record(client, "signedout");
    await client.logout();
    assert.deepEqual(seen, [{ reason: "logout" }]);
  });

  it("a tab that never saw the user signed in does not broadcast its 401", async () => {
    // e.g. a stale tab whose request raced another tab's fresh sign-in
    const { client, bus } = make({ "GET /auth/userinfo": json(401, { error: "unauthenticated", message: "x" }) });
    const seen = record(client, "signedout");
    await client.fetch("/auth/userinfo");
    assert.deepEqual(seen, [{ reason: "unauthenticated" }]);
    assert.deepEqual(bus.posted, []);
  });

  it("ignores messages that are not sign-outs", async () => {
    const bus = stubBroadcast();
    const { client } = make({}, { bus });
    const seen = record(client, "signedout");
    const sender = new bus.BroadcastChannel(CHANNEL_NAME);
    sender.postMessage({ type: "hello" });
    sender.postMessage("signedout");
    sender.postMessage(null);
    assert.deepEqual(seen, []);
  });
});

describe("expiring", () => {
  it("fires once, the lead time before the session's end", async () => {
    const timers = stubTimers();
    const end = timers.now() / 1000 + 600; // epoch seconds, as the BFF answers
    const { client } = make({ "GET /auth/session": SIGNED_IN(end) }, { timers, client: { expiringLeadSeconds: 90 } });
    const seen = record(client, "expiring");
    await client.session();
    await timers.advance(509_000);
    assert.deepEqual(seen, []);
    await timers.advance(1_000);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].reason, "absolute");
    assert.equal(seen[0].secondsLeft, 90);
    assert.equal(seen[0].expiresAt.getTime(), end * 1000);
    await client.session(); // the same deadline again: no second warning
    await timers.advance(60_000);
    assert.equal(seen.length, 1);
  });

  it("waits out a 30-day session in timer steps setTimeout can take", async () => {
    const timers = stubTimers();
    const end = timers.now() / 1000 + 30 * 86400;
    const { client } = make({ "GET /auth/session": SIGNED_IN(end) }, { timers });
    const seen = record(client, "expiring");
    await client.session();
    const delays = [...timers.pending.values()].map((t) => t.ms);
    assert.deepEqual(delays, [2 ** 31 - 1]);
    await timers.advance(30 * 86400_000 - 61_000);
    assert.deepEqual(seen, []);
    await timers.advance(1_000);
    assert.equal(seen.length, 1);
  });

  it("fires at once for a session already within the lead time", async () => {
    const timers = stubTimers();
    const { client } = make({ "GET /auth/session": SIGNED_IN(timers.now() / 1000 + 30) }, { timers });
    const seen = record(client, "expiring");
    await client.session();
    assert.equal(seen.length, 1);
    assert.equal(seen[0].secondsLeft, 30);
  });

  it("re-checks an idle deadline passively first: activity elsewhere moves it", async () => {
    const timers = stubTimers();
    const start = timers.now() / 1000;
    let idle = start + 300;
    const answer = () => json(200, SIGNED_IN(start + 86400, { idle_expires_at: idle }));
    const { client, net } = make({ "GET /auth/session": answer, "GET /auth/session?passive=1": answer }, { timers });
    const seen = record(client, "expiring");
    await client.session();
    idle = start + 900; // another tab's calls kept the session alive
    await timers.advance(240_000);
    assert.deepEqual(seen, []);
    assert.equal(net.calls.at(-1).url, "/auth/session?passive=1");
    await timers.advance(600_000);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].reason, "idle");
    assert.equal(seen[0].expiresAt.getTime(), (start + 900) * 1000);
    assert.equal(net.calls.filter((c) => c.url.endsWith("?passive=1")).length, 2);
    assert.ok(net.calls.every((c, i) => i === 0 || c.url.endsWith("?passive=1")), "the re-check must be passive");
  });

  it("an idle re-check that finds the session gone signs out instead", async () => {
    const timers = stubTimers();
    const start = timers.now() / 1000;
    const { client } = make(
      { "GET /auth/session": SIGNED_IN(start + 86400, { idle_expires_at: start + 120 }), "GET /auth/session?passive=1": { authenticated: false } },
      { timers },
    );
    const expiring = record(client, "expiring");
    const out = record(client, "signedout");
    await client.session();
    await timers.advance(60_000);
    assert.deepEqual(expiring, []);
    assert.deepEqual(out, [{ reason: "session" }]);
  });

  it("sign-out clears the timer", async () => {
    const timers = stubTimers();
    const { client } = make(
      { "GET /auth/session": SIGNED_IN(timers.now() / 1000 + 600), "POST /auth/logout": () => new Response(null, { status: 204 }) },
      { timers },
    );
    const seen = record(client, "expiring");
    await client.session();
    assert.equal(timers.pending.size, 1);
    await client.logout();
    assert.equal(timers.pending.size, 0);
    await timers.advance(3_600_000);
    assert.deepEqual(seen, []);
  });

  it("onExpiring gets the same detail", async () => {
    const timers = stubTimers();
    const told = [];
    const { client } = make({ "GET /auth/session": SIGNED_IN(timers.now() / 1000 + 10) }, { timers, client: { onExpiring: (d) => told.push(d.reason) } });
    await client.session();
    assert.deepEqual(told, ["absolute"]);
  });
});

describe("the default client", () => {
  it("is made on first use, for this origin", () => {
    assert.equal(bff.url("/auth/session"), "/auth/session");
    assert.equal(bff.state, "unknown");
    assert.ok(createBff() instanceof Bff);
  });
});
