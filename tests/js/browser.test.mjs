// The demo page in headless Chromium (Debian's, driven by playwright-core): a doctor and a patient, two contexts,
// and a third for an invited guest who opens the doctor's link.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { projectId } from "./emulators.mjs";
import { openWorld, root, artifacts } from "./page.mjs";

let world;

before(async () => {
  world = await openWorld({ doctor: ["web-doctor@test.example", "web-doctor-1"], patient: ["web-patient@test.example", "web-patient-1"] });
});

after(async () => {
  await world?.close();
});

const signIn = (email, password) => world.signIn(email, password);

test("the doctor confirms; the patient waits for the doctor, then gets in on their own", async () => {
  const doctorPage = await signIn("web-doctor@test.example", "web-doctor-1");
  const patientPage = await signIn("web-patient@test.example", "web-patient-1");
  const doctorRow = doctorPage.locator('tr[data-id="web-visit"]');
  const patientRow = patientPage.locator('tr[data-id="web-visit"]');
  await doctorRow.waitFor();
  assert.equal(await patientRow.locator('[data-role="status"]').textContent(), "pending");
  assert.equal(await patientRow.getByRole("button", { name: "Join" }).count(), 0);

  await doctorRow.getByRole("button", { name: "Confirm" }).click();

  const join = patientRow.getByRole("button", { name: "Join" });
  await join.waitFor({ timeout: 15_000 });
  assert.equal(await patientRow.locator('[data-role="status"]').textContent(), "confirmed");
  mkdirSync(artifacts, { recursive: true });

  // 1. The patient is first: the waiting room holds them, and the page says so.
  await join.click();
  await patientPage.locator("#notice").filter({ hasText: "Waiting for the doctor" }).waitFor({ timeout: 15_000 });
  assert.equal(await patientPage.locator("#meeting").isHidden(), true);
  await patientPage.screenshot({ path: path.join(artifacts, "browser-1-patient-waiting.png"), fullPage: true });

  // 2. The patient allows recording while waiting (the toggle calls set_recording_consent).
  await patientRow.locator('[data-role="consent"]').check();
  await patientPage.waitForFunction(
    () => document.querySelector('tr[data-id="web-visit"] [data-role="consent"]')?.checked === true,
  );

  // 3. The doctor joins as moderator ...
  await doctorRow.getByRole("button", { name: "Join" }).click();
  await doctorPage.waitForSelector("#meeting:not([hidden])");
  assert.equal(await doctorPage.locator("#meeting-role").textContent(), "moderator");
  const room = await doctorPage.locator("#meeting-room").textContent();
  assert.match(room, /^[a-z2-7]{32}$/);
  await doctorPage.screenshot({ path: path.join(artifacts, "browser-2-doctor-joined.png"), fullPage: true });

  // 4. ... and the patient's page, listening, joins the same room without another click.
  await patientPage.waitForSelector("#meeting:not([hidden])", { timeout: 15_000 });
  const offline = patientPage.locator("#meeting-offline");
  await offline.filter({ hasText: "cannot be reached" }).waitFor({ timeout: 15_000 });
  assert.equal(await patientPage.locator("#meeting-room").textContent(), room);
  assert.equal(await patientPage.locator("#meeting-role").textContent(), "guest");
  assert.match(await offline.textContent(), new RegExp(`room ${room}`));
  await patientPage.screenshot({ path: path.join(artifacts, "browser-3-patient-in.png"), fullPage: true });

  // 5. The video service reports the patient in the room (a signed event-sync post, as self-hosted
  //    Jitsi's event_sync module sends it); the doctor's page shows it live.
  const secret = readFileSync(path.join(root, "functions/.secret.local"), "utf8")
    .split("\n").find((line) => line.startsWith("VIDEO_WEBHOOK_SECRET=")).split("=")[1];
  const functionsHost = process.env.FUNCTIONS_EMULATOR_HOST ?? "127.0.0.1:5001";
  const reply = await fetch(
    `http://${functionsHost}/${projectId}/us-central1/video_events/jitsi/events/occupant/joined`,
    {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${secret}` },
      body: JSON.stringify({
        event_name: "muc-occupant-joined", room_name: room,
        occupant: { id: "patient", name: "Patient", occupant_jid: `${room}@conference/p1`, joined_at: Math.floor(Date.now() / 1000) },
      }),
    },
  );
  assert.equal(reply.status, 200);
  await doctorRow.locator('[data-role="attendance"]').filter({ hasText: "Patient joined" }).waitFor({ timeout: 15_000 });
  await doctorPage.screenshot({ path: path.join(artifacts, "browser-4-doctor-sees-patient-joined.png"), fullPage: true });
  await patientPage.screenshot({ path: path.join(artifacts, "browser-join.png"), fullPage: true });

  // 6. The third person: the doctor invites an interpreter from the visit's guest panel and gets a link.
  await doctorRow.getByRole("button", { name: "Guests" }).click();
  await doctorPage.selectOption("#guest-kind", "interpreter");
  await doctorPage.fill("#guest-name", "Ana Lima");
  await doctorPage.click("#invite");
  await doctorPage.waitForSelector("#invite-link-row:not([hidden])", { timeout: 15_000 });
  const link = await doctorPage.locator("#invite-link").inputValue();
  assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/#invite=[A-Za-z0-9_-]{32}$/);
  await doctorPage.screenshot({ path: path.join(artifacts, "browser-5-doctor-invites.png"), fullPage: true });

  // 7. A browser that never signed in opens the link: an anonymous account redeems it and joins the same room
  //    as a guest (the doctor is in), and the code leaves the address bar.
  const guestContext = await world.browser.newContext({ viewport: { width: 1100, height: 800 } });
  const guestPage = await guestContext.newPage();
  await guestPage.goto(link);
  await guestPage.waitForSelector("#meeting:not([hidden])", { timeout: 30_000 });
  assert.equal(await guestPage.locator("#meeting-room").textContent(), room);
  assert.equal(await guestPage.locator("#meeting-role").textContent(), "guest");
  assert.equal(await guestPage.locator("#guest-kind-label").textContent(), "Interpreter");
  assert.equal(await guestPage.locator("#sign-in-form").isHidden(), true);
  assert.ok(!guestPage.url().includes("invite"), guestPage.url());
  await guestPage.screenshot({ path: path.join(artifacts, "browser-6-guest-in.png"), fullPage: true });

  // 8. The patient sees the guest in, removes them, and the guest's next join is refused.
  await patientRow.getByRole("button", { name: "Guests" }).click();
  const guestItem = patientPage.locator("#guest-list li").filter({ hasText: "Ana Lima (Interpreter)" });
  await guestItem.locator('[data-role="guest-status"]').filter({ hasText: "redeemed" }).waitFor({ timeout: 15_000 });
  await guestItem.getByRole("button", { name: "Remove" }).click();
  await guestItem.locator('[data-role="guest-status"]').filter({ hasText: "removed" }).waitFor({ timeout: 15_000 });
  await patientPage.screenshot({ path: path.join(artifacts, "browser-7-patient-removed-guest.png"), fullPage: true });
  await guestPage.click("#guest-join");
  await guestPage.locator("#notice").filter({ hasText: "no longer valid" }).waitFor({ timeout: 15_000 });
  await guestContext.close();
});
