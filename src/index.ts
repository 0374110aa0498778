import { app } from "./app";

export { KeyIndexObject } from "./objects/key-index-object";
export { KeyObject } from "./objects/key-object";

export default app;
