import type { TeamView } from "../../objects/protocol";
import type { TeamInfo } from "../../schemas/team";
import { liveInfo } from "../key/present";

/** A team's settings plus its live counters, in the same shape as a key's. */
export const teamInfo = (view: TeamView): TeamInfo => ({ ...view.record, ...liveInfo(view) });
