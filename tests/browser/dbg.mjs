import { chromium } from 'playwright-core';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', ...(process.argv[2]==='webgpu' ? ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader'] : [])] });
const page = await browser.newPage();
page.on('console', (m) => console.log('page', m.type(), m.text()));
page.on('pageerror', (e) => console.log('pageerror', e.message));
page.on('worker', (w) => { console.log('worker started', w.url()); w.on('console', (m) => console.log('worker', m.type(), m.text())); });
await page.goto('http://127.0.0.1:8765/demo/');
for (let i = 0; i < 30; i++) { await page.waitForTimeout(1000); const s = await page.evaluate(() => JSON.stringify(window.gifqa)); if (i % 5 == 0 || s.includes('ready')) console.log(i, s.slice(0, 300), await page.textContent('#load-text')); if (s.includes('"state":"ready"')) break; }
await browser.close();
