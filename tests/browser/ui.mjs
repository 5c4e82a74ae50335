// Drives churn's web UI in headless Chromium (Debian's /usr/bin/chromium via playwright-core).
// usage: node ui.mjs BASE_URL SCREENSHOT_DIR BATCH_CSV
// Checks: the page loads with no request leaving the server and under 150 KB; an example
// customer predicts and matches the API's own answer; an invalid value is shown next to its
// field; a CSV uploads, lists bad lines, sorts by risk, and downloads scored. Writes a
// screenshot of each state. Prints a JSON summary; exits 1 on the first failed check.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const [, , base, shots, csvPath] = process.argv;
fs.mkdirSync(shots, { recursive: true });
const summary = { checks: [] };
function check(name, ok, detail) {
  summary.checks.push({ name, ok: !!ok, detail });
  if (!ok) {
    console.log(JSON.stringify(summary, null, 1));
    console.error(`FAILED: ${name}: ${JSON.stringify(detail)}`);
    process.exit(1);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const requests = [], failed = [], pageErrors = [];
  let bytes = 0;
  page.on("request", (r) => requests.push(r.url()));
  page.on("requestfailed", (r) => failed.push(`${r.url()} ${r.failure() && r.failure().errorText}`));
  page.on("pageerror", (e) => pageErrors.push(e.message));
  // A 4xx answer is logged by Chromium as a console error; the invalid-value check causes one on
  // purpose, so only other errors count.
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) pageErrors.push(m.text());
  });
  page.on("response", async (r) => {
    const type = r.headers()["content-type"] || "";
    if (/text\/html|javascript|text\/css/.test(type)) {
      try { bytes += (await r.body()).length; } catch { /* navigations */ }
    }
  });

  await page.goto(`${base}/ui`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 10000 });
  await page.screenshot({ path: path.join(shots, "01-loaded.png"), fullPage: true });
  check("no request leaves the server", requests.every((u) => u.startsWith(base)), requests.filter((u) => !u.startsWith(base)));
  check("no failed request", failed.length === 0, failed);
  check("page weight (HTML + JS + CSS) under 150 KB", bytes > 0 && bytes < 150 * 1024, bytes);
  summary.page_bytes = bytes;
  const fieldCount = await page.locator("#fields .field").count();
  check("the form has every input field of the schema (+ the id)", fieldCount === 20, fieldCount);
  check("categorical fields are dropdowns with the allowed values",
    (await page.locator("#f-Contract option").allTextContents()).join("|") === "Month-to-month|One year|Two year");
  check("numeric fields carry their bounds", (await page.getAttribute("#f-tenure", "min")) === "0" && (await page.getAttribute("#f-tenure", "max")) === "600");

  // An example customer, predicted; the page shows what the API says.
  await page.getByRole("button", { name: "Likely churner" }).click();
  await page.waitForSelector("#result:not([hidden]) #reasons li");
  await page.screenshot({ path: path.join(shots, "02-example-predicted.png"), fullPage: true });
  const body = await page.evaluate(() => collect());
  const api = await page.evaluate(async (b) => (await fetch("/predict?reasons=8", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(b) })).json(), body);
  const shown = await page.textContent("#probability");
  check("the probability shown is the API's", shown === (100 * api.churn_probability).toFixed(1) + "%", { shown, api: api.churn_probability });
  const reasons = await page.locator("#reasons li > span:first-child").allTextContents();
  check("the reasons shown are the API's, in order", JSON.stringify(reasons) === JSON.stringify(api.reasons.map((r) => `${r.label}: ${r.value}`)), { reasons, api: api.reasons.map((r) => r.field) });
  const points = await page.locator("#reasons .pts").first().textContent();
  check("reasons are in points with their sign", /^[+−]\d+\.\d pts$/.test(points), points);
  check("the label at the threshold is shown", (await page.textContent("#label")).includes(api.churn ? "churn" : "stay"));
  const curl = await page.textContent("#curl-cmd");
  check("the curl command holds the form", curl.includes("/predict") && curl.includes('"Contract"'), curl.slice(0, 80));

  // An invalid value: the API's message appears next to the field, not as raw JSON.
  await page.fill("#f-tenure", "-5");
  await page.click("#predict-btn");
  await page.waitForSelector('.field.invalid[data-field="tenure"]');
  const err = await page.textContent("#f-tenure-err");
  check("the field error names what was expected", /from 0 to 600/.test(err) && !err.includes("{"), err);
  check("no raw JSON in the page", !(await page.textContent("body")).includes('"error_code"'));
  await page.screenshot({ path: path.join(shots, "03-field-error.png"), fullPage: true });
  await page.fill("#f-tenure", "24");
  await page.click("#predict-btn");
  await page.waitForFunction(() => !document.querySelector(".field.invalid"));

  // A file: scored, sorted by risk, bad lines listed, scored CSV downloaded.
  await page.setInputFiles("#batch-file", csvPath);
  await page.click("#batch-btn");
  await page.waitForSelector("#batch-table:not([hidden]) tbody tr");
  const risks = (await page.locator("#batch-table tbody tr td:nth-child(3)").allTextContents()).map((t) => parseFloat(t));
  check("the table is sorted highest risk first", risks.every((r, i) => i === 0 || risks[i - 1] >= r), risks.slice(0, 5));
  const rowErrors = await page.locator("#batch-errors li").allTextContents();
  check("bad lines are listed with their line", rowErrors.length > 0 && rowErrors.every((e) => /^line \d+: /.test(e)), rowErrors);
  await page.click('th[data-key="p"]');
  const ascending = (await page.locator("#batch-table tbody tr td:nth-child(3)").allTextContents()).map((t) => parseFloat(t));
  check("clicking the header sorts the other way", ascending[0] <= ascending[ascending.length - 1], ascending.slice(0, 3));
  await page.screenshot({ path: path.join(shots, "04-batch.png"), fullPage: true });
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-btn")]);
  const saved = path.join(shots, "scored.csv");
  await download.saveAs(saved);
  const lines = fs.readFileSync(saved, "utf8").trim().split("\n");
  check("the downloaded file is the scored CSV", lines[0].startsWith("customerID,line,churn_probability") && lines.length > 2, lines[0]);
  summary.downloaded_rows = lines.length - 1;

  // The model card.
  const lift = await page.locator("#lift-table tbody tr").count();
  check("the model card shows the decile lift table", lift === 10, lift);
  check("the model card shows held-out metrics", (await page.textContent("#metrics-table")).includes("ROC AUC"));
  check("the docs are one click away", (await page.getAttribute('a[href="/docs"]', "href")) === "/docs");
  check("no script errors", pageErrors.length === 0, pageErrors);

  // On a phone.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const p2 = await phone.newPage();
  await p2.goto(`${base}/ui`);
  await p2.waitForSelector('body[data-ready="true"]');
  const overflow = await p2.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check("usable on a phone (no sideways scrolling)", overflow <= 1, overflow);
  await p2.screenshot({ path: path.join(shots, "05-phone.png"), fullPage: true });
  summary.ok = true;
  console.log(JSON.stringify(summary));
} finally {
  await browser.close();
}
