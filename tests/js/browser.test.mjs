// The demo page (web/, on the client kit, served by the Hosting emulator) in headless Chromium (Debian's,
// driven by playwright-core): a doctor and a patient, two contexts, and a third for an invited guest who
// opens the doctor's link. The visit panel shows the kit's state as data-visit-state, so each step checks
// the typed state and the sentence the page shows for it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { projectId } from "./emulators.mjs";
import { openWorld, root, artifacts } from "./page.mjs";

let world;
// A deadline for each step, not a wait: on a loaded machine a function's first run (a cold worker) can take
// tens of seconds.
const SLOW = 60_000;

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
  await join.waitFor({ timeout: SLOW });
  assert.equal(await patientRow.locator('[data-role="status"]').textContent(), "confirmed");
  mkdirSync(artifacts, { recursive: true });

  // 1. The patient is first: the kit's state is waiting_for_doctor, and the page says so.
  await join.click();
  const patientVisit = patientPage.locator("#visit");
  await patientPage.locator('#visit[data-visit-state="waiting_for_doctor"]').waitFor({ timeout: SLOW });
  assert.match(await patientPage.locator("#visit-status").textContent(), /Waiting for the doctor to join/);
  assert.equal(await patientPage.locator("#meeting-room").count(), 0);
  await patientPage.screenshot({ path: path.join(artifacts, "browser-1-patient-waiting.png"), fullPage: true });

  // 2. The patient allows recording while waiting (the toggle calls set_recording_consent).
  await patientRow.locator('[data-role="consent"]').check();
  await patientPage.waitForFunction(
    () => document.querySelector('tr[data-id="web-visit"] [data-role="consent"]')?.checked === true,
  );

  // 3. The doctor joins as moderator ...
  await doctorRow.getByRole("button", { name: "Join" }).click();
  await doctorPage.locator('#visit[data-visit-state="joined"]').waitFor({ timeout: SLOW });
  assert.equal(await doctorPage.locator("#meeting-role").textContent(), "moderator");
  const room = await doctorPage.locator("#meeting-room").textContent();
  assert.match(room, /^[a-z2-7]{32}$/);
  await doctorPage.screenshot({ path: path.join(artifacts, "browser-2-doctor-joined.png"), fullPage: true });

  // 4. ... and the patient's kit, listening, joins the same room without another click. The Jitsi
  //    component cannot load meet.example.test's external_api.js offline, and says so.
  await patientPage.locator('#visit[data-visit-state="joined"]').waitFor({ timeout: SLOW });
  const offline = patientVisit.locator('[data-role="meeting-offline"]');
  await offline.filter({ hasText: "cannot be reached" }).waitFor({ timeout: SLOW });
  assert.equal(await patientPage.locator("#meeting-room").textContent(), room);
  assert.equal(await patientPage.locator("#meeting-role").textContent(), "guest");
  assert.equal(await patientPage.locator("#meeting-provider").textContent(), "jitsi");
  assert.match(await offline.textContent(), new RegExp(`meet\\.example\\.test cannot be reached.*room ${room}`));
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
  await doctorRow.locator('[data-role="attendance"]').filter({ hasText: "Patient joined" }).waitFor({ timeout: SLOW });
  await doctorPage.screenshot({ path: path.join(artifacts, "browser-4-doctor-sees-patient-joined.png"), fullPage: true });
  await patientPage.screenshot({ path: path.join(artifacts, "browser-join.png"), fullPage: true });

  // 6. The third person: the doctor invites an interpreter from the visit's guest panel and gets a link.
  await doctorRow.getByRole("button", { name: "Guests" }).click();
  await doctorPage.selectOption("#guest-kind", "interpreter");
  await doctorPage.fill("#guest-name", "Ana Lima");
  await doctorPage.click("#invite");
  await doctorPage.locator("#invite-link-row").waitFor({ timeout: SLOW });
  const link = await doctorPage.locator("#invite-link").inputValue();
  assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/#invite=[A-Za-z0-9_-]{32}$/);
  await doctorPage.screenshot({ path: path.join(artifacts, "browser-5-doctor-invites.png"), fullPage: true });

  // 7. A browser that never signed in opens the link: an anonymous account redeems it and its kit (which may
  //    not read the visit, so it runs on the callable's answers) joins the same room as a guest, and the code
  //    leaves the address bar. The link's page is VIDEO_JOIN_PAGE_URL's; the test opens this suite's page
  //    (its port may be shifted) with the link's fragment.
  const guestPage = await world.open(new URL(link).hash);
  await guestPage.locator('#visit[data-visit-state="joined"]').waitFor({ timeout: SLOW });
  assert.equal(await guestPage.locator("#meeting-room").textContent(), room);
  assert.equal(await guestPage.locator("#meeting-role").textContent(), "guest");
  assert.equal(await guestPage.locator("#guest-kind-label").textContent(), "Interpreter");
  assert.equal(await guestPage.locator("#sign-in-form").count(), 0);
  assert.ok(!guestPage.url().includes("invite"), guestPage.url());
  await guestPage.screenshot({ path: path.join(artifacts, "browser-6-guest-in.png"), fullPage: true });

  // 8. The patient sees the guest in, removes them, and the guest's next join is refused: not_found, which
  //    the guest's page words as an invitation no longer valid.
  await patientRow.getByRole("button", { name: "Guests" }).click();
  const guestItem = patientPage.locator("#guest-list li").filter({ hasText: "Ana Lima (Interpreter)" });
  await guestItem.locator('[data-role="guest-status"]').filter({ hasText: "redeemed" }).waitFor({ timeout: SLOW });
  await guestItem.getByRole("button", { name: "Remove" }).click();
  await guestItem.locator('[data-role="guest-status"]').filter({ hasText: "removed" }).waitFor({ timeout: SLOW });
  await patientPage.screenshot({ path: path.join(artifacts, "browser-7-patient-removed-guest.png"), fullPage: true });
  await guestPage.click("#guest-join");
  await guestPage.locator('#visit[data-visit-state="not_found"]').waitFor({ timeout: SLOW });
  assert.equal(await guestPage.locator("#visit-status").textContent(), "This invitation is no longer valid.");
  await guestPage.context().close();

  // 9. The doctor completes the visit: both kits end (and stop listening), the pages say so.
  await doctorRow.getByRole("button", { name: "Complete" }).click();
  for (const page of [patientPage, doctorPage]) {
    await page.locator('#visit[data-visit-state="ended"]').waitFor({ timeout: SLOW });
    assert.equal(await page.locator("#visit-status").textContent(), "This consultation has ended.");
  }
  await patientPage.screenshot({ path: path.join(artifacts, "browser-8-patient-visit-ended.png"), fullPage: true });
});
