import { app } from "./app";

export { DirectoryObject } from "./objects/directory-object";
export { KeyObject } from "./objects/key-object";

export default app;
export { DeploymentObject } from "./objects/deployment-object";
export { TeamObject } from "./objects/team-object";
