// Stand-ins for the page's globals, passed to createBff() through its options.

/** A fetch that records each call and answers from `routes` ("METHOD /path" -> answer). */
export function stubFetch(routes = {}) {
  const calls = [];
  const fetch = async (input, init = {}) => {
    const url = typeof input === "string" ? input : input.url;
    const method = (init.method ?? (typeof input === "object" ? input.method : undefined) ?? "GET").toUpperCase();
    calls.push({ url, method, init, input });
    const key = `${method} ${url}`;
    const answer = typeof routes === "function" ? routes(key, init) : (routes[key] ?? routes[url]);
    if (answer === undefined) return json(404, { error: "not_found", message: `no stub for ${key}` });
    if (answer instanceof Error) throw answer;
    const value = typeof answer === "function" ? answer(init) : answer;
    return value instanceof Response ? value : json(200, value);
  };
  return { fetch, calls };
}

export function json(status, body) {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** location with assign() recorded. */
export function stubLocation(href = "https://app.example/") {
  const url = new URL(href);
  const assigned = [];
  return {
    assigned,
    pathname: url.pathname,
    search: url.search,
    hash: url.hash,
    assign(target) {
      assigned.push(target);
    },
  };
}

/** BroadcastChannel instances on one shared bus, delivering to every other instance of the name. */
export function stubBroadcast() {
  const open = new Set();
  const posted = [];
  class Channel {
    constructor(name) {
      this.name = name;
      this.onmessage = null;
      this.closed = false;
      open.add(this);
    }
    postMessage(data) {
      if (this.closed) throw new Error("closed");
      posted.push({ from: this, data });
      for (const other of open) {
        if (other !== this && other.name === this.name && other.onmessage) other.onmessage({ data });
      }
    }
    close() {
      this.closed = true;
      open.delete(this);
    }
  }
  return { BroadcastChannel: Channel, posted, open };
}

/** A manual clock with setTimeout/clearTimeout; advance() runs what is due, in order. */
export function stubTimers(start = Date.UTC(2026, 0, 1)) {
  let now = start;
  let nextId = 1;
  const pending = new Map();
  const clock = {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      pending.set(id, { at: now + ms, fn, ms });
      return id;
    },
    clearTimeout(id) {
      pending.delete(id);
    },
    pending,
    async advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = [...pending.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        pending.delete(due[0]);
        now = Math.max(now, due[1].at);
        due[1].fn();
        await settle();
      }
      now = until;
      await settle();
    },
  };
  return clock;
}

/** Let pending promise callbacks run. */
export async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Collect the details of one event type. */
export function record(target, type) {
  const seen = [];
  target.addEventListener(type, (event) => seen.push(event.detail));
  return seen;
}
