/**
 * The Worker the test pool runs: the product's entry with its Durable Objects extended by a test clock, so tests
 * cross windows and budget periods without waiting. The production entry (src/index.ts) has no such hook.
 */
import {
  DeploymentObject as ProductDeploymentObject,
  EndUserObject as ProductEndUserObject,
  KeyObject as ProductKeyObject,
  TeamObject as ProductTeamObject,
} from "../src/index";

export { default, DirectoryObject } from "../src/index";

export class KeyObject extends ProductKeyObject {
  clockOffsetMs = 0;
  protected override now(): number {
    return super.now() + this.clockOffsetMs;
  }
}

export class TeamObject extends ProductTeamObject {
  clockOffsetMs = 0;
  protected override now(): number {
    return super.now() + this.clockOffsetMs;
  }
}

export class DeploymentObject extends ProductDeploymentObject {
  clockOffsetMs = 0;
  protected override now(): number {
    return super.now() + this.clockOffsetMs;
  }
}

export class EndUserObject extends ProductEndUserObject {
  clockOffsetMs = 0;
  protected override now(): number {
    return super.now() + this.clockOffsetMs;
  }
}
