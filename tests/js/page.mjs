// The demo page in headless Chromium (Debian's, driven by playwright-core), for the browser tests:
// the page's server, the browser, a signed-in context per person, and a confirmed-to-be visit.
import { spawn } from "node:child_process";
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

/** The demo page's server on a port the system picks (a fixed port could be another job's server, whose
 * config.json would point the page at other emulators); resolves with its URL once it listens. */
function startPageServer() {
  const server = spawn(path.join(root, ".venv/bin/python"), [path.join(root, "scripts/web_server.py"), "0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the demo page server did not start within 15 s")), 15_000);
    let seen = "";
    server.stdout.setEncoding("utf8");
    server.stdout.on("data", (chunk) => {
      seen += chunk;
      const found = seen.match(/demo page on (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
    server.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the demo page server exited (${code})`));
    });
  });
  return { server, url };
}

/** Start the page's server and Chromium; reset the emulators; a doctor (made one by scripts/clinic)
 * and a patient with a pending visit `web-visit` starting in 5 minutes. */
export async function openWorld(who) {
  const { server, url } = startPageServer();
  try {
    return await openWorldOn(server, await url, who);
  } catch (error) {
    server.kill("SIGTERM");
    throw error;
  }
}

async function openWorldOn(server, pageUrl, who) {
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
    async signIn(email, password) {
      const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
      const page = await context.newPage();
      await page.goto(pageUrl);
      await page.fill("#email", email);
      await page.fill("#password", password);
      await page.click("#sign-in");
      await page.waitForSelector("#session:not([hidden])");
      return page;
    },
    async close() {
      await browser.close();
      for (const client of [doctor, patient]) await client.close();
      server.kill("SIGTERM");
    },
  };
}
