// Drives faceprint's web page in headless Chromium against a running server:
//   node page.test.mjs BASE_URL WRITE_KEY PHOTO_A PHOTO_B SCREENSHOT.png
// Enters the key, picks a photo (boxes and landmarks must appear on the canvas, checked on a
// screenshot), enrols the face under a name, identifies a second photo of the same person, and
// deletes the subject. Prints one JSON line with what it saw; exits non-zero on any failure.
import { chromium } from "playwright-core";
import { PNG } from "pngjs";
import fs from "node:fs";

const [base, key, photoA, photoB, screenshotPath] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const result = {};
const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
  page.on("pageerror", (e) => { result.pageError = String(e); });
  await page.goto(base + "/");
  await page.fill("#key", key);
  await page.click("#save-key");
  await page.waitForSelector("text=key saved");

  await page.setInputFiles("#file", photoA);
  await page.waitForFunction(() => /face\(s\)/.test(document.getElementById("faces").textContent), null, { timeout: 60000 });
  result.detected = await page.textContent("#faces");

  // The boxes are drawn in pure green and the landmarks in pure red: count them on a screenshot.
  const shot = PNG.sync.read(await page.locator("#canvas").screenshot());
  let green = 0, red = 0;
  for (let i = 0; i < shot.data.length; i += 4) {
    const [r, g, b] = [shot.data[i], shot.data[i + 1], shot.data[i + 2]];
    if (r < 40 && g > 215 && b < 40) green++;
    if (r > 215 && g < 40 && b < 40) red++;
  }
  result.boxPixels = green;
  result.landmarkPixels = red;
  fs.writeFileSync(screenshotPath, PNG.sync.write(shot));

  await page.fill("#subject", "Abdullah Gul");
  await page.click("#enrol");
  await page.waitForFunction(() => /enrolled face \d+ for Abdullah Gul/.test(document.getElementById("status").textContent), null, { timeout: 60000 });
  result.enrolled = await page.textContent("#status");
  await page.waitForSelector("#subjects tr");
  result.subjectsAfterEnrol = await page.locator("#subjects tr").count();

  await page.setInputFiles("#file", photoB);
  await page.waitForFunction(() => /face\(s\)/.test(document.getElementById("faces").textContent), null, { timeout: 60000 });
  await page.click("#identify");
  await page.waitForFunction(() => /Abdullah Gul|unknown/.test(document.getElementById("faces").textContent), null, { timeout: 60000 });
  result.identified = await page.textContent("#faces");

  await page.click("#subjects tr button");
  await page.waitForFunction(() => /deleted Abdullah Gul/.test(document.getElementById("status").textContent), null, { timeout: 30000 });
  await page.waitForFunction(() => document.querySelectorAll("#subjects tr").length === 0, null, { timeout: 30000 });
  result.subjectsAfterDelete = await page.locator("#subjects tr").count();
  console.log(JSON.stringify(result));
} catch (e) {
  result.failure = String(e);
  console.log(JSON.stringify(result));
  process.exitCode = 1;
} finally {
  await browser.close();
}
