// Launches Debian's Chromium headless through playwright-core with a fresh
// profile, and records console errors and uncaught exceptions of a page.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

// launch returns {context, page, errors, close}. errors collects console
// errors and page exceptions as strings.
async function launch() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "mast-chromium-"));
  // The profile is given as userDataDir, which Playwright passes to
  // Chromium as --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ARGS,
    timeout: 30000,
    viewport: { width: 1400, height: 1000 },
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(15000);
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push("console: " + m.text()); });
  page.on("pageerror", (e) => errors.push("exception: " + e.message));
  const close = async () => {
    await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, errors, close };
}

// main runs fn and exits: 0 when it resolves, 1 (with the error) when it
// throws or takes longer than the limit.
function main(fn, limitMs) {
  const timer = setTimeout(() => { console.error("timed out"); process.exit(1); }, limitMs || 45000);
  fn().then(
    () => { clearTimeout(timer); process.exit(0); },
    (e) => { console.error(e && e.stack ? e.stack : String(e)); process.exit(1); },
  );
}

module.exports = { launch, main };
