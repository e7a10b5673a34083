// The Engine API, through `ballena ui`'s /api/ pass-through (the session cookie goes along).

export class ApiError extends Error {}

export async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch("/api" + path, init);
  const text = await r.text();
  if (!r.ok) {
    let message = text;
    try {
      message = JSON.parse(text).message;
    } catch {
      /* not JSON: the text as it is */
    }
    throw new ApiError(message || r.statusText);
  }
  return text && (r.headers.get("content-type") || "").includes("json") ? JSON.parse(text) : null;
}

// A streamed answer of JSON lines (stats, events, a pull's progress), one object at a time,
// until the stream ends or `signal` aborts it.
export async function* jsonLines(path, { method = "GET", signal } = {}) {
  const r = await fetch("/api" + path, { method, signal });
  if (!r.ok) throw new ApiError((await r.json().catch(() => ({}))).message || r.statusText);
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, end).trim();
      buffered = buffered.slice(end + 1);
      if (line) yield JSON.parse(line);
    }
  }
}

// A container's log stream as text. Without a TTY the daemon multiplexes stdout and stderr
// in frames (one byte of stream, three of padding, four of big-endian length, the payload).
export async function* logText(path, { tty, signal }) {
  const r = await fetch("/api" + path, { signal });
  if (!r.ok) throw new ApiError((await r.json().catch(() => ({}))).message || r.statusText);
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let pending = new Uint8Array(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    if (tty) {
      yield decoder.decode(value, { stream: true });
      continue;
    }
    const joined = new Uint8Array(pending.length + value.length);
    joined.set(pending);
    joined.set(value, pending.length);
    let at = 0;
    let text = "";
    while (joined.length - at >= 8) {
      const size = new DataView(joined.buffer, at + 4, 4).getUint32(0);
      if (joined.length - at - 8 < size) break;
      text += decoder.decode(joined.subarray(at + 8, at + 8 + size), { stream: true });
      at += 8 + size;
    }
    pending = joined.slice(at);
    if (text) yield text;
  }
}

export function shortId(id) {
  return (id || "").replace(/^sha256:/, "").slice(0, 12);
}

export function bytes(n) {
  if (n == null) return "";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(n >= 10 ? 1 : 2)} ${units[i]}`;
}

export function ago(seconds) {
  const s = Math.max(0, Date.now() / 1000 - seconds);
  if (s < 60) return `${Math.round(s)} seconds ago`;
  if (s < 3600) return `${Math.round(s / 60)} minutes ago`;
  if (s < 86400) return `${Math.round(s / 3600)} hours ago`;
  return `${Math.round(s / 86400)} days ago`;
}
