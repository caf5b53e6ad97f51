// Drives the page's People and Search views in headless Chromium against a running server whose
// photo library is indexed and grouped:
//   node library.test.mjs BASE_URL LIBRARY_KEY PROBE_PHOTO
// Loads the people (their face crops must show), asks for a split (only a proposal: nothing
// changes until it is applied), names the first person, lists its faces and removes one, and searches the library with a probe photo. Prints one JSON line with what it
// saw; exits non-zero on any failure.
import { chromium } from "playwright-core";

const [base, key, probe] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const result = {};
const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
const statusText = (page) => page.textContent("#status");
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1600 } });
  page.on("pageerror", (e) => { result.pageError = String(e); });
  await page.goto(base + "/");
  await page.fill("#key", key);
  await page.click("#save-key");
  await page.waitForSelector("text=key saved");

  await page.click("#load-people");
  await page.waitForSelector("#people .person");
  result.people = await page.locator("#people .person").count();
  // The representative crop arrives through an authorised fetch: wait for it to decode.
  await page.waitForFunction(() => {
    const img = document.querySelector("#people .person img.face");
    return img && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 30000 });
  result.cropWidth = await page.evaluate(() => document.querySelector("#people .person img.face").naturalWidth);
  result.firstPerson = await page.textContent("#people .person .who");

  // Split shows its proposal first; the people stay as they were until it is applied.
  const facesOf = () => page.evaluate(() => [...document.querySelectorAll("#people .person .who")].map((w) => w.textContent));
  const before = await facesOf();
  await page.locator("#people .person").first().locator("button.split").click();
  await page.waitForFunction(() => /no split proposed|nothing changed yet/.test(document.getElementById("status").textContent), null, { timeout: 30000 });
  result.splitStatus = await statusText(page);
  result.splitGroupsShown = await page.locator("#people .person .split-group").count();
  result.peopleUnchangedBySplitProposal = JSON.stringify(await facesOf()) === JSON.stringify(before);
  if (result.splitGroupsShown > 0) await page.locator("#people .person").first().locator(".face-list button", { hasText: "Cancel" }).click();

  const first = page.locator("#people .person").first();
  await first.locator("input.name").fill("Library Person");
  await first.locator("button.name").click();
  await page.waitForFunction(() => /named person \d+ Library Person/.test(document.getElementById("status").textContent), null, { timeout: 30000 });
  await page.waitForFunction(() => /Library Person/.test(document.querySelector("#people .person .who").textContent), null, { timeout: 30000 });
  result.named = await page.textContent("#people .person .who");
  await page.waitForFunction(() => /Library Person/.test(document.getElementById("subjects").textContent), null, { timeout: 30000 });
  result.subjects = await page.textContent("#subjects");

  const named = page.locator("#people .person").first();
  await named.locator("button.faces").click();
  await page.waitForFunction(() => document.querySelectorAll("#people .person .face-list img").length > 1, null, { timeout: 30000 });
  result.facesBefore = await named.locator(".face-list img").count();
  await named.locator(".face-list button").first().click();
  await page.waitForFunction(() => /removed face \d+ from person \d+/.test(document.getElementById("status").textContent), null, { timeout: 30000 });
  result.removed = await statusText(page);
  await page.waitForFunction((before) => {
    const who = [...document.querySelectorAll("#people .person .who")].find((w) => /Library Person/.test(w.textContent));
    return who && Number(/(\d+) face/.exec(who.textContent)[1]) === before - 1;
  }, result.facesBefore, { timeout: 30000 });
  result.namedAfterRemove = await page.evaluate(() =>
    [...document.querySelectorAll("#people .person .who")].map((w) => w.textContent).find((t) => /Library Person/.test(t)));

  await page.setInputFiles("#library-file", probe);
  await page.waitForFunction(() => /photo\(s\) found/.test(document.getElementById("library-found").textContent), null, { timeout: 60000 });
  result.found = await page.textContent("#library-found");
  result.topHit = await page.evaluate(() => {
    const row = document.querySelector("#library-results tr");
    return row ? { similarity: Number(row.children[1].textContent), path: row.children[2].textContent } : null;
  });
  console.log(JSON.stringify(result));
} catch (e) {
  result.failure = String(e);
  console.log(JSON.stringify(result));
  process.exitCode = 1;
} finally {
  await browser.close();
}
