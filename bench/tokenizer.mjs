#!/usr/bin/env node
// Micro benchmark of src/tokens: the Worker bundle size it adds, the time to load each vocabulary, and the time
// to count 100 KB of English prose and of code (plus two pathological 1 MB inputs). Bundles the module with
// esbuild as src/tokens/README.md measures it (minified ESM, platform neutral, zod left out since the Worker has
// it already), then times that bundle. A few seconds.
//   node bench/tokenizer.mjs
import { build } from "esbuild";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";

const KB100 = 100 * 1024;
const root = new URL("..", import.meta.url).pathname;

// English prose: the licence texts every Debian system ships; else this repository's own docs.
function prose() {
  const licences = "/usr/share/common-licenses";
  const names = ["GPL-3", "LGPL-2.1", "MPL-2.0", "GFDL-1.3", "Apache-2.0", "GPL-2"];
  const parts = existsSync(licences)
    ? names.filter((name) => existsSync(join(licences, name))).map((name) => readFileSync(join(licences, name), "utf8"))
    : readdirSync(root).filter((name) => name.endsWith(".md")).map((name) => readFileSync(join(root, name), "utf8"));
  let text = parts.join("\n");
  while (text.length < KB100) text += `\n${text}`;
  return text.slice(0, KB100);
}

// Code: this repository's TypeScript sources, in a stable order.
function code() {
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (path.endsWith(".ts")) files.push(path);
    }
  };
  walk(join(root, "src"));
  let text = files.map((file) => readFileSync(file, "utf8")).join("\n");
  while (text.length < KB100) text += `\n${text}`;
  return text.slice(0, KB100);
}

function base64(bytes) {
  const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  let state = 42;
  let text = "";
  for (let index = 0; index < bytes; index++) {
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    text += digits[state % 64];
  }
  return text;
}

function time(run) {
  const start = performance.now();
  const result = run();
  return { ms: performance.now() - start, result };
}

async function bundle(external) {
  const result = await build({
    entryPoints: [join(root, "src/tokens/index.ts")],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "neutral",
    external,
    write: false,
    logLevel: "warning",
  });
  return result.outputFiles[0].contents;
}

const work = mkdtempSync(join(tmpdir(), "edgequota-tokens-bench-"));
try {
  // zod (for modelTokenizersSchema) is in the Worker already: what this module adds is the rest.
  const added = await bundle(["zod"]);
  console.log(`bundle of src/tokens without zod (both vocabularies): ${(added.length / 1024).toFixed(0)} KiB, ${(gzipSync(added).length / 1024).toFixed(0)} KiB gzip`);
  const file = join(work, "tokens.mjs");
  writeFileSync(file, await bundle([]));
  const tokens = await import(pathToFileURL(file).href);

  const inputs = { prose: prose(), code: code() };
  for (const encoding of tokens.ENCODINGS) {
    const load = performance.now();
    await tokens.loadEncoding(encoding);
    console.log(`${encoding}: load ${(performance.now() - load).toFixed(0)} ms`);
    for (const [name, text] of Object.entries(inputs)) {
      const first = time(() => tokens.countText(text, encoding));
      const again = [0, 1, 2, 3, 4].map(() => time(() => tokens.countText(text, encoding)).ms).sort((a, b) => a - b);
      console.log(
        `  100 KB ${name.padEnd(5)} ${String(first.result).padStart(6)} tokens: first ${first.ms.toFixed(1).padStart(6)} ms, then median ${again[2].toFixed(1).padStart(6)} ms`,
      );
    }
  }
  for (const [name, text] of [["1 MB of one letter", "a".repeat(1_000_000)], ["1 MB of random base64", base64(1_000_000)]]) {
    const { ms, result } = time(() => tokens.countText(text, "o200k_base"));
    console.log(`o200k_base ${name}: ${result} tokens (an upper bound where a piece is longer than ${tokens.MAX_EXACT_PIECE}) in ${ms.toFixed(0)} ms`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
