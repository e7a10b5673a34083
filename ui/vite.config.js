// The page is built into the Python package, which serves it (`ballena ui`).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    outDir: "../src/ballena/ui/static",
    emptyOutDir: true,
    // One script and one stylesheet: the first paint waits for nothing else.
    cssCodeSplit: false,
  },
});
