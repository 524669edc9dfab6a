// The demo page with VIDEO_PROVIDER=livekit (run by tests/matrix in the livekit run): the kit's
// VisitMeeting opens LiveKitVisit, @livekit/components-react's LiveKitRoom tries the answer's serverUrl
// (wss://lk.example.test, unreachable offline) and the page says so. One person is enough: the doctor.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { openWorld, artifacts } from "./page.mjs";

let world;
const SLOW = 60_000;

before(async () => {
  world = await openWorld({ doctor: ["lk-doctor@test.example", "lk-doctor-1"], patient: ["lk-patient@test.example", "lk-patient-1"] });
});

after(async () => {
  await world?.close();
});

test("livekit: the doctor's join opens a LiveKitRoom, which cannot reach the server offline and says so", async () => {
  mkdirSync(artifacts, { recursive: true });
  const page = await world.signIn("lk-doctor@test.example", "lk-doctor-1");
  const row = page.locator('tr[data-id="web-visit"]');
  await row.getByRole("button", { name: "Confirm" }).click();
  await row.getByRole("button", { name: "Join" }).click({ timeout: SLOW });
  await page.locator('#visit[data-visit-state="joined"]').waitFor({ timeout: SLOW });
  assert.equal(await page.locator("#meeting-provider").textContent(), "livekit");
  assert.equal(await page.locator("#meeting-role").textContent(), "moderator");
  const room = page.locator('.visit-livekit[data-provider="livekit"]');
  await room.locator(".lk-room-container").waitFor({ timeout: SLOW });
  const offline = room.locator('[data-role="meeting-offline"]');
  await offline.filter({ hasText: "lk.example.test cannot be reached" }).waitFor({ timeout: SLOW });
  assert.doesNotMatch(await page.content(), /eyJ[\w-]+\.eyJ/, "no token in the page");
  await page.screenshot({ path: path.join(artifacts, "livekit-doctor-offline.png"), fullPage: true });
});
