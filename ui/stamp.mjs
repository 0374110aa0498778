#!/usr/bin/env node
// Names each script and stylesheet in index.html by its content's version (the first 12 hex digits of its SHA-256),
// as src/routes/ui.ts checks before it lets a browser cache the file for a year. Run after editing app.js or
// app.css: `node ui/stamp.mjs`. test/routes/ui.test.ts fails when a version is stale. Not served (.assetsignore).
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = dirname(fileURLToPath(import.meta.url));
const page = join(dir, "index.html");
const html = readFileSync(page, "utf8").replace(/\/ui\/([\w.-]+\.(?:js|css))\?v=[0-9a-f]*/g, (_, file) => {
  const version = createHash("sha256").update(readFileSync(join(dir, file))).digest("hex").slice(0, 12);
  return `/ui/${file}?v=${version}`;
});
writeFileSync(page, html);
console.log(html.match(/\/ui\/[\w.-]+\?v=[0-9a-f]+/g).join("\n"));
