// Compose stacks, read from the labels Docker Compose puts on its containers: each project's
// services with their state and health, and the `depends_on` graph (dependencies on the left).
import { h, table } from "../dom.js";
import { health, listAll } from "./containers.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text != null) el.textContent = text;
  return el;
}

// "db:service_healthy:false,cache:service_started:true" -> [["db", "service_healthy"], ...]
export function dependsOn(label) {
  return (label || "")
    .split(",")
    .filter(Boolean)
    .map((d) => d.split(":").slice(0, 2));
}

// Each service's column: one right of the furthest of its dependencies.
export function columns(services) {
  const depth = new Map();
  const visit = (name, seen) => {
    if (depth.has(name)) return depth.get(name);
    if (seen.has(name)) return 0; // a cycle compose would refuse; drawn flat
    seen.add(name);
    const deps = services.get(name)?.deps || [];
    const d = deps.length ? 1 + Math.max(...deps.map(([dep]) => visit(dep, seen))) : 0;
    depth.set(name, d);
    return d;
  };
  for (const name of services.keys()) visit(name, new Set());
  return depth;
}

function graph(services) {
  const depth = columns(services);
  const W = 170;
  const H = 54;
  const GAP_X = 70;
  const GAP_Y = 22;
  const perColumn = new Map();
  const at = new Map();
  for (const name of [...services.keys()].sort()) {
    const d = depth.get(name);
    const row = perColumn.get(d) || 0;
    perColumn.set(d, row + 1);
    at.set(name, { x: 10 + d * (W + GAP_X), y: 10 + row * (H + GAP_Y) });
  }
  const width = 20 + (Math.max(0, ...depth.values()) + 1) * (W + GAP_X);
  const height = 20 + Math.max(1, ...perColumn.values()) * (H + GAP_Y);
  const root = svg("svg", { width, height, class: "graph", role: "img" });
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto" });
  marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#57606a" }));
  const defs = svg("defs", {});
  defs.append(marker);
  root.append(defs);
  for (const [name, s] of services) {
    for (const [dep, condition] of s.deps) {
      const from = at.get(name);
      const to = at.get(dep);
      if (!from || !to) continue;
      const line = svg("line", { x1: from.x, y1: from.y + H / 2, x2: to.x + W, y2: to.y + H / 2, stroke: "#57606a", "marker-end": "url(#arrow)" });
      line.append(svg("title", {}, `${name} waits for ${dep}: ${condition}`));
      root.append(line);
    }
  }
  for (const [name, s] of services) {
    const { x, y } = at.get(name);
    const g = svg("g", { class: `node ${s.state} ${s.health}`, "data-service": name });
    g.append(svg("rect", { x, y, width: W, height: H, rx: 6 }));
    g.append(svg("text", { x: x + 10, y: y + 22, class: "name" }, name));
    g.append(svg("text", { x: x + 10, y: y + 42, class: "sub" }, [s.state, s.health].filter(Boolean).join(", ")));
    root.append(g);
  }
  return root;
}

export function render(root) {
  const list = h("div", { id: "compose" });
  root.append(h("h1", {}, "Compose stacks"), list);
  (async () => {
    const all = await listAll(list);
    if (!all) return;
    const projects = new Map();
    for (const c of all) {
      const project = c.Labels?.["com.docker.compose.project"];
      const service = c.Labels?.["com.docker.compose.service"];
      if (!project || !service) continue;
      if (!projects.has(project)) projects.set(project, new Map());
      projects.get(project).set(service, {
        state: c.State,
        health: health(c),
        deps: dependsOn(c.Labels["com.docker.compose.depends_on"]),
        container: c,
      });
    }
    if (projects.size === 0) {
      list.replaceChildren(h("p", { class: "muted" }, "No compose stacks: start one with ballena compose up -d"));
      return;
    }
    list.replaceChildren(
      ...[...projects.keys()].sort().map((p) => {
        const services = projects.get(p);
        return h(
          "section",
          { class: "group", dataset: { project: p } },
          h("h2", {}, p),
          graph(services),
          table(
            ["Service", "Container", "State", "Depends on"],
            [...services.entries()].map(([name, s]) =>
              h(
                "tr",
                {},
                h("td", {}, name),
                h("td", {}, h("a", { href: `#/containers/${s.container.Id}` }, (s.container.Names?.[0] || "").replace(/^\//, ""))),
                h("td", {}, h("span", { class: `state ${s.state}` }, s.state), s.health && h("span", { class: `health ${s.health}` }, s.health)),
                h("td", {}, s.deps.map(([d, cond]) => `${d} (${cond.replace("service_", "")})`).join(", ")),
              ),
            ),
          ),
        );
      }),
    );
  })();
}
