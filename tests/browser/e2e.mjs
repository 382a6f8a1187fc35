// Drives the built page in headless Chromium and writes what it saw as JSON; tests/browser.rs
// checks it against the native pipeline, and what the page did with bad input (not a GIF, GIF
// bombs, bad questions) and with a damaged Cache API entry or download. Usage:
//   node e2e.mjs --dist DIR --mode cpu|webgpu --questions all|I,J,.. [--real-gif FILE] [--gif FILE --repeat K] --out FILE
// The page is served under /demo/ to prove the site works from a sub-path.
import { chromium } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const dist = path.resolve(args.dist);
const mode = args.mode ?? 'cpu';
const BASE = '/demo/';
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css',
  '.json': 'application/json', '.gif': 'image/gif', '.safetensors': 'application/octet-stream' };

function serve() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (!url.pathname.startsWith(BASE)) { res.writeHead(404).end(); return; }
    let file = path.join(dist, decodeURIComponent(url.pathname.slice(BASE.length)));
    if (!file.startsWith(dist)) { res.writeHead(403).end(); return; }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (!fs.existsSync(file)) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const FLAGS = ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-quic'];
const WEBGPU = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader'];

const state = (page) => page.evaluate(() => window.gifqa ?? {});
async function waitFor(page, what, predicate, timeout = 300_000) {
  const start = Date.now();
  for (;;) {
    const s = await state(page);
    if (predicate(s)) return s;
    if (s.state === 'failed') throw new Error(`page failed while waiting for ${what}: ${s.error}`);
    if (Date.now() - start > timeout) throw new Error(`timed out waiting for ${what}; page state ${JSON.stringify(s)}`);
    await page.waitForTimeout(100);
  }
}

async function ask(page) {
  const before = (await state(page)).answers ?? 0;
  await page.click('#answer');
  const s = await waitFor(page, 'an answer', (s) => (s.answers ?? 0) > before || (s.state === 'ready' && s.error));
  if ((s.answers ?? 0) <= before) throw new Error(`answer failed: ${s.error}`);
  return s.last;
}

async function chooseSample(page, gif) {
  await page.evaluate(() => { window.gifqa.gif = null; });
  await page.click(`button.sample[data-gif="${gif}"]`);
  await waitFor(page, `sample ${gif}`, (s) => s.gif === gif && s.state === 'ready');
}

// A GIF made byte by byte: a `width`x`height` logical screen with a 2-colour global palette and one
// image per [w, h] in `frames`, each at 0,0 holding a single LZW-coded pixel (clear, index 0, end);
// the declared sizes are what a decompression bomb inflates.
function gifBytes(width, height, frames) {
  const u16 = (v) => [v & 255, v >> 8];
  const bytes = [...Buffer.from('GIF89a'), ...u16(width), ...u16(height), 0x80, 0, 0, 0, 0, 0, 255, 255, 255];
  for (const [w, h] of frames) bytes.push(0x2c, ...u16(0), ...u16(0), ...u16(w), ...u16(h), 0, 2, 2, 0x44, 0x01, 0);
  bytes.push(0x3b);
  return Buffer.from(bytes);
}
const BOMBS = {
  screen: gifBytes(65535, 65535, [[1, 1]]),
  frame: gifBytes(16, 16, [[65535, 65535]]),
  frames: gifBytes(1, 1, Array.from({ length: 4001 }, () => [1, 1])),
  // 4096x4096 is the largest screen allowed; five frames of it are 320 MiB of RGBA.
  bytes: gifBytes(4096, 4096, Array.from({ length: 5 }, () => [1, 1])),
};

// The largest GIF the page's limits allow: 4 frames of the largest canvas, 4096x4096, is 256 MiB
// of RGBA, exactly the decode limit. Each frame is one full-canvas image of a single colour,
// LZW-coded (8-bit codes, 9 bits wide) as runs of growing length with a clear code every 250
// codes, so the table never widens the codes and the file stays small (about 600 kB).
function bigGifBytes(side = 4096, frames = 4) {
  const u16 = (v) => [v & 255, v >> 8];
  const palette = Array.from({ length: 256 }, (_, i) => [i, (i * 73) & 255, 255 - i]).flat();
  const bytes = [...Buffer.from('GIF89a'), ...u16(side), ...u16(side), 0xf7, 0, 0, ...palette];
  for (let f = 0; f < frames; f++) {
    bytes.push(0x21, 0xf9, 4, 0, ...u16(10), 0, 0); // 100 ms per frame
    bytes.push(0x2c, ...u16(0), ...u16(0), ...u16(side), ...u16(side), 0, 8);
    const data = lzwRuns(1 + f * 60, side * side);
    for (let i = 0; i < data.length; i += 255) bytes.push(Math.min(255, data.length - i), ...data.subarray(i, i + 255));
    bytes.push(0);
  }
  bytes.push(0x3b);
  return Buffer.from(bytes);
}

// `count` pixels of colour `index` as 9-bit LZW codes (clear 256, end 257): after a clear, the
// literal covers 1 pixel and each following code the entry the decoder has just made, one pixel
// longer than the last.
function lzwRuns(index, count) {
  const out = [];
  let acc = 0, bits = 0;
  const emit = (code) => {
    acc |= code << bits;
    bits += 9;
    while (bits >= 8) { out.push(acc & 255); acc >>>= 8; bits -= 8; }
  };
  let left = count;
  while (left > 0) {
    emit(256);
    emit(index);
    left -= 1;
    for (let j = 1; j < 250 && left >= j + 1; j++) { emit(257 + j); left -= j + 1; }
  }
  emit(257);
  if (bits > 0) out.push(acc & 255);
  return Uint8Array.from(out);
}

// Every long task (over 50 ms) of the page's main thread since it started, recorded by the
// observer installed before the page's scripts run.
const longTasks = (page, from, to) => page.evaluate(([from, to]) =>
  (window.__longTasks ?? []).filter((t) => t.start >= from && t.start <= to), [from, to]);
const pageNow = (page) => page.evaluate(() => performance.now());
// Puts a file in the page first (Playwright's setInputFiles decodes its bytes on the page's main
// thread, a long task of the test's own), then `choose` hands it to the file input as a user would.
async function stageFile(page, name, buffer) {
  await page.evaluate(([name, base64]) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    window.__staged = new File([bytes], name, { type: 'image/gif' });
  }, [name, buffer.toString('base64')]);
  await page.waitForTimeout(200);
  return () => page.evaluate(() => {
    const input = document.getElementById('file-input');
    const transfer = new DataTransfer();
    transfer.items.add(window.__staged);
    input.files = transfer.files;
    input.dispatchEvent(new Event('change', { bubbles: true }));
  });
}

// Overwrites every cached version of a model file with 1000 zero bytes under the same key (a
// damaged cache); returns the keys overwritten.
const damageCache = (page, file) => page.evaluate(async (file) => {
  const cache = await caches.open('gifqa-model');
  const keys = (await cache.keys()).filter((request) => request.url.includes(file));
  for (const key of keys) await cache.put(key, new Response(new Uint8Array(1000)));
  return keys.map((request) => request.url);
}, file);

const server = await serve();
const url = `http://127.0.0.1:${server.address().port}${BASE}`;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: mode === 'webgpu' ? [...FLAGS, ...WEBGPU] : FLAGS, timeout: 60_000 });
const out = { mode, url };
try {
  const context = await browser.newContext();
  // The main thread's long tasks (buffered: from the page's start), for the no-freeze checks.
  await context.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const task of list.getEntries()) window.__longTasks.push({ start: task.startTime, ms: task.duration, name: task.name });
    }).observe({ type: 'longtask', buffered: true });
  });
  const page = await context.newPage();
  const console_lines = [];
  page.on('console', (m) => console_lines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console_lines.push(`pageerror: ${e.message}`));
  out.console = console_lines;

  const t0 = Date.now();
  await page.goto(url);
  let s = await waitFor(page, 'the model to load', (s) => s.state === 'ready');
  out.coldLoadMs = Date.now() - t0;
  out.warmup = s.warmup;
  out.autoBackend = s.backend;
  out.modelSource = s.modelSource;
  if (mode === 'webgpu') {
    if (!s.warmup || s.warmup.webgpu_missing) throw new Error(`WebGPU is not available in this Chromium: ${s.warmup?.webgpu_missing}`);
    await page.selectOption('#backend', 'webgpu');
  } else {
    await page.selectOption('#backend', 'cpu');
  }

  const samples = JSON.parse(fs.readFileSync(path.join(dist, 'samples', 'samples.json'), 'utf8'));
  // `all`, or a comma-separated list of indices into samples.json.
  const picked = args.questions === 'all' || !args.questions
    ? samples.map((_, i) => i)
    : args.questions.split(',').map(Number);

  out.answers = [];
  for (const index of picked) {
    const sample = samples[index];
    if ((await state(page)).gif !== sample.gif) await chooseSample(page, sample.gif);
    await page.selectOption('#sample-questions', String(index));
    const report = await ask(page);
    out.answers.push({ index, ...report, unsureShown: await page.isVisible('#unsure'),
      unknownShown: await page.isVisible('#unknown-words'), outOfWorldShown: await page.isVisible('#out-of-world') });
  }

  // Screenshots with an answer showing, at laptop and phone width (for people, not assertions).
  const shots = path.dirname(path.resolve(args.out));
  await page.screenshot({ path: path.join(shots, `page-${mode}.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(shots, `page-${mode}-phone.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 720 });

  // Words the model never saw ("cat", "flick", "wrists"), on the first sample GIF: the page names
  // them and marks the answer as a guess.
  await chooseSample(page, samples[picked[0]].gif);
  await page.fill('#question', 'What does the cat do 3 times ?');
  for (let c = 0; c < 5; c++) await page.fill(`#candidate-${c}`, ['jump', 'spin', 'blink', 'grow', 'flick wrists'][c]);
  out.unknownWords = { ...(await ask(page)), shown: await page.textContent('#unknown-words'),
    noteShown: await page.isVisible('#unknown-words'),
    rankedGuess: await page.evaluate(() => document.getElementById('ranked').classList.contains('guess')) };
  await page.screenshot({ path: path.join(shots, `page-${mode}-guess.png`), fullPage: true });

  // A real GIF (a TGIF-QA one: people and animals, not the synthetic world): the page answers
  // with the out-of-world warning shown and the answers marked as a guess.
  if (args['real-gif']) {
    await page.setInputFiles('#file-input', args['real-gif']);
    await waitFor(page, 'the real GIF', (s) => s.state === 'ready' && s.gif === path.basename(args['real-gif']));
    await page.fill('#question', 'How many objects are there ?');
    for (let c = 0; c < 5; c++) await page.fill(`#candidate-${c}`, '');
    out.outOfWorld = { ...(await ask(page)), shown: await page.textContent('#out-of-world'),
      noteShown: await page.isVisible('#out-of-world'),
      rankedGuess: await page.evaluate(() => document.getElementById('ranked').classList.contains('guess')) };
    await page.screenshot({ path: path.join(shots, `page-${mode}-out-of-world.png`), fullPage: true });
  }

  // The largest GIF the limits allow, decoded and answered: the main thread's longest task
  // meanwhile (the worker does the work; the page must never freeze).
  const big = bigGifBytes();
  const askBig = async () => {
    await page.fill('#question', 'What does the cat do 3 times ?');
    for (let c = 0; c < 5; c++) await page.fill(`#candidate-${c}`, ['jump', 'spin', 'blink', 'grow', 'shrink'][c]);
    return ask(page);
  };
  let choose = await stageFile(page, 'big.gif', big);
  let from = await pageNow(page);
  let t = Date.now();
  await choose();
  s = await waitFor(page, 'the big GIF', (s) => s.state === 'ready' && (s.gif === 'big.gif' || s.error));
  const bigInfo = await page.textContent('#gif-info');
  const preparedMs = Date.now() - t;
  const bigAnswer = s.error ? null : await askBig();
  const bigTasks = await longTasks(page, from, await pageNow(page));
  out.bigGif = { bytes: big.length, error: s.error ?? null, info: bigInfo, preparedMs, answeredMs: Date.now() - t,
    answer: bigAnswer, longTasks: bigTasks, longestTaskMs: Math.max(0, ...bigTasks.map((task) => task.ms)) };

  // Cancel: the big GIF again, and a sample chosen while it is still decoding; the sample's
  // answer is shown.
  await page.evaluate(() => { window.gifqa.gif = null; });
  choose = await stageFile(page, 'big.gif', big);
  from = await pageNow(page);
  t = Date.now();
  await choose();
  await page.waitForFunction(() => document.getElementById('gif-info').textContent.startsWith('big.gif: decoding'));
  const decodingSeen = Date.now() - t;
  const busyAtClick = (await state(page)).state === 'busy';
  await chooseSample(page, samples[picked[0]].gif);
  const chosenMs = Date.now() - t;
  await page.selectOption('#sample-questions', String(picked[0]));
  const cancelAnswer = await ask(page);
  const cancelTasks = await longTasks(page, from, await pageNow(page));
  s = await state(page);
  out.cancel = { decodingSeenMs: decodingSeen, busyAtClick, chosenMs, answeredMs: Date.now() - t, cancelled: s.cancelled ?? 0,
    restartMs: s.restartMs ?? null, gif: s.gif, info: await page.textContent('#gif-info'), answer: cancelAnswer,
    longestTaskMs: Math.max(0, ...cancelTasks.map((task) => task.ms)) };
  // Every long task since the page loaded (the load included), for the report.
  out.longTasks = await longTasks(page, 0, Infinity);


  // Bad input: a file that is not a GIF; the message must show and the page must keep working.
  await page.setInputFiles('#file-input', { name: 'notes.gif', mimeType: 'image/gif', buffer: Buffer.from('hello, not a gif') });
  s = await waitFor(page, 'the bad-input message', (s) => s.state === 'ready' && s.error);
  out.badInput = { error: s.error, shown: await page.textContent('#error') };
  await page.evaluate(() => { window.gifqa.error = null; });
  // A truncated GIF (a sample cut short).
  const whole = fs.readFileSync(path.join(dist, 'samples', samples[picked[0]].gif));
  await page.setInputFiles('#file-input', { name: 'cut.gif', mimeType: 'image/gif', buffer: whole.subarray(0, 200) });
  s = await waitFor(page, 'the truncated-GIF message', (s) => s.state === 'ready' && s.error);
  out.truncated = s.error;
  await page.evaluate(() => { window.gifqa.error = null; });
  // Decompression bombs: each ends with a message (and no preview) before anything large is made.
  out.bombs = {};
  for (const [name, buffer] of Object.entries(BOMBS)) {
    const t = Date.now();
    await page.setInputFiles('#file-input', { name: `${name}-bomb.gif`, mimeType: 'image/gif', buffer });
    s = await waitFor(page, `the ${name}-bomb message`, (s) => s.state === 'ready' && s.error);
    out.bombs[name] = { error: s.error, shown: await page.textContent('#error'), info: await page.textContent('#gif-info'),
      previewShown: await page.isVisible('#preview'), ms: Date.now() - t };
    await page.evaluate(() => { window.gifqa.error = null; });
  }
  const first = samples[picked[0]];
  await chooseSample(page, first.gif);
  await page.selectOption('#sample-questions', String(picked[0]));
  out.afterBadInput = await ask(page);
  // Bad questions: empty, a duplicate candidate, too long; each must leave a message and no
  // answer. Resolves to the message, or to null when the page answered instead (the test fails).
  const askExpectingError = async () => {
    await page.evaluate(() => { window.gifqa.error = null; });
    const before = (await state(page)).answers ?? 0;
    await page.click('#answer');
    const s = await waitFor(page, 'a message', (s) => s.state === 'ready' && (s.error || (s.answers ?? 0) > before));
    return s.error ?? null;
  };
  await page.fill('#question', '   ');
  out.emptyQuestion = await askExpectingError();
  await page.fill('#question', first.question);
  await page.fill('#candidate-1', await page.inputValue('#candidate-0'));
  out.duplicateCandidate = await askExpectingError();
  // Long questions, each a message and no answer: one sentence 400 times (10 kB, over the byte
  // limit), and 10 times (under it, but more tokens than the model's window).
  await page.selectOption('#sample-questions', String(picked[0]));
  const sentence = 'What does the star do ? ';
  for (const [key, times] of [['longQuestion', 400], ['manyTokens', 10]]) {
    const question = sentence.repeat(times).trim();
    await page.fill('#question', question);
    out[key] = { bytes: Buffer.byteLength(question), error: await askExpectingError() };
  }

  // Latency on a given GIF (closing-note figures), asked `repeat` times with fresh encodings.
  if (args.gif) {
    const runs = [];
    for (let k = 0; k < Number(args.repeat ?? 5); k++) {
      await page.setInputFiles('#file-input', args.gif);
      await waitFor(page, 'the GIF', (s) => s.state === 'ready' && s.gif === path.basename(args.gif));
      await page.fill('#question', 'What does the cat do 3 times ?');
      for (let c = 0; c < 5; c++) await page.fill(`#candidate-${c}`, ['jump', 'spin', 'blink', 'grow', 'shrink'][c]);
      runs.push((await ask(page)).timings);
      await page.evaluate(() => { window.gifqa.gif = null; });
    }
    out.gifLatency = runs;
  }

  // A reload answers from the Cache API.
  const t1 = Date.now();
  await page.reload();
  s = await waitFor(page, 'the reload', (s) => s.state === 'ready');
  out.reload = { ms: Date.now() - t1, modelSource: s.modelSource, repaired: s.repaired };

  // The first question on `mode` again, after a reload.
  const askFirstAgain = async () => {
    await page.selectOption('#backend', mode);
    await chooseSample(page, first.gif);
    await page.selectOption('#sample-questions', String(picked[0]));
    return ask(page);
  };
  // A damaged cache entry: the page notices the hash, downloads the file again, says so, and
  // answers as before.
  const damaged = await damageCache(page, 'model.safetensors');
  await page.reload();
  s = await waitFor(page, 'the reload over a damaged cache', (s) => s.state === 'ready');
  out.repair = { damaged, modelSource: s.modelSource, repaired: s.repaired, notice: await page.textContent('#notice'),
    noticeShown: await page.isVisible('#notice'), answer: await askFirstAgain() };

  // A damaged cache entry and a damaged download: an error naming the file, and "Try again"
  // loads the model once the server sends the right file.
  await damageCache(page, 'model.safetensors');
  const WEIGHTS = '**/model.safetensors*';
  await page.route(WEIGHTS, (route) => route.fulfill({ status: 200, contentType: 'application/octet-stream',
    body: Buffer.alloc(1000) }));
  await page.reload();
  s = await waitFor(page, 'the failure on a damaged download', (s) => s.state === 'failed');
  out.badDownload = { error: s.error, shown: await page.textContent('#error'), retryShown: await page.isVisible('#retry') };
  await page.unroute(WEIGHTS);
  await page.click('#retry');
  s = await waitFor(page, 'the retry', (s) => s.state === 'ready');
  out.retry = { modelSource: s.modelSource, repaired: s.repaired, errorShown: await page.isVisible('#error'),
    answer: await askFirstAgain() };
} catch (error) {
  out.failure = String(error?.stack ?? error);
} finally {
  fs.writeFileSync(args.out, JSON.stringify(out, null, 2));
  await browser.close();
  server.close();
}
if (out.failure) { console.error(out.failure); process.exit(1); }
