/**
 * Route keys are pathnames without the `/v1` prefix or trailing slashes, so
 * clients configured with either base URL style (`https://host` or
 * `https://host/v1`) hit the same handler.
 */
export function normalizePath(pathOrUrl: string): string {
  let path = pathOrUrl;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) path = new URL(path).pathname;
  path = path.replace(/\/+$/, "");
  if (path === "/v1") return "/";
  if (path.startsWith("/v1/")) path = path.slice(3);
  return path === "" ? "/" : path;
}
