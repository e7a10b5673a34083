// The daemon's event stream as it happens, newest first, filtered by type and by text.
import { jsonLines } from "../api.js";
import { h } from "../dom.js";

const KEPT = 500;

export function render(root) {
  const aborted = new AbortController();
  const type = h("select", { id: "event-type" }, ["", "container", "image", "network", "volume", "daemon"].map((t) => h("option", { value: t }, t || "all types")));
  const text = h("input", { id: "event-text", placeholder: "filter: a name, an action..." });
  const list = h("ol", { id: "events", class: "events", reversed: true });
  root.append(h("h1", {}, "Events"), h("p", { class: "inline" }, type, text), list);

  function visible(li) {
    const okType = !type.value || li.dataset.type === type.value;
    const okText = !text.value || li.textContent.toLowerCase().includes(text.value.toLowerCase());
    return okType && okText;
  }
  const apply = () => {
    for (const li of list.children) li.hidden = !visible(li);
  };
  type.addEventListener("change", apply);
  text.addEventListener("input", apply);

  (async () => {
    // From a minute back, so the page opens on what just happened.
    const since = Math.floor(Date.now() / 1000) - 60;
    try {
      for await (const e of jsonLines(`/events?since=${since}`, { signal: aborted.signal })) {
        const attrs = e.Actor?.Attributes || {};
        const who = attrs.name || attrs.image || (e.Actor?.ID || "").slice(0, 12);
        const when = new Date((e.timeNano ? e.timeNano / 1e6 : e.time * 1000) || Date.now()).toLocaleTimeString();
        const li = h("li", { dataset: { type: e.Type, action: e.Action } }, h("span", { class: "muted" }, when), ` ${e.Type} ${e.Action} `, h("b", {}, who));
        li.hidden = !visible(li);
        list.prepend(li);
        while (list.children.length > KEPT) list.lastChild.remove();
      }
    } catch {
      /* the page was left */
    }
  })();
  return () => aborted.abort();
}
