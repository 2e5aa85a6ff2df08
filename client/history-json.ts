/**
 * History <-> the JSON form of `temporal workflow show --output json` and of the
 * Web UI's download (proto3 JSON, PascalCase enum names accepted).
 *
 * The SDK's codec needs ONE protobufjs shared by @temporalio/common and
 * @temporalio/proto ("type must be a Type" otherwise); package.json pins
 * protobufjs at the top level so npm dedupes it.
 */
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { temporal } from '@temporalio/proto';

export type History = temporal.api.history.v1.IHistory;

export function historyFromJson(json: unknown): History {
  const events = (json as { events?: unknown } | null)?.events;
  if (!Array.isArray(events)) throw new TypeError('expected an object with an "events" array');
  return historyFromJSON(json);
}

export function historyToJson(history: History): string {
  return historyToJSON(history);
}
