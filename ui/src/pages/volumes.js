// Volumes: driver, size and how many containers use each (from `system df`, as `docker
// system df -v` shows them), and which containers mount them.
import { api, bytes } from "../api.js";
import { errorBox, h, table } from "../dom.js";

export function render(root) {
  const list = h("div", { id: "volumes" });
  root.append(h("h1", {}, "Volumes"), list);
  (async () => {
    try {
      const [df, containers] = await Promise.all([api("GET", "/system/df?type=volume"), api("GET", "/containers/json?all=1")]);
      const users = new Map();
      for (const c of containers) {
        for (const m of c.Mounts || []) {
          if (m.Type !== "volume") continue;
          if (!users.has(m.Name)) users.set(m.Name, []);
          users.get(m.Name).push((c.Names?.[0] || "").replace(/^\//, ""));
        }
      }
      const vols = (df.Volumes || []).sort((a, b) => a.Name.localeCompare(b.Name));
      list.replaceChildren(
        vols.length === 0
          ? h("p", { class: "muted" }, "No volumes.")
          : table(
              ["Name", "Driver", "Size", "Used by"],
              vols.map((v) =>
                h(
                  "tr",
                  { dataset: { volume: v.Name } },
                  h("td", { class: "mono" }, v.Name),
                  h("td", {}, v.Driver),
                  h("td", {}, v.UsageData?.Size >= 0 ? bytes(v.UsageData.Size) : ""),
                  h("td", {}, (users.get(v.Name) || []).join(", ")),
                ),
              ),
            ),
      );
    } catch (e) {
      list.replaceChildren(errorBox(e));
    }
  })();
}
