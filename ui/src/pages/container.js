// One container: its state and actions, CPU and memory charts from the stats stream, its
// logs as they come, and a terminal (an exec with a TTY over a WebSocket).
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import { api, bytes, jsonLines, logText } from "../api.js";
import { errorBox, h } from "../dom.js";
import { actions, health, ports } from "./containers.js";
import { cpuPercent, memoryUsed } from "../stats.js";

const WINDOW = 120; // samples kept per chart: two minutes at one a second
const MAX_LOG = 200_000; // characters of log kept on the page

function chart(el, label, format) {
  const opts = {
    width: Math.max(300, el.clientWidth || 480),
    height: 160,
    legend: { show: true },
    scales: { x: { time: true } },
    axes: [{}, { values: (_, ticks) => ticks.map(format), size: 70 }],
    series: [{}, { label, stroke: "#1f6feb", fill: "rgba(31,111,235,0.12)", value: (_, v) => (v == null ? "" : format(v)) }],
  };
  return new uPlot(opts, [[], []], el);
}

export function render(root, id) {
  const aborted = new AbortController();
  const head = h("div", { class: "head" });
  const cpuEl = h("div", { class: "chart", id: "cpu-chart" });
  const memEl = h("div", { class: "chart", id: "mem-chart" });
  const now = h("p", { class: "muted", id: "stats-now" });
  const logs = h("pre", { class: "logs", id: "logs" });
  const termEl = h("div", { class: "terminal", id: "terminal" });
  const openTerm = h("button", { id: "open-terminal" }, "Open a terminal (sh)");
  root.append(
    head,
    h("section", {}, h("h2", {}, "CPU and memory"), now, h("div", { class: "charts" }, cpuEl, memEl)),
    h("section", {}, h("h2", {}, "Logs"), logs),
    h("section", {}, h("h2", {}, "Terminal"), openTerm, termEl),
  );
  let cpu = null;
  let mem = null;
  let term = null;
  let socket = null;
  let resize = null;
  let info = null;

  async function refresh() {
    try {
      info = await api("GET", `/containers/${encodeURIComponent(id)}/json`);
    } catch (e) {
      head.replaceChildren(errorBox(e));
      return null;
    }
    const [listed] = await api("GET", `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ id: [info.Id] }))}`);
    const c = listed || { Id: info.Id, State: info.State.Status, Status: info.State.Status, Ports: [] };
    const hs = health(c);
    head.replaceChildren(
      h("h1", {}, info.Name.replace(/^\//, "")),
      h(
        "p",
        {},
        h("span", { class: `state ${c.State}`, id: "state" }, c.State),
        hs && h("span", { class: `health ${hs}` }, hs),
        " ",
        info.Config.Image,
        " ",
        h("span", { class: "muted" }, ports(c)),
      ),
      h("div", { class: "actions" }, actions(c, refreshSoon)),
    );
    return info;
  }

  function refreshSoon() {
    setTimeout(async () => {
      const i = await refresh();
      if (!i) location.hash = "#/containers"; // removed
    }, 100);
  }

  async function followStats() {
    const times = [];
    const cpus = [];
    const mems = [];
    cpu = chart(cpuEl, "CPU %", (v) => `${v.toFixed(1)} %`);
    mem = chart(memEl, "memory", bytes);
    for await (const s of jsonLines(`/containers/${encodeURIComponent(id)}/stats?stream=1`, { signal: aborted.signal })) {
      if (!s.read || s.read.startsWith("0001")) continue; // a stopped container's empty sample
      times.push(Date.parse(s.read) / 1000);
      cpus.push(cpuPercent(s));
      mems.push(memoryUsed(s));
      if (times.length > WINDOW) {
        times.shift();
        cpus.shift();
        mems.shift();
      }
      cpu.setData([times, cpus]);
      mem.setData([times, mems]);
      const limit = s.memory_stats?.limit;
      now.textContent = `CPU ${cpus.at(-1).toFixed(2)} %, memory ${bytes(mems.at(-1))}${limit ? " / " + bytes(limit) : ""}`;
      now.dataset.samples = String((Number(now.dataset.samples) || 0) + 1);
    }
  }

  async function followLogs() {
    const tty = info.Config.Tty;
    const path = `/containers/${encodeURIComponent(id)}/logs?follow=1&stdout=1&stderr=1&tail=500`;
    for await (const text of logText(path, { tty, signal: aborted.signal })) {
      const atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
      let all = logs.textContent + text;
      if (all.length > MAX_LOG) all = all.slice(all.length - MAX_LOG);
      logs.textContent = all;
      if (atBottom) logs.scrollTop = logs.scrollHeight;
    }
  }

  async function terminal() {
    openTerm.disabled = true;
    term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 2000 });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(termEl);
    fit.fit();
    try {
      const ex = await api("POST", `/containers/${encodeURIComponent(id)}/exec`, {
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: true,
        Cmd: ["sh"],
        Env: ["TERM=xterm-256color"],
      });
      socket = new WebSocket(`ws://${location.host}/api/ballena/exec/${ex.Id}/ws?h=${term.rows}&w=${term.cols}`);
      socket.binaryType = "arraybuffer";
      const encoder = new TextEncoder();
      socket.onmessage = (ev) => term.write(new Uint8Array(ev.data));
      socket.onclose = () => {
        term.write("\r\n[the session ended]\r\n");
        openTerm.disabled = false;
      };
      term.onData((d) => socket.readyState === WebSocket.OPEN && socket.send(encoder.encode(d)));
      term.onResize(({ cols, rows }) => api("POST", `/exec/${ex.Id}/resize?h=${rows}&w=${cols}`).catch(() => {}));
      resize = () => fit.fit();
      window.addEventListener("resize", resize);
      term.focus();
    } catch (e) {
      term.write(`\r\n${e.message}\r\n`);
      openTerm.disabled = false;
    }
  }

  openTerm.addEventListener("click", () => {
    if (term) {
      term.dispose();
      termEl.replaceChildren();
    }
    terminal();
  });

  refresh().then((i) => {
    if (!i) return;
    followStats().catch(() => {});
    followLogs().catch(() => {});
  });

  return () => {
    aborted.abort();
    cpu?.destroy();
    mem?.destroy();
    socket?.close();
    term?.dispose();
    if (resize) window.removeEventListener("resize", resize);
  };
}
