// Opens Sluice's status page in headless Chromium and checks what a person
// would read there: the pipeline's name, its topic, the published count,
// and the rates chart.
//
//   node status_page.mjs URL PIPELINE TOPIC PUBLISHED
//
// Chromium is $SLUICE_CHROMIUM; playwright-core is installed under
// $SLUICE_PLAYWRIGHT_DIR (scripts/lib.sh: ensure_chromium, ensure_playwright).
// Prints `ok` and exits 0 when every check passes; else names the first
// that failed and exits 1.
import { createRequire } from "node:module";

const [url, pipeline, topic, published] = process.argv.slice(2);
const require = createRequire(`${process.env.SLUICE_PLAYWRIGHT_DIR}/package.json`);
const { chromium } = require("playwright-core");

const browser = await chromium.launch({
  executablePath: process.env.SLUICE_CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  const section = page.locator(`section.pipeline[data-name="${pipeline}"]`);
  await section.waitFor({ timeout: 15000 });
  const text = async (selector) => (await section.locator(selector).textContent()).trim();
  const checks = [
    ["pipeline name", await text(".name"), pipeline],
    ["topic", await text(".topic"), topic],
    ["published", await text(".published"), published],
    ["chart elements", String(await section.locator("svg.chart polyline").count()), "3"],
    ["script errors", errors.join("; "), ""],
  ];
  const failed = checks.find(([, got, want]) => got !== want);
  if (failed) {
    const [what, got, want] = failed;
    console.log(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    process.exitCode = 1;
  } else {
    console.log("ok");
  }
} finally {
  await browser.close();
}
