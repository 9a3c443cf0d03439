// The PNG decoder against PIL: every colour type, bit depth, row filter and Adam7, the
// expected pixels written by make_png_fixtures.py from the Python runtime's load_image.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";
import { ImageInputError, decodeImage, decodePng } from "../src/index.js";

const DIR = new URL("./png/", import.meta.url);
const files = readdirSync(DIR).filter((f) => f.endsWith(".png")).sort();

test("the fixtures cover every colour type, 16-bit and interlacing", () => {
  assert.ok(files.length >= 20, `only ${files.length} fixtures`);
  for (const want of ["c0_d1", "c0_d16", "c2_d16_i", "c3_d4", "c4_d16", "c6_d16_i"]) {
    assert.ok(files.includes(`${want}.png`), want);
  }
});

for (const file of files) {
  test(`decodePng(${file}) equals PIL's pixels`, async () => {
    const img = await decodePng(new Uint8Array(readFileSync(new URL(file, DIR))), file);
    const want = new Uint8Array(readFileSync(new URL(file.replace(".png", ".rgb"), DIR)));
    assert.equal(img.data.length, want.length);
    assert.equal(img.width * img.height * 3, want.length);
    let bad = 0;
    for (let i = 0; i < want.length; i++) if (img.data[i] !== want[i]) bad++;
    assert.equal(bad, 0, `${bad} of ${want.length} values differ`);
  });
}

test("16-bit samples go to their high byte, not round(v / 257)", async () => {
  // c2_d16: the first pixels hold 128, 255, 65280, 65406 in every channel
  const img = await decodePng(new Uint8Array(readFileSync(new URL("c2_d16.png", DIR))));
  assert.deepEqual([...img.data.subarray(0, 12)], [0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255]);
});

test("bad image files raise ImageInputError", async () => {
  const good = new Uint8Array(readFileSync(new URL("c2_d8.png", DIR)));
  await assert.rejects(decodeImage(new Uint8Array(0)), ImageInputError);
  await assert.rejects(decodeImage(new TextEncoder().encode("GIF89a....")), /not a PNG or JPEG/);
  await assert.rejects(decodeImage(good.subarray(0, 40)), ImageInputError); // truncated
  const corrupt = good.slice();
  corrupt.fill(7, 50, 80); // inside the IDAT stream
  await assert.rejects(decodePng(corrupt), ImageInputError);
  await assert.rejects(decodeImage(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0])), /JPEG needs a libjpeg-turbo/);
});
