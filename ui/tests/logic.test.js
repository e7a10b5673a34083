// The page's arithmetic and parsing, without a browser (node --test): what the charts, the
// logs and the compose graph are computed from.
import assert from "node:assert/strict";
import { test } from "node:test";
import { bytes, logText } from "../src/api.js";
import { cpuPercent, memoryUsed } from "../src/stats.js";
import { columns, dependsOn } from "../src/pages/compose.js";

test("CPU percent as docker stats computes it", () => {
  const s = {
    cpu_stats: { cpu_usage: { total_usage: 3_000_000 }, system_cpu_usage: 20_000_000, online_cpus: 2 },
    precpu_stats: { cpu_usage: { total_usage: 1_000_000 }, system_cpu_usage: 10_000_000 },
  };
  assert.equal(cpuPercent(s), 40); // 2e6 of 1e7 system ns, on two CPUs
  assert.equal(cpuPercent(s, { cpu_usage: { total_usage: 3_000_000 }, system_cpu_usage: 10_000_000 }), 0);
  assert.equal(cpuPercent({ cpu_stats: {}, precpu_stats: {} }), 0); // a stopped container's sample
});

test("memory leaves out the inactive page cache, v1 and v2", () => {
  assert.equal(memoryUsed({ memory_stats: { usage: 1000, stats: { inactive_file: 300 } } }), 700);
  assert.equal(memoryUsed({ memory_stats: { usage: 1000, stats: { total_inactive_file: 100 } } }), 900);
  assert.equal(memoryUsed({}), 0);
});

test("sizes as docker shows them", () => {
  assert.equal(bytes(0), "0 B");
  assert.equal(bytes(3_145_728), "3.15 MB");
  assert.equal(bytes(25_300_000_000), "25.3 GB");
});

test("compose's depends_on label, and each service's column", () => {
  assert.deepEqual(dependsOn("db:service_healthy:false,cache:service_started:true"), [
    ["db", "service_healthy"],
    ["cache", "service_started"],
  ]);
  const services = new Map([
    ["web", { deps: [["api", "service_started"]] }],
    ["api", { deps: [["db", "service_healthy"], ["cache", "service_started"]] }],
    ["db", { deps: [] }],
    ["cache", { deps: [["db", "service_started"]] }],
  ]);
  assert.deepEqual(Object.fromEntries(columns(services)), { db: 0, cache: 1, api: 2, web: 3 });
  const cycle = new Map([["a", { deps: [["b", "x"]] }], ["b", { deps: [["a", "x"]] }]]);
  assert.equal(columns(cycle).size, 2); // drawn, not an endless recursion
});

test("multiplexed logs are unframed, even when a frame is split across reads", async () => {
  const frame = (stream, text) => {
    const payload = new TextEncoder().encode(text);
    const out = new Uint8Array(8 + payload.length);
    out[0] = stream;
    new DataView(out.buffer).setUint32(4, payload.length);
    out.set(payload, 8);
    return out;
  };
  const all = new Uint8Array([...frame(1, "tick 1\n"), ...frame(2, "oops\n")]);
  const reads = [all.slice(0, 5), all.slice(5, 19), all.slice(19)];
  globalThis.fetch = async () => ({
    ok: true,
    body: { getReader: () => ({ read: async () => (reads.length ? { value: reads.shift(), done: false } : { done: true }) }) },
  });
  let text = "";
  for await (const t of logText("/containers/x/logs", { tty: false })) text += t;
  assert.equal(text, "tick 1\noops\n");
});
