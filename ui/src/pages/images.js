// Images: each tag with its size and age, a link to its layer explorer, and a pull with the
// progress of each layer as `docker pull` shows it.
import { ago, api, bytes, jsonLines, shortId } from "../api.js";
import { errorBox, h, table } from "../dom.js";

export function render(root) {
  const aborted = new AbortController();
  const list = h("div", { id: "images" });
  const name = h("input", { id: "pull-name", placeholder: "redis:7, 127.0.0.1:5000/me/app:1, ..." });
  const progress = h("div", { id: "pull-progress", class: "progress" });
  const pull = h("form", { class: "inline" }, name, h("button", { type: "submit" }, "Pull"));
  root.append(h("h1", {}, "Images"), pull, progress, list);

  async function refresh() {
    try {
      const images = await api("GET", "/images/json");
      const rows = [];
      for (const img of images.sort((a, b) => b.Created - a.Created)) {
        const tags = img.RepoTags?.length ? img.RepoTags : ["<none>:<none>"];
        for (const tag of tags) {
          const ref = tag === "<none>:<none>" ? img.Id : tag;
          rows.push(
            h(
              "tr",
              { dataset: { image: tag } },
              h("td", {}, h("a", { href: `#/images/${encodeURIComponent(ref)}` }, tag)),
              h("td", { class: "mono" }, shortId(img.Id)),
              h("td", {}, bytes(img.Size)),
              h("td", { class: "muted" }, ago(img.Created)),
            ),
          );
        }
      }
      list.replaceChildren(table(["Image", "ID", "Size", "Created"], rows));
    } catch (e) {
      list.replaceChildren(errorBox(e));
    }
  }

  pull.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const wanted = name.value.trim();
    if (!wanted) return;
    const lines = new Map();
    progress.replaceChildren();
    const say = (key, text) => {
      if (!lines.has(key)) {
        lines.set(key, h("div", {}));
        progress.append(lines.get(key));
      }
      lines.get(key).textContent = text;
    };
    try {
      const path = `/images/create?fromImage=${encodeURIComponent(wanted)}`;
      for await (const m of jsonLines(path, { method: "POST", signal: aborted.signal })) {
        if (m.error) throw new Error(m.error);
        if (m.stream) continue; // a library build's output: the status lines say enough
        const text = [m.id, m.status, m.progress].filter(Boolean).join(" ");
        say(m.id || text, text);
      }
      say("done", `pulled ${wanted}`);
    } catch (e) {
      if (!aborted.signal.aborted) progress.append(errorBox(e));
    }
    refresh();
  });

  refresh();
  return () => aborted.abort();
}
