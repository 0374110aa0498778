import { env } from "cloudflare:workers";
import { vi, type Mock } from "vitest";
import type { Bindings } from "../../src/bindings";

export interface FakeMessage {
  id: string;
  timestamp: Date;
  body: unknown;
  attempts: number;
  ack: Mock<() => void>;
  retry: Mock<(options?: QueueRetryOptions) => void>;
}

/** A queue message whose ack() and retry() are spies. */
export function fakeMessage(body: unknown, attempts = 1): FakeMessage {
  return { id: crypto.randomUUID(), timestamp: new Date(), body, attempts, ack: vi.fn(), retry: vi.fn() };
}

export function fakeBatch(queue: string, messages: FakeMessage[]): MessageBatch<unknown> {
  return {
    queue,
    messages,
    metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } },
    ackAll: () => messages.forEach((message) => message.ack()),
    retryAll: (options?: QueueRetryOptions) => messages.forEach((message) => message.retry(options)),
  } as unknown as MessageBatch<unknown>;
}

export interface OwnerAck {
  namespace: string;
  name: string;
  id: string;
}

/**
 * Owner namespaces (KEYS, TEAMS, END_USERS, DEPLOYMENTS_LIMITS) whose objects only record ackAlert, so a test sees
 * which owner the consumer told, by which object name. `failing` objects throw instead (after recording).
 */
export function fakeOwners(failing = false) {
  const acks: OwnerAck[] = [];
  const namespace = (binding: string) =>
    ({
      idFromName: (name: string) => name,
      get: (name: string) => ({
        ackAlert: async (id: string) => {
          acks.push({ namespace: binding, name, id });
          if (failing) throw new Error("owner unreachable");
          return true;
        },
      }),
    }) as unknown as DurableObjectNamespace;
  const bindings = { KEYS: namespace("KEYS"), TEAMS: namespace("TEAMS"), END_USERS: namespace("END_USERS"), DEPLOYMENTS_LIMITS: namespace("DEPLOYMENTS_LIMITS") };
  return { acks, bindings };
}

/** The test Worker's real bindings (DIRECTORY included), fake owners, and these variables. */
export function alertEnv(owners: ReturnType<typeof fakeOwners>, vars: Record<string, string | undefined> = {}): Bindings {
  return { ...env, ...owners.bindings, ...vars } as Bindings;
}

/** The JSON lines a console method was called with. */
export function jsonLines(spy: { mock: { calls: unknown[][] } }): Array<Record<string, any>> {
  return spy.mock.calls.flatMap(([line]) => {
    if (typeof line !== "string") return [];
    try {
      return [JSON.parse(line) as Record<string, any>];
    } catch {
      return [];
    }
  });
}
