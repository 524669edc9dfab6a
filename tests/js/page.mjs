// The demo page in headless Chromium (Debian's, driven by playwright-core), for the browser tests:
// the Hosting emulator's demo site, the browser, a signed-in context per person, and a confirmed-to-be visit.
import { fileURLToPath } from "node:url";
import path from "node:path";
import { chromium } from "playwright-core";
import { doc, setDoc, Timestamp } from "firebase/firestore";
import { signedInClient, resetEmulators, makeDoctor } from "./emulators.mjs";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const artifacts = path.join(root, "artifacts");
const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
];

/** The demo site as the Hosting emulator serves it (firebase.json; built into .cache/web/public by
 * scripts/build-web): its port moves with EMULATOR_PORT_OFFSET, so it comes from with-emulators. */
export const pageUrl = `http://${process.env.FIREBASE_HOSTING_EMULATOR_HOST ?? "127.0.0.1:5180"}/`;

/** Start Chromium; reset the emulators; a doctor (made one by scripts/clinic) and a patient with a
 * pending visit `web-visit` starting in 5 minutes. */
export async function openWorld(who) {
  await resetEmulators();
  const doctor = await makeDoctor(await signedInClient(who.doctor[0], who.doctor[1]), "Dr. Browser");
  const patient = await signedInClient(who.patient[0], who.patient[1]);
  const soon = (n) => Timestamp.fromMillis(Date.now() + n * 60_000);
  await setDoc(doc(patient.db, "appointments", "web-visit"), {
    patientId: patient.uid, doctorId: doctor.uid, type: "video", status: "pending",
    startTime: soon(5), endTime: soon(35),
  });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: CHROMIUM_ARGS });
  return {
    pageUrl, browser, doctor, patient,
    /** A new browser context on the page (`path`: e.g. a guest's invite link), not signed in. */
    async open(path = "") {
      const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
      const page = await context.newPage();
      await page.goto(new URL(path, pageUrl).href);
      return page;
    },
    async signIn(email, password) {
      const page = await this.open();
      await page.fill("#email", email);
      await page.fill("#password", password);
      await page.click("#sign-in");
      await page.waitForSelector("#session");
      return page;
    },
    async close() {
      await browser.close();
      for (const client of [doctor, patient]) await client.close();
    },
  };
}
