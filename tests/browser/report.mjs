// Opens a churn training report in headless Chromium and checks every chart is drawn.
// usage: node report.mjs REPORT_URL SCREENSHOT_DIR
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const [, , url, shots] = process.argv;
fs.mkdirSync(shots, { recursive: true });
const charts = ["roc", "pr", "calibration", "gains", "lift", "profit", "confusion", "importance", "scores"];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failedCheck = null;
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const requests = [], failed = [], errors = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("requestfailed", (r) => failed.push(r.url()));
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url, { waitUntil: "load" });
  const found = {};
  for (const c of charts) {
    const box = await page.locator(`#chart-${c}`).boundingBox();
    const shapes = await page.locator(`#chart-${c} path, #chart-${c} rect, #chart-${c} circle`).count();
    found[c] = { drawn: !!box && box.width > 300 && box.height > 150, shapes };
    if (!found[c].drawn || shapes < 3) failedCheck = failedCheck || `chart ${c} is missing or empty`;
  }
  if (requests.length !== 1) failedCheck = failedCheck || `the report made ${requests.length} requests: ${requests.join(", ")}`;
  if (failed.length) failedCheck = failedCheck || `failed requests: ${failed.join(", ")}`;
  if (errors.length) failedCheck = failedCheck || `page errors: ${errors.join("; ")}`;
  await page.screenshot({ path: path.join(shots, "report.png"), fullPage: true });
  console.log(JSON.stringify({ charts: found, requests: requests.length }));
} finally {
  await browser.close();
}
if (failedCheck) {
  console.error("FAILED: " + failedCheck);
  process.exit(1);
}
