// The edgequota dashboard: one plain ES module, no framework, no build step. It holds no data of its own: every
// number is read from the management API (/key/list, /key/info, /team/list, /spend/logs, /deployment/list), which
// reads the very Durable Objects that admit calls, and the page reads them again every REFRESH_MS.
// The key it signs in with lives in this tab's sessionStorage only. All text is set as text, never as HTML.

const STORE = "edgequota.key";
const REFRESH_MS = 2000;
const LOG_LIMIT = 500;
const SVG = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);
const state = {
  key: sessionStorage.getItem(STORE),
  session: null, // { role: "master" } or { role: "key", token, key_alias, key_name }
  loop: null,
  overview: { page: 1, size: 10, team: "", query: "", sort: { column: null, dir: 1 }, teamSort: { column: null, dir: 1 }, teamPage: 1 },
};

// ---------- DOM and formatting ----------

/** Builds an element: attributes (on* are listeners), then children (strings become text, null is skipped). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
const svg = (tag, attrs = {}, ...children) => {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
};
const replace = (el, ...children) => {
  el.replaceChildren();
  return append(el, children);
};

const int = (n) => (n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US"));
function usd(n) {
  if (n === null || n === undefined) return "–";
  const abs = Math.abs(n);
  const digits = abs === 0 ? 2 : abs < 0.01 ? 6 : abs < 1 ? 4 : 2;
  // Exact to the digits shown, without trailing zeros past the cents: $0.50, $0.000833, $12.30.
  return `${n < 0 ? "-" : ""}$${abs.toFixed(digits).replace(/(\.\d\d\d*?)0+$/, "$1")}`;
}
function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ""}`.trim();
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}
function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  const today = date.toDateString() === new Date().toDateString();
  return today ? date.toLocaleTimeString("en-GB") : `${date.toLocaleDateString("en-CA")} ${date.toLocaleTimeString("en-GB")}`;
}
const shortToken = (token) => `${token.slice(0, 8)}…`;
const limitText = (n, fmt = int) => (n === null || n === undefined ? "no limit" : fmt(n));

// ---------- API ----------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, body) {
  const headers = { authorization: `Bearer ${state.key}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method: body === undefined ? "GET" : "POST", headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  const text = await response.text();
  let data = null;
  try {
    data = JSON.parse(text);
  } catch {
    // not JSON: reported below if the status is an error
  }
  if (!response.ok) throw new ApiError(response.status, data?.error?.code ?? null, data?.error?.message ?? `${response.status} ${response.statusText}`);
  return data;
}

// ---------- status line, banner, refresh loop ----------

function live(text, kind = "") {
  const el = $("live");
  el.className = `live ${kind}`;
  el.textContent = text;
}
function banner(message) {
  const el = $("banner");
  el.hidden = !message;
  el.textContent = message ?? "";
}

/** Runs `refresh` now and every REFRESH_MS after it finishes, while the tab is visible; one loop at a time. */
function startLoop(refresh) {
  stopLoop();
  const loop = { timer: null, refresh };
  state.loop = loop;
  const tick = async () => {
    if (state.loop !== loop) return;
    if (document.visibilityState === "visible") {
      try {
        await refresh();
        if (state.loop !== loop) return;
        banner(null);
        live(`live · updated ${new Date().toLocaleTimeString("en-GB")}`);
      } catch (error) {
        if (state.loop !== loop) return;
        if (error instanceof ApiError && error.status === 401 && error.code === "invalid_api_key") return signOut("The key is no longer valid; sign in again.");
        banner(error.message);
        live("refresh failed, retrying", "stale");
      }
    }
    if (state.loop === loop) loop.timer = setTimeout(tick, REFRESH_MS);
  };
  tick();
}
function stopLoop() {
  if (state.loop?.timer) clearTimeout(state.loop.timer);
  state.loop = null;
}
/** Actions stop the loop, so no refresh races a change (a deleted key read while it is being deleted). */
async function paused(action) {
  const refresh = state.loop?.refresh;
  stopLoop();
  live("paused", "paused");
  try {
    return await action();
  } finally {
    if (refresh && !state.loop) route();
  }
}

// ---------- dialogs ----------

/** Shows a modal; `buttons` are [label, value, class]; resolves with the chosen value (null on Escape). */
function modal(title, content, buttons, onSubmit) {
  const dialog = $("dialog");
  return new Promise((resolve) => {
    const error = h("div", { class: "error", role: "alert" });
    // A closed dialog keeps no form, secret or label behind.
    const finish = (value) => {
      dialog.close();
      dialog.replaceChildren();
      resolve(value);
    };
    // Escape closes it. The close event comes a task later: one that arrives when the next modal is open is stale.
    dialog.onclose = () => {
      if (dialog.open) return;
      dialog.replaceChildren();
      resolve(null);
    };
    const row = h("div", { class: "buttons" }, buttons.map(([label, value, cls]) =>
      h("button", {
        type: "button",
        class: cls,
        onclick: async (event) => {
          if (value === null || !onSubmit) return finish(value);
          event.target.disabled = true;
          try {
            finish(await onSubmit(value));
          } catch (failure) {
            error.textContent = failure.message;
            event.target.disabled = false;
          }
        },
      }, label)));
    replace(dialog, h("h2", {}, title), content, error, row);
    dialog.showModal();
  });
}
const confirmAction = (title, text, label) => modal(title, h("p", {}, text), [["Cancel", null], [label, true, "danger"]]);

function showSecret(title, secret, note) {
  const code = h("code", { class: "secret", "data-secret": "" }, secret);
  const copy = h("button", {
    type: "button",
    onclick: () => navigator.clipboard?.writeText(secret).then(() => (copy.textContent = "Copied"), () => (copy.textContent = "Select and copy it")),
  }, "Copy");
  return modal(title, h("div", {}, h("p", {}, note), code, copy), [["I have saved it", true, "primary"]]);
}

const LIMIT_FIELDS = [
  ["key_alias", "Alias", "text"],
  ["team_id", "Team", "team"],
  ["models", "Models (comma separated, empty: all)", "list"],
  ["tpm_limit", "Tokens per window", "int"],
  ["rpm_limit", "Requests per window", "int"],
  ["max_parallel_requests", "Parallel requests", "int"],
  ["max_budget", "Budget (USD)", "usd"],
  ["budget_duration", "Budget period (30d, 1mo…)", "text"],
];

/** The key settings form: empty numbers mean "no limit". `current` fills it in for an update. */
function limitsForm(teams, current = {}, withExpiry = false) {
  const fields = [...LIMIT_FIELDS, ...(withExpiry ? [["duration", "Expires after (30d…, empty: never)", "text"]] : [])];
  const form = h("form", { class: "fields", onsubmit: (event) => event.preventDefault() });
  for (const [name, label, kind] of fields) {
    const value = current[name];
    let input;
    if (kind === "team") {
      input = h("select", { name }, h("option", { value: "" }, "none"), teams.map((team) => h("option", { value: team.team_id, selected: team.team_id === value }, team.team_alias ?? team.team_id)));
    } else {
      const text = kind === "list" ? (value ?? []).join(", ") : (value ?? "");
      input = h("input", { name, value: text, type: kind === "text" || kind === "list" ? "text" : "number", min: kind === "text" || kind === "list" ? null : "0", step: kind === "usd" ? "any" : kind === "int" ? "1" : null, autocomplete: "off" });
    }
    append(form, [h("label", { for: `f-${name}` }, label), input]);
    input.id = `f-${name}`;
  }
  const read = () => {
    const body = {};
    for (const [name, , kind] of fields) {
      const raw = form.elements[name].value.trim();
      if (kind === "list") body[name] = raw === "" ? [] : raw.split(",").map((model) => model.trim()).filter(Boolean);
      else if (kind === "int" || kind === "usd") body[name] = raw === "" ? null : Number(raw);
      else body[name] = raw === "" ? null : raw;
    }
    return body;
  };
  return { form, read };
}

// ---------- gauges and tables ----------

/** A bar for `used` of `limit` (null: no limit, the bar stays grey), with the exact numbers above it. */
function gauge(name, label, used, limit, { fmt = int, note = null } = {}) {
  const ratio = limit === null || limit === undefined ? null : limit === 0 ? 1 : used / limit;
  const fill = h("div", { class: `fill ${ratio === null ? "none" : ratio >= 0.9 ? "full" : ratio >= 0.7 ? "warn" : ""}` });
  fill.style.width = `${ratio === null ? 0 : Math.min(100, ratio * 100)}%`;
  return h("div", { class: "gauge", "data-gauge": name, "data-value": used, "data-limit": limit ?? "" },
    h("div", { class: "label" }, h("span", {}, label), h("b", {}, `${fmt(used)} / ${limitText(limit, fmt)}`)),
    h("div", { class: "bar" }, fill),
    note ? h("div", { class: "note" }, note) : null);
}

/** A live number that has no limit to be measured against. */
const stat = (name, label, value, note = null) =>
  h("div", { class: "gauge", "data-gauge": name, "data-value": value }, h("div", { class: "label" }, h("span", {}, label), h("b", {}, int(value))), note ? h("div", { class: "note" }, note) : null);

/** The four live gauges every owner has: its window, calls in flight and money. */
function ownerGauges(info) {
  const u = info.usage;
  const drains = (ms) => (ms > 0 ? `drains in ${duration(ms)}` : null);
  return {
    tokens: gauge("tokens", `Tokens / ${u.window_seconds} s`, u.tokens, u.tpm_limit, { note: drains(u.tokens_reset_ms) }),
    requests: gauge("requests", `Requests / ${u.window_seconds} s`, u.requests, u.rpm_limit, { note: drains(u.requests_reset_ms) }),
    inFlight: gauge("in_flight", "In flight", u.in_flight, u.max_parallel_requests, { note: u.queue?.length ? `${u.queue.length} waiting` : null }),
    spend: gauge("spend", "Spend", info.spend, info.max_budget, {
      fmt: usd,
      note: [u.reserved_spend > 0 ? `${usd(u.reserved_spend)} reserved` : null, info.budget_reset_at ? `resets ${when(info.budget_reset_at)}` : null].filter(Boolean).join(" · ") || null,
    }),
  };
}

const isExpired = (info) => info.expires !== null && info.expires !== undefined && Date.parse(info.expires) <= Date.now();
function stateBadge(info) {
  if (info.blocked) return h("span", { class: "badge blocked", "data-state": "blocked" }, "blocked");
  if (isExpired(info)) return h("span", { class: "badge expired", "data-state": "expired" }, "expired");
  return h("span", { class: "badge", "data-state": "active" }, "active");
}
const refusalTotal = (info) => Object.values(info.usage?.refusals ?? {}).reduce((sum, entry) => sum + entry.count, 0);

/**
 * A sortable table: `columns` are { title, cell(row), sort(row) }; clicking a sortable header sorts by it, a
 * second click reverses. `sort` is the caller's { column, dir }, kept across refreshes.
 */
function sortRows(columns, rows, sort) {
  const column = columns.find((c) => c.title === sort.column);
  if (!column?.sort) return [...rows];
  return [...rows].sort((a, b) => {
    const x = column.sort(a);
    const y = column.sort(b);
    return (x < y ? -1 : x > y ? 1 : 0) * sort.dir;
  });
}
function table(columns, rows, sort, onSort, empty) {
  const sorted = sortRows(columns, rows, sort);
  const head = h("tr", {}, columns.map((c) =>
    h("th", {
      class: [c.sort ? "sortable" : "", sort.column === c.title ? (sort.dir > 0 ? "sorted-asc" : "sorted-desc") : ""].join(" ").trim() || null,
      onclick: c.sort ? () => onSort({ column: c.title, dir: sort.column === c.title ? -sort.dir : 1 }) : null,
    }, c.title)));
  const body = sorted.length === 0
    ? [h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty))]
    : sorted.map((row) => h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(row)))));
  return h("table", {}, h("thead", {}, head), h("tbody", {}, body));
}

const gaugeColumns = () => [
  { title: "Tokens", cell: (r) => ownerGauges(r).tokens, sort: (r) => r.usage.tokens },
  { title: "Requests", cell: (r) => ownerGauges(r).requests, sort: (r) => r.usage.requests },
  { title: "In flight", cell: (r) => ownerGauges(r).inFlight, sort: (r) => r.usage.in_flight },
  { title: "Spend", cell: (r) => ownerGauges(r).spend, sort: (r) => r.spend },
];

// ---------- sign in ----------

async function signIn(key) {
  state.key = key;
  try {
    state.session = await api("/ui/session");
  } catch (error) {
    state.key = null;
    throw error;
  }
  sessionStorage.setItem(STORE, key);
}

function signOut(message = null) {
  stopLoop();
  sessionStorage.removeItem(STORE);
  state.key = null;
  state.session = null;
  location.hash = "#/";
  renderSignIn(message);
}

function renderSignIn(message = null) {
  replace($("nav"));
  replace($("who"));
  live("signed out", "paused");
  banner(message);
  const input = h("input", { type: "password", name: "key", autocomplete: "off", placeholder: "sk-…", "aria-label": "Key", required: true });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", {
    class: "card signin",
    onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = "";
      try {
        await signIn(input.value.trim());
        banner(null);
        location.hash = state.session.role === "master" ? "#/" : "#/me";
        route();
      } catch (failure) {
        error.textContent = failure.message;
      }
    },
  },
  h("h2", {}, "Sign in"),
  h("p", { class: "muted small" }, "With the master key to see every key, team and deployment, or with a virtual key to see its own page. The key is kept in this tab's session storage only."),
  input, h("button", { class: "primary", type: "submit" }, "Sign in"), error);
  replace($("main"), form);
  input.focus();
}

function renderChrome(current) {
  const master = state.session.role === "master";
  const link = (href, label, name) => h("a", { href, class: current === name ? "current" : null }, label);
  replace($("nav"), master ? [link("#/", "Overview", "overview"), link("#/deployments", "Deployments", "deployments")] : [link("#/me", "My key", "me")]);
  replace($("who"),
    h("span", {}, master ? "master key" : `key ${state.session.key_alias ?? state.session.key_name}`),
    h("button", { type: "button", onclick: () => signOut() }, "Sign out"));
}

// ---------- overview ----------

function renderOverview() {
  renderChrome("overview");
  const o = state.overview;
  const keysBox = h("div", {});
  const teamsBox = h("div", {});
  const pager = h("div", { class: "pager" });
  const teamSelect = h("select", { "aria-label": "Team", onchange: () => { o.team = teamSelect.value; o.page = 1; refresh(); } }, h("option", { value: "" }, "all teams"));
  const search = h("input", { type: "search", placeholder: "Search alias, key, team, user…", "aria-label": "Search", value: o.query, oninput: () => { o.query = search.value; paint(); } });
  const sizeSelect = h("select", { "aria-label": "Page size", onchange: () => { o.size = Number(sizeSelect.value); o.page = 1; refresh(); } },
    [10, 25, 50, 100].map((n) => h("option", { value: n, selected: n === o.size }, `${n} per page`)));
  let data = null;

  const matches = (text) => o.query === "" || String(text ?? "").toLowerCase().includes(o.query.toLowerCase());
  const paint = () => {
    if (!data) return;
    const { list, teams } = data;
    const keys = list.keys.filter((k) => [k.key_alias, k.key_name, k.token, k.team_id, k.user_id].some(matches));
    const keyColumns = [
      { title: "Key", sort: (r) => (r.key_alias ?? r.key_name).toLowerCase(), cell: (r) => [h("a", { href: `#/key/${r.token}`, "data-key": r.token }, r.key_alias ?? r.key_name), h("div", { class: "muted small mono" }, r.key_name)] },
      { title: "Team", sort: (r) => r.team_id ?? "", cell: (r) => r.team_id ?? h("span", { class: "muted" }, "–") },
      { title: "State", sort: (r) => (r.blocked ? 2 : isExpired(r) ? 1 : 0), cell: (r) => [stateBadge(r), refusalTotal(r) ? h("div", { class: "muted small" }, `${int(refusalTotal(r))} refused`) : null] },
      ...gaugeColumns(),
    ];
    replace(keysBox, table(keyColumns, keys, o.sort, (sort) => { o.sort = sort; paint(); }, o.query ? "No key on this page matches." : "No keys yet."));
    replace(pager,
      h("span", { class: "muted small" }, `page ${list.current_page} of ${Math.max(1, list.total_pages)} · ${int(list.total_count)} keys`),
      h("button", { type: "button", disabled: o.page <= 1, onclick: () => { o.page--; refresh(); } }, "Previous"),
      h("button", { type: "button", disabled: o.page >= list.total_pages, onclick: () => { o.page++; refresh(); } }, "Next"));

    const shownTeams = teams.filter((t) => [t.team_alias, t.team_id].some(matches));
    const teamPages = Math.max(1, Math.ceil(shownTeams.length / 10));
    o.teamPage = Math.min(o.teamPage, teamPages);
    const teamColumns = [
      { title: "Team", sort: (r) => (r.team_alias ?? r.team_id).toLowerCase(), cell: (r) => [h("a", { href: "#/", onclick: (event) => { event.preventDefault(); o.team = r.team_id; teamSelect.value = r.team_id; o.page = 1; refresh(); } }, r.team_alias ?? r.team_id), h("div", { class: "muted small mono" }, r.team_id)] },
      { title: "State", sort: (r) => (r.blocked ? 1 : 0), cell: (r) => stateBadge(r) },
      ...gaugeColumns(),
    ];
    // Teams come whole from /team/list: sorted in full here, then paged (table() keeps the order of a sorted page).
    const ordered = sortRows(teamColumns, shownTeams, o.teamSort).slice((o.teamPage - 1) * 10, o.teamPage * 10);
    replace(teamsBox,
      table(teamColumns, ordered, o.teamSort, (sort) => { o.teamSort = sort; paint(); }, "No teams."),
      teamPages > 1 ? h("div", { class: "pager" },
        h("span", { class: "muted small" }, `page ${o.teamPage} of ${teamPages}`),
        h("button", { type: "button", disabled: o.teamPage <= 1, onclick: () => { o.teamPage--; paint(); } }, "Previous"),
        h("button", { type: "button", disabled: o.teamPage >= teamPages, onclick: () => { o.teamPage++; paint(); } }, "Next")) : null);

    // Rebuilt only when the teams change, so an open list is not closed under the pointer.
    const signature = JSON.stringify(teams.map((t) => [t.team_id, t.team_alias]));
    if (teamSelect.dataset.teams !== signature) {
      teamSelect.dataset.teams = signature;
      replace(teamSelect, h("option", { value: "" }, "all teams"), teams.map((t) => h("option", { value: t.team_id, selected: t.team_id === o.team }, t.team_alias ?? t.team_id)));
    }
  };

  const refresh = async () => {
    const query = new URLSearchParams({ page: String(o.page), size: String(o.size), return_full_object: "true" });
    if (o.team) query.set("team_id", o.team);
    const [list, teams] = await Promise.all([api(`/key/list?${query}`), api("/team/list")]);
    data = { list, teams };
    paint();
  };

  const create = () => paused(async () => {
    const teams = data?.teams ?? [];
    const { form, read } = limitsForm(teams, {}, true);
    const created = await modal("Create a key", form, [["Cancel", null], ["Create", true, "primary"]], async () => {
      const body = Object.fromEntries(Object.entries(read()).filter(([, value]) => value !== null && !(Array.isArray(value) && value.length === 0)));
      return api("/key/generate", body);
    });
    if (!created) return;
    await showSecret("Key created", created.key, "This is the only time the secret is shown. Store it now: the gateway keeps only its SHA-256.");
    location.hash = `#/key/${created.token}`;
  });

  replace($("main"),
    h("h1", {}, "Overview"),
    h("div", { class: "card" },
      h("div", { class: "toolbar" }, h("h2", { class: "grow" }, "Keys"), search, teamSelect, sizeSelect, h("button", { type: "button", class: "primary", onclick: create }, "Create key")),
      keysBox, pager),
    h("div", { class: "card" }, h("h2", {}, "Teams"), teamsBox),
    h("p", { class: "muted small" }, `Every number is read from the Durable Object that enforces it, every ${REFRESH_MS / 1000} s. Sorting and search apply to the page shown; the team filter and paging are the server's (/key/list).`));
  startLoop(refresh);
}

// ---------- a key's page ----------

/** Spend (cumulative, from the spend log, ending at the key's spend now) and tokens per interval, as SVG. */
function spendChart(lines, spendNow) {
  const W = 1000, H = 260, L = 70, R = 70, T = 14, B = 26;
  const chrono = [...lines].reverse().map((line) => ({ ...line, t: Date.parse(line.end_time) }));
  const end = Date.now();
  // From a little before the oldest line shown to now, at least ten seconds.
  const span = Math.max(10_000, (end - (chrono[0]?.t ?? end)) * 1.05);
  const start = end - span;
  const x = (t) => L + ((t - start) / span) * (W - L - R);
  // The log sums to spend: what it does not show (older lines) is the baseline.
  let level = spendNow - lines.reduce((sum, line) => sum + line.spend, 0);
  const points = [[start, level]];
  for (const line of chrono) {
    points.push([line.t, level]);
    level += line.spend;
    points.push([line.t, level]);
  }
  points.push([end, spendNow]);
  const maxSpend = Math.max(...points.map(([, v]) => v), 1e-9);
  const BUCKETS = 40;
  const buckets = new Array(BUCKETS).fill(0);
  for (const line of chrono) buckets[Math.min(BUCKETS - 1, Math.floor(((line.t - start) / span) * BUCKETS))] += line.total_tokens;
  const maxTokens = Math.max(...buckets, 1);
  const y = (v, max) => T + (1 - v / max) * (H - T - B);
  const barWidth = (W - L - R) / BUCKETS;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": "Spend and tokens over time", "data-calls": lines.length, "data-spend": spendNow });
  chart.append(
    svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }),
    svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }),
    svg("line", { class: "axis", x1: W - R, x2: W - R, y1: T, y2: H - B }),
  );
  const bars = svg("g", { "data-series": "tokens" });
  buckets.forEach((tokens, index) => {
    if (tokens === 0) return;
    const top = y(tokens, maxTokens);
    const from = new Date(start + (index * span) / BUCKETS).toLocaleTimeString("en-GB");
    bars.append(svg("rect", { class: "tokens", x: L + index * barWidth + 1, width: Math.max(1, barWidth - 2), y: top, height: H - B - top }, svg("title", {}, `${from}: ${int(tokens)} tokens`)));
  });
  chart.append(bars);
  chart.append(svg("path", { class: "spend", "data-series": "spend", d: points.map(([t, v], i) => `${i ? "L" : "M"}${x(t).toFixed(1)},${y(v, maxSpend).toFixed(1)}`).join("") }));
  const label = (text, attrs) => svg("text", attrs, text);
  chart.append(
    label(usd(maxSpend), { x: L - 6, y: T + 8, "text-anchor": "end" }),
    label("$0", { x: L - 6, y: H - B, "text-anchor": "end" }),
    label(`${int(maxTokens)} tok`, { x: W - R + 6, y: T + 8 }),
    label("0", { x: W - R + 6, y: H - B }),
    label(new Date(start).toLocaleTimeString("en-GB"), { x: L, y: H - 8 }),
    label("now", { x: W - R, y: H - 8, "text-anchor": "end" }),
  );
  return h("div", {}, h("div", { class: "legend" }, h("span", {}, h("span", { class: "sw spend" }), "spend (USD, cumulative)"), h("span", {}, h("span", { class: "sw" }), `tokens per ${duration(span / BUCKETS)}`)), chart);
}

function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

function refusalsPanel(refusals) {
  if (!refusals) return null; // a gateway that does not count refusals: no panel rather than a wrong zero
  const rows = Object.entries(refusals).map(([reason, entry]) => ({ reason, ...entry })).sort((a, b) => b.count - a.count);
  return h("div", { class: "card", "data-panel": "refusals" },
    h("h2", {}, "Refusals by reason"),
    rows.length === 0
      ? h("p", { class: "muted" }, "No call was refused.")
      : h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Reason"), h("th", {}, "Refused by"), h("th", {}, "Calls"), h("th", {}, "Last"))),
        h("tbody", {}, rows.map((row) => {
          const [who, what] = row.reason.includes(":") ? row.reason.split(":") : ["key", row.reason];
          return h("tr", { "data-reason": row.reason }, h("td", { class: "mono" }, what), h("td", {}, who.replace("_", " ")), h("td", { class: "num" }, int(row.count)), h("td", {}, when(row.last_at)));
        }))));
}

function renderKey(token) {
  const master = state.session.role === "master";
  renderChrome(master ? "key" : "me");
  const box = h("div", {});
  const head = h("h1", {}, master ? shortToken(token) : "My key");
  let info = null;
  let teams = null; // for the update form's team list, read once

  const paint = (lines) => {
    const u = info.usage;
    const g = ownerGauges(info);
    replace(head, info.key_alias ?? info.key_name, h("span", { class: "muted small mono" }, info.key_name), stateBadge(info));
    const models = Object.entries(u.models ?? {});
    const calls = lines.filter((line) => line.request_id !== null).slice(0, 50);
    replace(box,
      master ? h("div", { class: "card actions" },
        h("button", { type: "button", onclick: update }, "Update limits"),
        info.blocked ? h("button", { type: "button", onclick: () => setBlocked(false) }, "Unblock") : h("button", { type: "button", class: "danger", onclick: () => setBlocked(true) }, "Block"),
        h("button", { type: "button", onclick: regenerate }, "Regenerate secret"),
        h("button", { type: "button", class: "danger", onclick: remove }, "Delete")) : null,
      h("div", { class: "card" }, h("h2", {}, "Now"), h("div", { class: "grid" }, g.tokens, g.requests, g.inFlight, g.spend,
        stat("reserved_tokens", "Tokens reserved by calls in flight", u.reserved_tokens),
        stat("queue", "Calls waiting for capacity", u.queue?.length ?? 0, u.queue?.oldest_wait_ms ? `oldest waited ${duration(u.queue.oldest_wait_ms)}` : null))),
      h("div", { class: "card" }, h("h2", {}, "Spend and tokens over time"), lines.length === 0 ? h("p", { class: "muted", "data-chart": "empty" }, "No calls yet.") : spendChart(lines, info.spend)),
      h("div", { class: "grid" },
        h("div", { class: "card" }, h("h2", {}, "Settings"), facts([
          ["Token", h("span", { class: "mono" }, info.token)],
          ["Team", info.team_id ?? "–"], ["User", info.user_id ?? "–"],
          ["Models", info.models?.length ? info.models.join(", ") : "all"],
          ["Tokens per window", limitText(info.tpm_limit)], ["Requests per window", limitText(info.rpm_limit)],
          ["Parallel requests", limitText(info.max_parallel_requests)],
          ["Budget", limitText(info.max_budget, usd)], ["Soft budget", limitText(info.soft_budget, usd)],
          ["Budget period", info.budget_duration ?? "–"], ["Budget resets", when(info.budget_reset_at)],
          ["Reservation policy", u.reservation_policy], ["Expires", info.expires ? when(info.expires) : "never"],
          ["Created", when(info.created_at)], ["Updated", when(info.updated_at)],
        ])),
        refusalsPanel(u.refusals)),
      models.length ? h("div", { class: "card" }, h("h2", {}, "Per model"), h("table", {},
        h("thead", {}, h("tr", {}, ["Model", "Tokens", "Requests", "Spend"].map((t) => h("th", {}, t)))),
        h("tbody", {}, models.map(([model, m]) => h("tr", {}, h("td", { class: "mono" }, model),
          h("td", {}, m.window ? gauge("model_tokens", "", m.window.tokens, m.window.tpm_limit) : "–"),
          h("td", {}, m.window ? gauge("model_requests", "", m.window.requests, m.window.rpm_limit) : "–"),
          h("td", {}, m.spend === null ? "–" : gauge("model_spend", "", m.spend, m.budget_limit, { fmt: usd, note: m.budget_reset_at ? `resets ${when(m.budget_reset_at)}` : null }))))))) : null,
      h("div", { class: "card" }, h("h2", {}, "Recent calls"), h("table", { "data-table": "calls" },
        h("thead", {}, h("tr", {}, ["Ended", "Model", "Prompt", "Completion", "Total tokens", "Cost", "Outcome", "Waited"].map((t) => h("th", {}, t)))),
        h("tbody", {}, calls.length === 0 ? h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No calls yet.")) : calls.map((line) => h("tr", { "data-outcome": line.outcome },
          h("td", {}, when(line.end_time)), h("td", { class: "mono" }, line.model ?? "–"),
          h("td", { class: "num" }, int(line.prompt_tokens)), h("td", { class: "num" }, int(line.completion_tokens)),
          h("td", { class: "num" }, int(line.total_tokens)), h("td", { class: "num" }, usd(line.spend)),
          h("td", {}, line.outcome), h("td", { class: "num" }, line.queue_ms ? duration(line.queue_ms) : "–")))))),
    );
  };

  const refresh = async () => {
    const [answer, lines] = master
      ? await Promise.all([api(`/key/info?key=${token}`), api(`/spend/logs?api_key=${token}&limit=${LOG_LIMIT}`), teams ? null : api("/team/list").then((list) => (teams = list))])
      : await Promise.all([api("/key/info"), api(`/spend/logs?limit=${LOG_LIMIT}`)]);
    info = answer.info;
    paint(lines);
  };

  const update = () => paused(async () => {
    const { form, read } = limitsForm(teams ?? [], info);
    await modal("Update limits", form, [["Cancel", null], ["Save", true, "primary"]], () => api("/key/update", { key: token, ...read() }));
  });
  const setBlocked = (blocked) => paused(async () => {
    if (blocked && !(await confirmAction("Block this key?", "Its next call is refused on every front door until it is unblocked.", "Block"))) return;
    await api(blocked ? "/key/block" : "/key/unblock", { key: token });
  });
  const regenerate = () => paused(async () => {
    if (!(await confirmAction("Regenerate the secret?", "The current secret stops working at once; calls already admitted still settle. Spend, limits and windows carry over.", "Regenerate"))) return;
    const created = await api("/key/regenerate", { key: token });
    await showSecret("New secret", created.key, "This is the only time the new secret is shown.");
    location.hash = `#/key/${created.token}`;
  });
  const remove = () => paused(async () => {
    if (!(await confirmAction("Delete this key?", `${info.key_alias ?? info.key_name} is deleted with its spend log; it cannot be undone.`, "Delete"))) return;
    await api("/key/delete", { keys: [token] });
    location.hash = "#/";
  });

  replace($("main"), head, box);
  startLoop(refresh);
}

// ---------- deployments ----------

function renderDeployments() {
  renderChrome("deployments");
  const box = h("div", {});
  const sort = { column: null, dir: 1 };
  let data = null;
  const paint = () => {
    const columns = [
      { title: "Deployment", sort: (r) => r.id, cell: (r) => [h("b", { class: "mono", "data-deployment": r.id }, r.id), h("div", { class: "muted small" }, `${r.model_group} → ${r.model} (${r.api})`)] },
      { title: "State", sort: (r) => (r.cooling_down ? 2 : r.used ? 0 : 1), cell: (r) => r.cooling_down
        ? h("span", { class: "badge cooling", "data-state": "cooling" }, `cooling down ${duration(r.cooldown_ms)}`)
        : r.used ? h("span", { class: "badge", "data-state": "ready" }, "ready") : h("span", { class: "badge idle", "data-state": "idle" }, "no calls yet") },
      { title: "Tokens", sort: (r) => r.tokens, cell: (r) => gauge("tokens", `Tokens / ${data.window_seconds} s`, r.tokens, r.tpm_limit, { note: r.tokens_reset_ms > 0 ? `drains in ${duration(r.tokens_reset_ms)}` : null }) },
      { title: "Requests", sort: (r) => r.requests, cell: (r) => gauge("requests", `Requests / ${data.window_seconds} s`, r.requests, r.rpm_limit, { note: r.requests_reset_ms > 0 ? `drains in ${duration(r.requests_reset_ms)}` : null }) },
      { title: "Remaining", sort: (r) => r.remaining_tokens ?? Infinity, cell: (r) => h("div", { class: "small" },
        h("div", {}, `${limitText(r.remaining_tokens)} tokens`), h("div", {}, `${limitText(r.remaining_requests)} requests`),
        r.itpm !== null || r.otpm !== null ? h("div", { class: "muted" }, `input ${limitText(r.itpm)} / output ${limitText(r.otpm)} per window`) : null) },
      { title: "In flight", num: true, sort: (r) => r.in_flight, cell: (r) => [int(r.in_flight), r.queue.length ? h("div", { class: "muted small" }, `${r.queue.length} waiting`) : null] },
      { title: "Refused", num: true, sort: (r) => Object.values(r.refusals).reduce((s, e) => s + e.count, 0), cell: (r) => int(Object.values(r.refusals).reduce((s, e) => s + e.count, 0)) },
    ];
    replace(box, table(columns, data.deployments, sort, (next) => { Object.assign(sort, next); paint(); }, "No deployments are configured (DEPLOYMENTS): calls go to UPSTREAM_BASE_URL."));
  };
  replace($("main"), h("h1", {}, "Deployments"), h("div", { class: "card" }, box),
    h("p", { class: "muted small" }, "Each deployment's window and cool-down, read from its own Durable Object: the counter every front door admits against."));
  startLoop(async () => {
    data = await api("/deployment/list");
    paint();
  });
}

// ---------- routing ----------

function route() {
  if (!state.session) return renderSignIn();
  const hash = location.hash || "#/";
  const key = /^#\/key\/([0-9a-f]{64})$/.exec(hash);
  if (state.session.role !== "master") return renderKey(state.session.token);
  if (key) return renderKey(key[1]);
  if (hash === "#/deployments") return renderDeployments();
  return renderOverview();
}

window.addEventListener("hashchange", () => state.session && route());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state.loop) live("refreshing…");
});

(async () => {
  if (!state.key) return renderSignIn();
  try {
    state.session = await api("/ui/session");
    route();
  } catch (error) {
    signOut(error.message);
  }
})();
