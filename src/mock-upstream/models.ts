import { errorResponse, jsonResponse } from "./errors";

export const MOCK_MODEL_IDS = [
  "gpt-4o",
  "gpt-4o-mini",
  "gpt-4.1",
  "gpt-4.1-mini",
  "gpt-3.5-turbo",
  "text-embedding-3-small",
  "text-embedding-3-large",
] as const;

// Fixed so the listing is byte-for-byte stable across runs.
const CREATED = 1_700_000_000;

function modelObject(id: string): { id: string; object: "model"; created: number; owned_by: string } {
  return { id, object: "model", created: CREATED, owned_by: "edgequota-mock" };
}

export function listModels(headers: Headers): Response {
  return jsonResponse({ object: "list", data: MOCK_MODEL_IDS.map(modelObject) }, 200, headers);
}

export function retrieveModel(id: string, headers: Headers): Response {
  if (!(MOCK_MODEL_IDS as readonly string[]).includes(id)) {
    return errorResponse(404, `The model '${id}' does not exist`, "model_not_found", "model");
  }
  return jsonResponse(modelObject(id), 200, headers);
}
