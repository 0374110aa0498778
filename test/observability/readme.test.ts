import { describe, expect, it } from "vitest";
import readme from "../../README.md?raw";
import { BLOBS, columnOf, DOUBLES, INDEXES } from "../../src/observability/call-record";

/** The README's "Analytics and logs" section, up to the next section. */
function section(): string {
  const start = readme.indexOf("## Analytics and logs");
  expect(start).toBeGreaterThanOrEqual(0);
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

describe("the README's analytics section", () => {
  it("maps every column exactly as the code writes it", () => {
    const rows = [...section().matchAll(/^\| `(index\d+|blob\d+|double\d+)` \| `(\w+)` \|/gm)].map(([, column, field]) => [column, field]);
    const written = [...INDEXES, ...BLOBS, ...DOUBLES].map((field) => [columnOf(field), field]);
    expect(rows).toEqual(written);
  });

  it("queries only columns the data point has, from the dataset wrangler.toml binds", () => {
    const text = section();
    const queries = [...text.matchAll(/```sql\n([\s\S]*?)```/g)].map(([, sql]) => sql!);
    expect(queries.length).toBeGreaterThanOrEqual(4);
    const known = new Set([...INDEXES, ...BLOBS, ...DOUBLES].map((field) => columnOf(field)));
    for (const sql of [...queries, text]) {
      for (const [column] of sql.matchAll(/\b(?:index|blob|double)\d+\b/g)) expect(known, column).toContain(column);
    }
    for (const sql of queries) expect(sql).toContain("FROM edgequota_calls");
    // The examples the issue asks for: spend per team per day, top keys by tokens, refusals by reason.
    expect(text).toContain("SUM(_sample_interval * double6) AS spend");
    expect(text).toMatch(/SELECT index1 AS token, SUM\(_sample_interval \* \(double2 \+ double3\)\) AS tokens/);
    expect(text).toContain("blob5 = 'refused'");
  });
});
