export * from "./budget";
export * from "./limiter";
export * from "./limits";
export * from "./money";
export * from "./period";
export * from "./state";
