// Drives the built page in headless Chromium and writes what it saw as JSON; tests/browser.rs
// checks it against the native pipeline. Usage:
//   node e2e.mjs --dist DIR --mode cpu|webgpu --questions all|I,J,.. [--gif FILE --repeat K] --out FILE
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

const server = await serve();
const url = `http://127.0.0.1:${server.address().port}${BASE}`;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: mode === 'webgpu' ? [...FLAGS, ...WEBGPU] : FLAGS, timeout: 60_000 });
const out = { mode, url };
try {
  const context = await browser.newContext();
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
    out.answers.push({ index, ...report, unsureShown: await page.isVisible('#unsure') });
  }

  // Screenshots with an answer showing, at laptop and phone width (for people, not assertions).
  const shots = path.dirname(path.resolve(args.out));
  await page.screenshot({ path: path.join(shots, `page-${mode}.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(shots, `page-${mode}-phone.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 720 });

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
  const first = samples[picked[0]];
  await chooseSample(page, first.gif);
  await page.selectOption('#sample-questions', String(picked[0]));
  out.afterBadInput = await ask(page);
  // Bad questions: empty, and a duplicate candidate; each leaves a message and no answer.
  const askExpectingError = async () => {
    await page.evaluate(() => { window.gifqa.error = null; });
    await page.click('#answer');
    return (await waitFor(page, 'a message', (s) => s.state === 'ready' && s.error)).error;
  };
  await page.fill('#question', '   ');
  out.emptyQuestion = await askExpectingError();
  await page.fill('#question', first.question);
  await page.fill('#candidate-1', await page.inputValue('#candidate-0'));
  out.duplicateCandidate = await askExpectingError();

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
  out.reload = { ms: Date.now() - t1, modelSource: s.modelSource };
} catch (error) {
  out.failure = String(error?.stack ?? error);
} finally {
  fs.writeFileSync(args.out, JSON.stringify(out, null, 2));
  await browser.close();
  server.close();
}
if (out.failure) { console.error(out.failure); process.exit(1); }
