// Opens Sluice's status page in headless Chromium and checks what a person
// would read there: the header (pipelines, how many failed, version,
// uptime, last update, links), each pipeline's setup (delivery, transform
// and its config, Kafka servers, topic), its counts (published, files
// found / finished), the last publish and dead letters with their time,
// the chart's axes and legend, a failed pipeline saying it stopped and
// why, and that hostile names and values stay text.
//
//   node status_page.mjs URL EXPECT_JSON
//
// EXPECT_JSON: {"pipeline", "topic", "published", "servers", "files",
// "where", "dead_letter_at", "failed", "failed_why", "summary"}.
// With $SLUICE_SCREENSHOT set, the page is also saved there as a PNG.
// Chromium is $SLUICE_CHROMIUM; playwright-core is installed under
// $SLUICE_PLAYWRIGHT_DIR (scripts/lib.sh: ensure_chromium, ensure_playwright).
// Prints `ok` and exits 0 when every check passes; else names the first
// that failed and exits 1.
import { createRequire } from "node:module";

const [url, expectJson] = process.argv.slice(2);
const want = JSON.parse(expectJson);
const require = createRequire(`${process.env.SLUICE_PLAYWRIGHT_DIR}/package.json`);
const { chromium } = require("playwright-core");
const time = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/;

const browser = await chromium.launch({
  executablePath: process.env.SLUICE_CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("dialog", (d) => { errors.push(`a dialog opened: ${d.message()}`); d.dismiss(); });
  await page.goto(url);
  const section = page.locator(`section.pipeline[data-name="${want.pipeline}"]`);
  await section.waitFor({ timeout: 15000 });
  const failed = page.locator(`section.pipeline[data-name="${want.failed}"]`);
  await failed.waitFor({ timeout: 15000 });
  const text = async (scope, selector) => (await scope.locator(selector).first().textContent()).trim();
  const count = async (selector) => String(await section.locator(selector).count());
  const config = await section.locator("ul.transform-config li").allTextContents();
  const chart = "svg.chart";
  const header = await text(page, "#summary");
  const checks = [
    ["header: pipelines and failed", await text(page, "#summary .counts"), want.summary],
    ["header: version and uptime", /^ · sluice \d+\.\d+\.\d+\S* · up (\d+ \w+ )*\d+ s · updated /.test(header.slice(header.indexOf(" · "))), true],
    ["header: last update", time.test(await text(page, "#summary .updated")), true],
    ["link to /metrics", await page.locator('nav a[href="metrics"]').count(), 1],
    ["link to /health/ready", await page.locator('nav a[href="health/ready"]').count(), 1],
    ["pipeline name", await text(section, ".name"), want.pipeline],
    ["state", await text(section, "h2 .ready"), "ready"],
    ["version", /^\d+\.\d+\.\d+/.test(await text(section, ".version")), true],
    ["uptime", /\d+ s$/.test(await text(section, ".uptime")), true],
    ["delivery", await text(section, ".delivery"), "at-least-once"],
    ["transform", (await text(section, ".transform")).endsWith("/sql.wasm"), true],
    ["transform config", JSON.stringify(config), JSON.stringify([`where = ${want.where}`, "key = StoreID"])],
    ["Kafka servers", await text(section, ".kafka-servers"), want.servers],
    ["topic", await text(section, ".topic"), want.topic],
    ["published", await text(section, ".published"), want.published],
    ["last published", time.test(await text(section, ".last-published")), true],
    ["files found / finished", await text(section, ".files"), want.files],
    ["dead letter where", await text(section, ".dead-letters .where"), want.dead_letter_at],
    ["dead letter time", time.test(await text(section, ".dead-letters .time")), true],
    ["chart lines", await count(`${chart} polyline`), "3"],
    ["chart axes", await count(`${chart} .axes line`), "2"],
    ["chart y ticks", await count(`${chart} .y-tick`), "3"],
    ["chart y label", await text(section, `${chart} .y-label`), "records/s"],
    ["chart x ticks", JSON.stringify(await section.locator(`${chart} .x-tick`).allTextContents()),
      JSON.stringify(["-10 min", "-5 min", "now"])],
    ["chart legend", JSON.stringify(await section.locator(`${chart} .legend text`).allTextContents()),
      JSON.stringify(["published/s", "read/s", "dead-lettered/s"])],
    ["failed pipeline", (await text(failed, "h2 .phase.failed")).startsWith("stopped, failed: "), true],
    ["failed pipeline's reason", (await text(failed, "h2 .phase.failed")).includes(want.failed_why), true],
    ["no injected element", await page.locator("section img, section script").count(), 0],
    ["no injected script ran", await page.evaluate(() => window.pwned === undefined), true],
    ["script errors", errors.join("; "), ""],
  ];
  if (process.env.SLUICE_SCREENSHOT) await page.screenshot({ path: process.env.SLUICE_SCREENSHOT, fullPage: true });
  const failedCheck = checks.find(([, got, expected]) => got !== expected);
  if (failedCheck) {
    const [what, got, expected] = failedCheck;
    console.log(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
    process.exitCode = 1;
  } else {
    console.log("ok");
  }
} finally {
  await browser.close();
}
