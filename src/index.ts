import { app } from "./app";

export { DirectoryObject } from "./objects/directory-object";
export { KeyObject } from "./objects/key-object";

export default app;
export { DeploymentObject } from "./objects/deployment-object";
export { EndUserObject } from "./objects/end-user-object";
export { TeamObject } from "./objects/team-object";
