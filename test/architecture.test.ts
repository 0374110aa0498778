/// <reference types="vite/client" />
import { describe, expect, it } from "vitest";

/** Every source file of src/, as text, keyed by its path relative to the repository ("src/app.ts"). */
const sources = Object.fromEntries(
  Object.entries(import.meta.glob<string>("../src/**/*.ts", { query: "?raw", import: "default", eager: true })).map(([path, text]) => [
    path.replace(/^\.\.\//, ""),
    text,
  ]),
);

/** Relative imports (static, dynamic and type-only alike) resolved to the files they name. */
function importsOf(path: string, text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"|import\(\s*"(\.[^"]+)"\s*\)/g)) {
    const spec = match[1] ?? match[2]!;
    const parts = path.split("/").slice(0, -1);
    for (const part of spec.split("/")) {
      if (part === "..") parts.pop();
      else if (part !== ".") parts.push(part);
    }
    const base = parts.join("/");
    const target = [`${base}.ts`, `${base}/index.ts`].find((candidate) => candidate in sources);
    if (target) found.push(target);
  }
  return found;
}

function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    if (state.get(node) === "done") return null;
    if (state.get(node) === "open") return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, "done");
    return null;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

describe("the source tree", () => {
  const graph = new Map(Object.entries(sources).map(([path, text]) => [path, importsOf(path, text)]));

  it("is read whole, with its imports resolved", () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get("src/app.ts")).toContain("src/http/errors.ts");
  });

  it("has no import cycle between files of src/", () => {
    expect(findCycle(graph)).toBeNull();
  });

  it("finds a cycle when there is one (the checker itself can fail)", () => {
    expect(findCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]]))).toEqual(["a", "b", "c", "a"]);
  });

  it("keeps the limiter core free of I/O and of every other layer", () => {
    for (const [path, imports] of graph) {
      if (!path.startsWith("src/limiter/")) continue;
      expect(imports.filter((target) => !target.startsWith("src/limiter/")), path).toEqual([]);
      expect(sources[path], path).not.toMatch(/cloudflare:workers|fetch\(|Date\.now\(/);
    }
  });

  it("keeps Durable Objects below the front door: no object imports routes, http or the stubs", () => {
    for (const [path, imports] of graph) {
      if (!path.startsWith("src/objects/")) continue;
      expect(imports.filter((target) => /^src\/(routes|http|stubs|call)\//.test(target)), path).toEqual([]);
    }
  });
});
