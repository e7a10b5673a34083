// A headless Chromium (Debian's, at CHROMIUM) driven by playwright-core (from ui/node_modules),
// taking one JSON command per line on stdin and answering one JSON line on stdout, so that
// the Python tests say what to do and assert on what the page shows.
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

const require = createRequire(new URL("../../../ui/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const consoleErrors = [];
page.on("pageerror", (e) => consoleErrors.push(String(e)));

const ops = {
  goto: ({ url }) => page.goto(url, { waitUntil: "load" }).then((r) => ({ status: r?.status(), url: page.url() })),
  click: ({ sel, timeout }) => page.click(sel, { timeout: timeout ?? 10000 }),
  fill: ({ sel, text }) => page.fill(sel, text),
  press: ({ key }) => page.keyboard.press(key),
  type: ({ text }) => page.keyboard.type(text, { delay: 20 }),
  text: ({ sel }) => page.textContent(sel, { timeout: 10000 }),
  count: ({ sel }) => page.locator(sel).count(),
  wait: ({ sel, timeout }) => page.waitForSelector(sel, { timeout: timeout ?? 15000 }).then(() => true),
  waitText: ({ sel, text, timeout }) =>
    page.waitForFunction(
      ([s, t]) => [...document.querySelectorAll(s)].some((e) => e.textContent.includes(t)),
      [sel, text],
      { timeout: timeout ?? 15000 },
    ).then(() => true),
  eval: ({ js }) => page.evaluate(js),
  screenshot: ({ path }) => page.screenshot({ path, fullPage: true }).then(() => path),
  errors: () => consoleErrors,
  cdp: async ({ method, params }) => {
    const session = await context.newCDPSession(page);
    try {
      return await session.send(method, params || {});
    } finally {
      await session.detach();
    }
  },
};

const lines = createInterface({ input: process.stdin });
process.stdout.write(JSON.stringify({ ready: true }) + "\n");
for await (const line of lines) {
  const cmd = JSON.parse(line);
  if (cmd.op === "close") break;
  try {
    const value = await ops[cmd.op](cmd);
    process.stdout.write(JSON.stringify({ value: value ?? null }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e.message || e) }) + "\n");
  }
}
await browser.close();
