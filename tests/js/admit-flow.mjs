// The demo page (on the client kit, served by the Hosting emulator) with VIDEO_WAITING_ROOM=admit (run by tests/matrix in the admit run, not by make test's
// main suite, which deploys host mode): the patient waits in the lobby, the doctor sees them and
// clicks Admit, the patient's page gets in on its own. Screenshots of each state.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { openWorld, artifacts } from "./page.mjs";

let world;
// A deadline for each step, not a wait: on a loaded machine a function's first run (a cold worker) can take
// tens of seconds.
const SLOW = 60_000;

before(async () => {
  world = await openWorld({ doctor: ["admit-doctor@test.example", "admit-doctor-1"], patient: ["admit-patient@test.example", "admit-patient-1"] });
});

after(async () => {
  await world?.close();
});

test("admit mode: the patient waits in the lobby until the doctor clicks Admit", async () => {
  mkdirSync(artifacts, { recursive: true });
  const doctorPage = await world.signIn("admit-doctor@test.example", "admit-doctor-1");
  const patientPage = await world.signIn("admit-patient@test.example", "admit-patient-1");
  const doctorRow = doctorPage.locator('tr[data-id="web-visit"]');
  const patientRow = patientPage.locator('tr[data-id="web-visit"]');
  await doctorRow.waitFor();
  await doctorRow.getByRole("button", { name: "Confirm" }).click();
  const join = patientRow.getByRole("button", { name: "Join" });
  await join.waitFor({ timeout: SLOW });

  // The doctor joins first: in admit mode that alone does not let the patient in.
  await doctorRow.getByRole("button", { name: "Join" }).click();
  await doctorPage.locator('#visit[data-visit-state="joined"]').waitFor({ timeout: SLOW });

  await join.click();
  await patientPage.locator('#visit[data-visit-state="waiting_for_admission"]').waitFor({ timeout: SLOW });
  assert.match(await patientPage.locator("#visit-status").textContent(), /waiting room/);
  assert.equal(await patientPage.locator("#meeting-room").count(), 0);
  await patientPage.screenshot({ path: path.join(artifacts, "admit-1-patient-in-lobby.png"), fullPage: true });

  // The doctor's row shows the waiting patient, live, with Admit and Deny.
  await doctorRow.locator('[data-role="lobby"]').waitFor({ timeout: SLOW });
  await doctorPage.screenshot({ path: path.join(artifacts, "admit-2-doctor-sees-patient-waiting.png"), fullPage: true });
  await doctorRow.getByRole("button", { name: "Admit" }).click();

  // The patient's kit sees video.admittedAt and joins without another click.
  await patientPage.locator('#visit[data-visit-state="joined"]').waitFor({ timeout: SLOW });
  assert.equal(await patientPage.locator("#meeting-role").textContent(), "guest");
  assert.equal(
    await patientPage.locator("#meeting-room").textContent(),
    await doctorPage.locator("#meeting-room").textContent(),
  );
  await doctorRow.locator('[data-role="lobby"]').waitFor({ state: "detached", timeout: SLOW });
  await patientPage.screenshot({ path: path.join(artifacts, "admit-3-patient-admitted.png"), fullPage: true });
});
