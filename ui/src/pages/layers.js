// An image's layers, as Dive shows them and more: the Dockerfile line that made each, its
// size, files added, changed and removed, and the bytes a later layer wasted (overwrote or
// deleted); the biggest layer marked; a layer's file tree with its wasted files.
import { api, bytes, shortId } from "../api.js";
import { errorBox, h, table } from "../dom.js";

const SHOWN_ROWS = 3000; // rows of a tree drawn at once; the largest files come first

export function render(root, name) {
  const summary = h("div", { id: "layers-summary" });
  const rows = h("div", { id: "layers" });
  const tree = h("div", { id: "layer-tree" });
  root.append(h("h1", {}, name), summary, rows, tree);
  let alive = true;

  async function showTree(index) {
    for (const tr of rows.querySelectorAll("tr[data-index]")) tr.classList.toggle("selected", tr.dataset.index === String(index));
    tree.replaceChildren(h("p", { class: "muted" }, `reading layer ${index}...`));
    let data;
    try {
      data = await api("GET", `/ballena/images/${encodeURIComponent(name)}/layers?tree=${index}`);
    } catch (e) {
      tree.replaceChildren(errorBox(e));
      return;
    }
    if (!alive) return;
    const entries = data.Tree;
    const files = entries.filter((e) => e.Kind !== "dir" && e.Status !== "removed");
    const largest = files.reduce((a, b) => (b.Size > (a?.Size ?? -1) ? b : a), null);
    const wasted = entries.filter((e) => e.Wasted);
    const bySize = [...entries].sort((a, b) => b.Size - a.Size || a.Path.localeCompare(b.Path)).slice(0, SHOWN_ROWS);
    tree.replaceChildren(
      h("h2", {}, `Layer ${index}: ${data.Layers[index].CreatedBy}`),
      h(
        "p",
        {},
        largest
          ? h("span", { id: "largest-file", dataset: { path: largest.Path } }, `Largest file: ${largest.Path} (${bytes(largest.Size)})`)
          : "No files in this layer.",
        wasted.length ? h("span", { class: "wasted" }, ` · ${wasted.length} files here are hidden by a later layer`) : "",
      ),
      table(
        ["Path", "Kind", "Size", "Status"],
        bySize.map((e) =>
          h(
            "tr",
            { class: e.Wasted ? "wasted" : e.Status },
            h("td", { class: "mono" }, e.Path),
            h("td", {}, e.Kind),
            h("td", {}, e.Kind === "dir" ? "" : bytes(e.Size)),
            h("td", {}, e.Wasted ? `${e.Status}, wasted` : e.Status),
          ),
        ),
      ),
      entries.length > SHOWN_ROWS ? h("p", { class: "muted" }, `${entries.length - SHOWN_ROWS} smaller entries not shown`) : "",
    );
  }

  (async () => {
    let data;
    try {
      data = await api("GET", `/ballena/images/${encodeURIComponent(name)}/layers`);
    } catch (e) {
      summary.replaceChildren(errorBox(e));
      return;
    }
    if (!alive) return;
    const biggest = data.Layers.reduce((a, b) => (b.Size > a.Size ? b : a), data.Layers[0]);
    const ownStart = data.Base ? data.Base.Layers : 0;
    summary.replaceChildren(
      h(
        "p",
        {},
        `${shortId(data.Id)} · ${bytes(data.Size)} in ${data.Layers.length} layers · `,
        h("span", { class: data.Wasted ? "wasted" : "" }, `${bytes(data.Wasted)} wasted`),
        ` · efficiency ${(data.Efficiency * 100).toFixed(1)} %`,
        data.Base ? ` · from ${data.Base.Name} (${data.Base.Layers === 1 ? "its layer" : `its ${data.Base.Layers} layers`} first)` : "",
      ),
    );
    rows.replaceChildren(
      table(
        ["#", "Dockerfile", "Size", "Added", "Changed", "Removed", "Wasted"],
        data.Layers.map((l) =>
          h(
            "tr",
            {
              dataset: { index: String(l.Index), biggest: l === biggest ? "1" : null },
              class: `${l.Index < ownStart ? "base" : ""} clickable`,
              onclick: () => showTree(l.Index),
            },
            h("td", {}, l.Index),
            h("td", { class: "mono" }, l.CreatedBy, l === biggest ? h("span", { class: "badge" }, "biggest") : ""),
            h("td", {}, bytes(l.Size)),
            h("td", {}, l.Added),
            h("td", {}, l.Changed),
            h("td", {}, l.Removed),
            h("td", { class: l.Wasted ? "wasted" : "" }, l.Wasted ? bytes(l.Wasted) : ""),
          ),
        ),
      ),
      h("p", { class: "muted" }, "Click a layer to see its files."),
    );
  })();
  return () => {
    alive = false;
  };
}
