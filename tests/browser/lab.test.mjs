// Browser test: a person in JupyterLab 4 picks the iot-kernel kernel,
// connects a test board, runs cells, stops a runaway loop and completes a
// board name with Tab. Headless Debian chromium driven by playwright-core;
// JupyterLab from the project venv. Everything started here is stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const kernelBin = process.env.IOT_KERNEL_BIN ?? join(root, 'bin', 'iot-kernel');
const testboardBin = process.env.IOT_TESTBOARD_BIN ?? join(root, 'bin', 'testboard');
const venv = process.env.VENV ?? join(root, '.venv');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
// Written to build/ so a test run never dirties the tree; docs/jupyterlab.png
// is a copy of it that the README shows.
const screenshot = join(root, 'build', 'jupyterlab.png');

// A free loopback port: bind :0, read it, close.
function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

// Resolve with the first line a process prints, or reject after ms.
function firstLine(proc, ms, what) {
  return new Promise((ok, fail) => {
    let buf = '';
    const timer = setTimeout(() => fail(new Error(`${what}: no output within ${ms} ms`)), ms);
    proc.stdout.on('data', (d) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) { clearTimeout(timer); ok(buf.slice(0, i).trim()); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); fail(new Error(`${what} exited ${code}`)); });
  });
}

// Poll url until it answers 200, bounded.
async function waitHTTP(url, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

// Stop a child: SIGTERM, then SIGKILL if it lingers.
function stop(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((ok) => {
    const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.once('exit', () => { clearTimeout(kill); ok(); });
    proc.kill('SIGTERM');
  });
}

test('JupyterLab: pick the kernel, run cells on a board, interrupt, complete', { timeout: 240_000 }, async (t) => {
  // node:test runs after-hooks in the order they were added; cleanups must
  // run the other way round (browser, lab, board, then the files they use).
  const cleanups = [];
  const cleanup = (fn) => cleanups.push(fn);
  t.after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  const tmp = mkdtempSync(join(tmpdir(), 'iot-lab-'));
  cleanup(() => rmSync(tmp, { recursive: true, force: true }));
  const data = join(tmp, 'jupyter');
  const env = {
    ...process.env,
    JUPYTER_PATH: data, JUPYTER_DATA_DIR: data,
    JUPYTER_CONFIG_DIR: join(tmp, 'config'), JUPYTER_RUNTIME_DIR: join(tmp, 'runtime'),
    IOT_DEVICES: join(tmp, 'devices.yaml'), IOT_STATE_DIR: join(tmp, 'state'),
    JUPYTERLAB_SETTINGS_DIR: join(tmp, 'lab-settings'),
  };
  // No "get Jupyter news?" toast over the screenshot.
  const notif = join(env.JUPYTERLAB_SETTINGS_DIR, '@jupyterlab', 'apputils-extension');
  mkdirSync(notif, { recursive: true });
  writeFileSync(join(notif, 'notification.jupyterlab-settings'), JSON.stringify({ fetchNews: 'false' }));
  execFileSync(kernelBin, ['install', '--user'], { env, stdio: 'ignore', timeout: 30_000 });

  // The micro:bit test board: real firmware, real Ctrl-C.
  const board = spawn(testboardBin, ['-kind', 'microbit'], { stdio: ['pipe', 'pipe', 'inherit'] });
  cleanup(() => stop(board));
  const devPath = await firstLine(board, 60_000, 'testboard');
  writeFileSync(env.IOT_DEVICES, `board:\n  url: ${JSON.stringify(devPath)}\n`);

  const work = join(tmp, 'work');
  mkdirSync(work);
  // A notebook with no kernel chosen yet, as a person's new notebook is.
  writeFileSync(join(work, 'lab.ipynb'), JSON.stringify({
    cells: [], metadata: {}, nbformat: 4, nbformat_minor: 5,
  }));

  const port = await freePort();
  const lab = spawn(join(venv, 'bin', 'jupyter'), ['lab', '--no-browser', '--allow-root',
    '--port', String(port), '--port-retries=0', '--ip', '127.0.0.1',
    "--IdentityProvider.token=", `--ServerApp.root_dir=${work}`,
    '--LabApp.news_url=None', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate'],
  { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let labLog = '';
  lab.stderr.on('data', (d) => { labLog += d; });
  cleanup(() => stop(lab));
  await waitHTTP(`http://127.0.0.1:${port}/api/status`, 90_000);

  // A fresh profile every run (playwright passes it as --user-data-dir).
  const browser = await chromium.launchPersistentContext(join(tmp, 'chromium'), {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage'],
  });
  cleanup(() => browser.close());
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);

  try {
    await page.goto(`http://127.0.0.1:${port}/lab/tree/lab.ipynb`);

    // The kernel picker: choose IoT MicroPython by its display name.
    const dialog = page.locator('.jp-Dialog');
    await dialog.waitFor();
    await dialog.locator('select').selectOption({ label: 'IoT MicroPython' });
    await dialog.locator('button.jp-mod-accept').click();
    await page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first().waitFor();

    const cells = page.locator('.jp-Notebook .jp-Cell');
    // Type into the last cell's editor and run it with Shift+Enter.
    async function run(code) {
      const editor = cells.last().locator('.cm-content');
      await editor.click();
      await page.keyboard.insertText(code);
      await page.keyboard.press('Shift+Enter');
    }
    // The output text of cell i, once it contains want.
    async function outputOf(i, want) {
      const out = cells.nth(i).locator('.jp-OutputArea');
      await out.filter({ hasText: want }).waitFor();
      return out.innerText();
    }

    await run('%connect board');
    assert.match(await outputOf(0, 'Connected to'), /Connected to board/);

    await run('answer = 6 * 7\nprint("the answer is", answer)\nanswer + 1');
    const out1 = await outputOf(1, 'the answer is 42');
    assert.match(out1, /43/, 'the last expression is shown as the result');

    // A runaway loop, stopped with the toolbar's stop button.
    await run('n = 0\nwhile True:\n    n += 1');
    await cells.nth(2).locator('.jp-InputPrompt').filter({ hasText: '*' }).waitFor();
    await page.locator('jp-button[data-command="notebook:interrupt-kernel"], button[data-command="notebook:interrupt-kernel"]').first().click();
    assert.match(await outputOf(2, 'KeyboardInterrupt'), /KeyboardInterrupt/);

    // Board state survives the interrupt.
    await run('n > 0');
    assert.match(await outputOf(3, 'True'), /True/);

    // Tab completes a name the board knows.
    const editor = cells.last().locator('.cm-content');
    await editor.click();
    await page.keyboard.insertText('answ');
    await page.keyboard.press('Tab');
    // The board's only match is offered in the completer; Enter takes it.
    await page.locator('.jp-Completer-item').filter({ hasText: 'answer' }).first().waitFor();
    await page.keyboard.press('Enter');
    await cells.last().locator('.cm-content').filter({ hasText: 'answer' }).waitFor();
    assert.equal((await cells.last().locator('.cm-content').innerText()).trim(), 'answer');
    await page.keyboard.press('Shift+Enter');
    await outputOf(4, '42');

    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot });
  } catch (err) {
    mkdirSync(join(root, 'build'), { recursive: true });
    await page.screenshot({ path: join(root, 'build', 'jupyterlab-failure.png') }).catch(() => {});
    err.message += `\n--- jupyter lab log (tail) ---\n${labLog.slice(-3000)}`;
    throw err;
  }
});
