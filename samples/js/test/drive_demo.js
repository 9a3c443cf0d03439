/**
 * Drive the demo page in headless Chromium (puppeteer-core) and print what it shows, as
 * JSON: tests/test_web_demo.py starts `lstm-apps serve-demo`, runs this, and compares the
 * captions and detections with the Python runtime's.
 *
 *     node samples/js/test/drive_demo.js URL --image a.png --image b.jpg --wav s.wav \
 *         [--decode c.jpg] [--screenshot out.png [--word 2]] [--chromium /usr/bin/chromium]
 *
 * Prints {"captions": [{file, text, score}], "detections": [{label, time, score}],
 * "decoded": {file, width, height, rgb_base64}}; --decode returns the browser's pixels of
 * that file (readImage: the page's own decode path).
 */
import { parseArgs } from "node:util";
import { basename } from "node:path";
import puppeteer from "puppeteer-core";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    image: { type: "string", multiple: true, default: [] },
    wav: { type: "string" },
    decode: { type: "string" },
    screenshot: { type: "string" },
    word: { type: "string", default: "2" },
    chromium: { type: "string", default: process.env.CHROMIUM ?? "/usr/bin/chromium" },
  },
});

const TIMEOUT = 60_000;

async function main() {
  const [url] = positionals;
  const browser = await puppeteer.launch({
    executablePath: values.chromium,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
  });
  const out = { captions: [], detections: null, decoded: null, console: [] };
  try {
    const page = await browser.newPage();
    page.on("console", (m) => out.console.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => out.console.push(`pageerror: ${e.message}`));
    await page.setViewport({ width: 1000, height: 1250 });
    await page.goto(`${url}?fast=1`, { timeout: TIMEOUT });
    await page.waitForSelector('#status[data-state="ready"], #status[data-state="error"]', { timeout: TIMEOUT });
    const status = await page.$eval("#status", (el) => [el.dataset.state, el.textContent]);
    if (status[0] !== "ready") throw new Error(`page: ${status[1]}`);

    if (values.wav) {
      await (await page.$("#wav-file")).uploadFile(values.wav);
      await page.waitForFunction(
        (name) => ["done", "error"].includes(document.querySelector("#detections").dataset.state) &&
          (document.querySelector("#detections").dataset.name === name || document.querySelector("#detections").dataset.state === "error"),
        { timeout: TIMEOUT }, basename(values.wav));
      const state = await page.$eval("#detections", (el) => el.dataset.state);
      if (state !== "done") throw new Error(`stream: ${await page.$eval("#speech-status", (el) => el.textContent)}`);
      out.detections = await page.$$eval("#detections li", (lis) =>
        lis.map((li) => ({ label: li.dataset.label, time: Number(li.dataset.time), score: Number(li.dataset.score) })));
    }

    for (const file of values.image) {
      await (await page.$("#image-file")).uploadFile(file);
      await page.waitForFunction(
        (name) => { const el = document.querySelector("#caption-text"); return el.dataset.state === "error" || (el.dataset.state === "done" && el.dataset.name === name); },
        { timeout: TIMEOUT }, basename(file));
      const [state, text] = await page.$eval("#caption-text", (el) => [el.dataset.state, el.textContent]);
      if (state !== "done") throw new Error(`caption: ${text}`);
      out.captions.push({ file, text, score: await page.$eval("#caption-score", (el) => el.textContent) });
    }

    if (values.decode) {
      const bytes = [...new Uint8Array((await import("node:fs")).readFileSync(values.decode))];
      out.decoded = await page.evaluate(async (arr, name) => {
        const img = await window.demo.readImage(new Uint8Array(arr), name);
        let s = "";
        for (const b of img.data) s += String.fromCharCode(b);
        return { width: img.width, height: img.height, rgb_base64: btoa(s) };
      }, bytes, values.decode);
      out.decoded.file = values.decode;
    }

    if (values.screenshot) {
      const words = await page.$$("#caption-text span");
      const word = words[Math.min(Number(values.word), words.length - 1)];
      if (word) await word.click(); // pin the word: its attention shows over the image
      await page.screenshot({ path: values.screenshot, fullPage: true });
    }
  } catch (e) {
    const page = (await browser.pages()).at(-1);
    const shown = page ? await page.evaluate(() => ["#status", "#speech-status", "#caption-text"]
      .map((q) => `${q}: ${document.querySelector(q)?.dataset.state} ${document.querySelector(q)?.textContent}`)) : [];
    e.message += `\npage: ${shown.join("; ")}\nconsole: ${out.console.join("\n")}`;
    throw e;
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(`drive_demo.js: ${e.stack ?? e}`);
  process.exit(1);
});
