// Networks: driver, subnets, and who is attached with which address.
import { api } from "../api.js";
import { errorBox, h, table } from "../dom.js";

export function render(root) {
  const list = h("div", { id: "networks" });
  root.append(h("h1", {}, "Networks"), list);
  (async () => {
    try {
      const nets = await api("GET", "/networks");
      // The list leaves Containers empty, as dockerd's does: each network's inspect has them.
      const full = await Promise.all(nets.map((n) => api("GET", `/networks/${n.Id}`)));
      list.replaceChildren(
        table(
          ["Name", "Driver", "Subnets", "Attached"],
          full
            .sort((a, b) => a.Name.localeCompare(b.Name))
            .map((n) =>
              h(
                "tr",
                { dataset: { network: n.Name } },
                h("td", {}, n.Name, n.Internal ? h("span", { class: "badge" }, "internal") : ""),
                h("td", {}, n.Driver),
                h("td", { class: "mono" }, (n.IPAM?.Config || []).map((c) => c.Subnet).filter(Boolean).join(", ")),
                h(
                  "td",
                  {},
                  Object.entries(n.Containers || {}).map(([id, c]) =>
                    h("div", {}, h("a", { href: `#/containers/${id}` }, c.Name), " ", h("span", { class: "muted mono" }, c.IPv4Address)),
                  ),
                ),
              ),
            ),
        ),
      );
    } catch (e) {
      list.replaceChildren(errorBox(e));
    }
  })();
}
