import { describe, expect, it } from "vitest";
import installed from "../../node_modules/@pydantic/genai-prices/package.json";
import { DATABASE_SOURCE, DATABASE_VERSION } from "../../src/pricing/database";

describe("the price database", () => {
  it("names the installed genai-prices version as the source of its prices", () => {
    expect(DATABASE_VERSION).toBe(installed.version);
    expect(DATABASE_SOURCE).toBe(`genai-prices@${installed.version}`);
  });
});
