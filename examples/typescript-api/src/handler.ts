import type { HttpEvent, HttpResult } from "./types";
import { all, byId } from "./lib/store";

const json = (statusCode: number, value: unknown): HttpResult => ({
  statusCode,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(value),
});

export const list = async (): Promise<HttpResult> => json(200, all());

// GET /todos/3 fails in store.ts: the error's trace names src/lib/store.ts.
export const get = async (event: HttpEvent): Promise<HttpResult> => json(200, byId(Number(event.pathParameters?.id)));
