// Builds the web interface into dist/: src/main.js bundled (CodeMirror included) with
// esbuild, and the static files of src/ copied as they are.
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync } from "node:fs";

const here = new URL(".", import.meta.url).pathname;
rmSync(`${here}dist`, { recursive: true, force: true });
mkdirSync(`${here}dist`, { recursive: true });
await build({
  entryPoints: [`${here}src/main.js`],
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "esm",
  target: ["es2022"],
  outfile: `${here}dist/app.js`,
  logLevel: "info",
});
for (const file of ["index.html", "style.css"]) {
  cpSync(`${here}src/${file}`, `${here}dist/${file}`);
}
