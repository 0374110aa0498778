import { app } from "./app";
import type { Bindings } from "./bindings";
import { ALERT_DEAD_LETTER_QUEUE, consumeAlerts, consumeDeadAlerts } from "./alerts/consumer";

export { DirectoryObject } from "./objects/directory-object";
export { KeyObject } from "./objects/key-object";

/**
 * The Worker: HTTP through the app, and the alert queues (wrangler.toml): the ALERTS queue's batches are posted to
 * the webhook, its dead-letter queue's are kept for GET /alerts/dead-letters.
 */
export default {
  fetch: app.fetch,
  queue: (batch, env) => (batch.queue === ALERT_DEAD_LETTER_QUEUE ? consumeDeadAlerts(batch, env) : consumeAlerts(batch, env)),
} satisfies ExportedHandler<Bindings>;
export { DeploymentObject } from "./objects/deployment-object";
export { EndUserObject } from "./objects/end-user-object";
export { TeamObject } from "./objects/team-object";
