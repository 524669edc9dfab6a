// The kit's typed refusals against docs/api.md's one table of refusals: every code and `details` the
// callables can answer is read by refusalOf into a Refusal of its own (never "other"), numbers included,
// so a refusal added to the backend and its table without the kit fails here. No emulator needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { refusalOf } from "../../clients/web/dist/index.js";

const api = readFileSync(new URL("../../docs/api.md", import.meta.url), "utf8");
const table = api.slice(api.indexOf("\n## Refusals"), api.indexOf("\n## Audit records"));

/** The callables' rows (HTTP statuses are video_events'): their code, reason and named numbers. */
const rows = table
  .split("\n")
  .filter((line) => line.startsWith("| "))
  .map((line) => line.split("|").map((cell) => cell.trim()))
  .map(([, callables, , code, details]) => ({ callables, code: code?.match(/^`([a-z-]+)`/)?.[1], details: details ?? "" }))
  .filter((row) => row.code !== undefined);

const NUMBERS = ["retryAfter", "opensAt", "closesAt", "maxGuests"];

test("the table still has the callables' rows this test reads", () => {
  assert.ok(rows.length >= 25, `only ${rows.length} rows read`);
  assert.ok(rows.some((row) => row.details.includes("guest_limit")));
});

for (const row of rows) {
  const reason = row.details.match(/reason: "([a-z_]+)"/)?.[1];
  const numbers = NUMBERS.filter((name) => new RegExp(`\\b${name}\\b`).test(row.details));
  const label = `${row.code}${reason ? ` / ${reason}` : ""}${numbers.length ? ` with ${numbers.join(", ")}` : ""}`;
  test(`${label} (${row.callables}) is a refusal of its own`, () => {
    const details = Object.fromEntries([...(reason ? [["reason", reason]] : []), ...numbers.map((name) => [name, 1_800_000_000])]);
    const refusal = refusalOf({ code: `functions/${row.code}`, details: reason || numbers.length ? details : undefined });
    assert.equal(refusal.code, row.code);
    if (reason) assert.equal(refusal.reason, reason);
    for (const name of numbers) assert.equal(refusal[name], 1_800_000_000);
  });
}
