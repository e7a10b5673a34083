// The dashboard: one page per hash route. A page is `render(root, ...params)` and returns
// what stops it (its streams, charts and terminal), called when the route changes, so that
// nothing keeps streaming behind the page on screen.
import "./style.css";
import * as containers from "./pages/containers.js";
import * as container from "./pages/container.js";
import * as images from "./pages/images.js";
import * as layers from "./pages/layers.js";
import * as networks from "./pages/networks.js";
import * as volumes from "./pages/volumes.js";
import * as compose from "./pages/compose.js";
import * as events from "./pages/events.js";

const routes = [
  [/^#\/containers\/([^/]+)$/, container],
  [/^#\/containers$/, containers],
  [/^#\/images\/(.+)$/, layers],
  [/^#\/images$/, images],
  [/^#\/compose$/, compose],
  [/^#\/networks$/, networks],
  [/^#\/volumes$/, volumes],
  [/^#\/events$/, events],
];

const root = document.getElementById("page");
let stop = null;

function show() {
  if (stop) stop();
  stop = null;
  root.replaceChildren();
  const hash = location.hash || "#/containers";
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", hash.startsWith(a.getAttribute("href")));
  }
  for (const [pattern, page] of routes) {
    const m = hash.match(pattern);
    if (m) {
      stop = page.render(root, ...m.slice(1).map(decodeURIComponent)) || null;
      return;
    }
  }
  location.hash = "#/containers";
}

window.addEventListener("hashchange", show);
show();
