// Containers, grouped by compose project, with their state, health and ports; start, stop,
// restart and remove. The list follows the daemon's container events.
import { api, bytes, jsonLines } from "../api.js";
import { errorBox, h, table } from "../dom.js";
import { cpuPercent, memoryUsed } from "../stats.js";

const POLL_MS = 2000;
const POLLS_AT_ONCE = 4; // a browser opens six connections per host: leave some for the rest

export function health(c) {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(c.Status || "");
  return m ? m[1].replace("health: ", "") : "";
}

export function ports(c) {
  return (c.Ports || [])
    .map((p) => (p.PublicPort ? `${p.IP || ""}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`))
    .filter((v, i, all) => all.indexOf(v) === i)
    .join(", ");
}

// Every container, or null once the error is shown in `box`.
export async function listAll(box) {
  try {
    return await api("GET", "/containers/json?all=1");
  } catch (e) {
    box.replaceChildren(errorBox(e));
    return null;
  }
}

export function actions(c, after) {
  const running = c.State === "running";
  const act = (label, method, path) =>
    h(
      "button",
      {
        class: "act",
        dataset: { action: label.toLowerCase() },
        onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            await api(method, path);
          } catch (e) {
            alert(e.message);
          }
          after();
        },
      },
      label,
    );
  return [
    running ? act("Stop", "POST", `/containers/${c.Id}/stop?t=3`) : act("Start", "POST", `/containers/${c.Id}/start`),
    act("Restart", "POST", `/containers/${c.Id}/restart?t=3`),
    act("Remove", "DELETE", `/containers/${c.Id}?force=1&v=1`),
  ];
}

function row(c, refresh, live) {
  const name = (c.Names?.[0] || "").replace(/^\//, "");
  const hs = health(c);
  const figures = live.get(c.Id);
  return h(
    "tr",
    { dataset: { name, state: c.State, id: c.Id } },
    h("td", {}, h("a", { href: `#/containers/${c.Id}` }, name)),
    h("td", {}, c.Image),
    h("td", {}, h("span", { class: `state ${c.State}` }, c.State), hs && h("span", { class: `health ${hs}` }, hs)),
    h("td", { class: "muted" }, c.Status),
    h("td", {}, ports(c)),
    h("td", { class: "cpu" }, c.State === "running" && figures ? `${figures.cpu.toFixed(1)} %` : ""),
    h("td", { class: "mem" }, c.State === "running" && figures ? bytes(figures.mem) : ""),
    h("td", { class: "actions" }, actions(c, refresh)),
  );
}

export function render(root) {
  const list = h("div", { id: "containers" });
  root.append(h("h1", {}, "Containers"), list);
  const aborted = new AbortController();
  let pending = null;
  let running = [];
  let polling = false;
  const samples = new Map(); // id -> the last stats sample, for the CPU delta
  const live = new Map(); // id -> {cpu, mem} shown

  // One-shot samples, polled: a stream per container would hold a connection each.
  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const queue = [...running];
      const worker = async () => {
        for (let id; (id = queue.shift()); ) {
          try {
            const s = await api("GET", `/containers/${id}/stats?stream=0&one-shot=1`);
            const prev = samples.get(id);
            samples.set(id, s);
            live.set(id, { cpu: prev ? cpuPercent(s, prev.cpu_stats) : 0, mem: memoryUsed(s) });
            list.dataset.samples = String(Number(list.dataset.samples || 0) + 1);
            const tr = list.querySelector(`tr[data-id="${id}"]`);
            if (tr) {
              tr.querySelector(".cpu").textContent = `${live.get(id).cpu.toFixed(1)} %`;
              tr.querySelector(".mem").textContent = bytes(live.get(id).mem);
            }
          } catch {
            samples.delete(id); // stopped or removed meanwhile
          }
        }
      };
      await Promise.all(Array.from({ length: POLLS_AT_ONCE }, worker));
    } finally {
      polling = false;
    }
  }

  async function refresh() {
    const all = await listAll(list);
    if (!all) return;
    const groups = new Map();
    for (const c of all) {
      const project = c.Labels?.["com.docker.compose.project"] || "";
      if (!groups.has(project)) groups.set(project, []);
      groups.get(project).push(c);
    }
    const order = [...groups.keys()].sort((a, b) => (a === "" ? 1 : b === "" ? -1 : a.localeCompare(b)));
    list.replaceChildren(
      all.length === 0 ? h("p", { class: "muted" }, "No containers. Run one: ballena run -d redis") : "",
      ...order.map((project) =>
        h(
          "section",
          { class: "group" },
          h("h2", {}, project ? `compose project ${project}` : groups.size > 1 ? "other containers" : ""),
          table(
            ["Name", "Image", "State", "Status", "Ports", "CPU", "Memory", ""],
            groups.get(project).map((c) => row(c, refresh, live)),
          ),
        ),
      ),
    );
    list.dataset.count = String(all.length);
    running = all.filter((c) => c.State === "running").map((c) => c.Id);
    for (const id of [...samples.keys()]) if (!running.includes(id)) samples.delete(id);
    for (const id of [...live.keys()]) if (!running.includes(id)) live.delete(id);
    if (!performance.getEntriesByName("containers-listed").length) performance.mark("containers-listed");
  }

  // Events arrive in bursts (a compose up): one refresh per burst.
  function soon() {
    clearTimeout(pending);
    pending = setTimeout(refresh, 150);
  }

  refresh();
  const ticker = setInterval(poll, POLL_MS);
  (async () => {
    try {
      const filters = encodeURIComponent(JSON.stringify({ type: ["container"] }));
      for await (const _ of jsonLines(`/events?filters=${filters}`, { signal: aborted.signal })) soon();
    } catch {
      /* the page was left, or the daemon went away */
    }
  })();
  return () => {
    aborted.abort();
    clearTimeout(pending);
    clearInterval(ticker);
  };
}
