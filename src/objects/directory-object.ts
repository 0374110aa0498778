import { DurableObject } from "cloudflare:workers";
import type { Bindings } from "../bindings";

/** One row per key: only what /key/list filters and pages on. Limits and spend stay in each key's object. */
export interface KeyIndexEntry {
  token: string;
  key_alias: string | null;
  team_id: string | null;
  user_id: string | null;
  created_at: string;
}

export interface KeyIndexPage {
  tokens: string[];
  total: number;
}

/** One row per team, for /team/list. */
export interface TeamIndexEntry {
  team_id: string;
  team_alias: string | null;
  created_at: string;
}

/** One row per end user, registered or created from defaults, for /customer/list. */
export interface EndUserIndexEntry {
  user_id: string;
  alias: string | null;
  registered: boolean;
  created_at: string;
}

/** An alert the webhook kept refusing (src/alerts/consumer.ts), for GET /alerts/dead-letters. */
export type DeadAlertEntry = {
  id: string;
  type: string;
  owner_kind: string;
  owner_id: string;
  /** The event as JSON (src/alerts/event.ts). */
  event: string;
  /** How many times this event reached the dead-letter queue (an owner may re-send it before its ack lands). */
  count: number;
  first_at: string;
  last_at: string;
};

/** Dead letters kept at most; the oldest go first. */
export const DEAD_ALERTS_KEPT = 10_000;

/**
 * The directory of keys and teams, so /key/list and /team/list can page without visiting every object. It is
 * never on the request path: admission and enforcement read only the key's, team's and deployment's objects.
 */
export class DirectoryObject extends DurableObject<Bindings> {
  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS keys (
      token TEXT PRIMARY KEY, key_alias TEXT, team_id TEXT, user_id TEXT, created_at TEXT NOT NULL)`);
    ctx.storage.sql.exec("CREATE INDEX IF NOT EXISTS keys_by_created ON keys (created_at, token)");
    ctx.storage.sql.exec("CREATE INDEX IF NOT EXISTS keys_by_team ON keys (team_id)");
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS teams (
      team_id TEXT PRIMARY KEY, team_alias TEXT, created_at TEXT NOT NULL)`);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS end_users (
      user_id TEXT PRIMARY KEY, alias TEXT, registered INTEGER NOT NULL, created_at TEXT NOT NULL)`);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS dead_alerts (
      id TEXT PRIMARY KEY, type TEXT NOT NULL, owner_kind TEXT NOT NULL, owner_id TEXT NOT NULL, event TEXT NOT NULL,
      count INTEGER NOT NULL, first_at TEXT NOT NULL, last_at TEXT NOT NULL)`);
    ctx.storage.sql.exec("CREATE INDEX IF NOT EXISTS dead_alerts_by_last ON dead_alerts (last_at, id)");
  }

  /** Records an alert given up on; the same event again (same id) counts once more and keeps its latest JSON. */
  putDeadAlert(entry: { id: string; type: string; owner_kind: string; owner_id: string; event: string; at: string }): void {
    this.ctx.storage.sql.exec(
      `INSERT INTO dead_alerts (id, type, owner_kind, owner_id, event, count, first_at, last_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET event = excluded.event, count = count + 1, last_at = excluded.last_at`,
      entry.id, entry.type, entry.owner_kind, entry.owner_id, entry.event, entry.at, entry.at,
    );
    this.ctx.storage.sql.exec(
      "DELETE FROM dead_alerts WHERE id IN (SELECT id FROM dead_alerts ORDER BY last_at DESC, id DESC LIMIT -1 OFFSET ?)",
      DEAD_ALERTS_KEPT,
    );
  }

  /** Newest first. */
  listDeadAlerts(limit: number): { entries: DeadAlertEntry[]; total: number } {
    const total = this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM dead_alerts").one().n;
    const entries = this.ctx.storage.sql
      .exec<DeadAlertEntry>(
        "SELECT id, type, owner_kind, owner_id, event, count, first_at, last_at FROM dead_alerts ORDER BY last_at DESC, id DESC LIMIT ?",
        limit,
      )
      .toArray();
    return { entries, total };
  }

  /** A registered entry is never turned back into an unregistered one by a late first-use notice. */
  putEndUser(entry: EndUserIndexEntry): void {
    this.ctx.storage.sql.exec(
      `INSERT INTO end_users (user_id, alias, registered, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET alias = excluded.alias, registered = MAX(registered, excluded.registered)`,
      entry.user_id, entry.alias, entry.registered ? 1 : 0, entry.created_at,
    );
  }

  removeEndUsers(userIds: string[]): void {
    for (const userId of userIds) this.ctx.storage.sql.exec("DELETE FROM end_users WHERE user_id = ?", userId);
  }

  /** Oldest first, paged. */
  listEndUsers(page: number, size: number): { ids: string[]; total: number } {
    const total = this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM end_users").one().n;
    const ids = this.ctx.storage.sql
      .exec<{ user_id: string }>("SELECT user_id FROM end_users ORDER BY created_at, user_id LIMIT ? OFFSET ?", size, (page - 1) * size)
      .toArray()
      .map((row) => row.user_id);
    return { ids, total };
  }

  put(entry: KeyIndexEntry): void {
    this.ctx.storage.sql.exec(
      `INSERT INTO keys (token, key_alias, team_id, user_id, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (token) DO UPDATE SET key_alias = excluded.key_alias, team_id = excluded.team_id,
         user_id = excluded.user_id, created_at = excluded.created_at`,
      entry.token, entry.key_alias, entry.team_id, entry.user_id, entry.created_at,
    );
  }

  remove(tokens: string[]): void {
    for (const token of tokens) this.ctx.storage.sql.exec("DELETE FROM keys WHERE token = ?", token);
  }

  /** Newest first, like LiteLLM's dashboard. */
  list(filter: { team_id?: string; key_alias?: string; user_id?: string }, page: number, size: number): KeyIndexPage {
    const where: string[] = [];
    const args: string[] = [];
    for (const column of ["team_id", "key_alias", "user_id"] as const) {
      const value = filter[column];
      if (value !== undefined) {
        where.push(`${column} = ?`);
        args.push(value);
      }
    }
    const clause = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
    const total = this.ctx.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM keys ${clause}`, ...args).one().n;
    const rows = this.ctx.storage.sql
      .exec<{ token: string }>(
        `SELECT token FROM keys ${clause} ORDER BY created_at DESC, token LIMIT ? OFFSET ?`,
        ...args, size, (page - 1) * size,
      )
      .toArray();
    return { tokens: rows.map((row) => row.token), total };
  }

  putTeam(entry: TeamIndexEntry): void {
    this.ctx.storage.sql.exec(
      `INSERT INTO teams (team_id, team_alias, created_at) VALUES (?, ?, ?)
       ON CONFLICT (team_id) DO UPDATE SET team_alias = excluded.team_alias`,
      entry.team_id, entry.team_alias, entry.created_at,
    );
  }

  removeTeams(teamIds: string[]): void {
    for (const teamId of teamIds) this.ctx.storage.sql.exec("DELETE FROM teams WHERE team_id = ?", teamId);
  }

  /** Oldest first, as LiteLLM lists teams. */
  listTeams(): string[] {
    return this.ctx.storage.sql.exec<{ team_id: string }>("SELECT team_id FROM teams ORDER BY created_at, team_id").toArray().map((row) => row.team_id);
  }

  /** Every key of a team (teams are small enough to list whole). */
  teamKeys(teamId: string): string[] {
    return this.ctx.storage.sql.exec<{ token: string }>("SELECT token FROM keys WHERE team_id = ? ORDER BY created_at", teamId).toArray().map((row) => row.token);
  }

  /** Every key carrying one of these aliases (aliases need not be unique). */
  tokensByAlias(aliases: string[]): Array<{ token: string; key_alias: string }> {
    const out: Array<{ token: string; key_alias: string }> = [];
    for (const alias of new Set(aliases)) {
      for (const row of this.ctx.storage.sql.exec<{ token: string }>("SELECT token FROM keys WHERE key_alias = ?", alias)) {
        out.push({ token: row.token, key_alias: alias });
      }
    }
    return out;
  }
}
