// Browser test: the sockets notebook (the one this project started from)
// in JupyterLab 4 on the virtual board. `esp32` is a virtual board whose
// google.com goes to local stand-ins (scripts/webhosts.py); the server
// cell's page is opened in a second tab, as the notebook tells its reader
// to, then stopped. The screenshot is the README's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import {
  root, venv, firstLine, stop, setUp, startLab, notebookPage, screenshotOnFailure,
} from './lablib.mjs';

const screenshot = join(root, 'build', 'sockets.png');
const pageShot = join(root, 'build', 'sockets-page.png');

test('JupyterLab: the sockets notebook on the virtual board', { timeout: 240_000 }, async (t) => {
  const setup = setUp(t);
  const { env, work, cleanup } = setup;

  const hosts = spawn(join(venv, 'bin', 'python'), [join(root, 'scripts', 'webhosts.py')],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  cleanup(() => { hosts.stdin.end(); return stop(hosts); });
  const [httpPort, httpsPort] = (await firstLine(hosts, 30_000, 'webhosts')).split(' ');
  writeFileSync(env.IOT_DEVICES, [
    'default: esp32',
    'esp32:',
    '  url: sim:esp32',
    '  hosts:',
    `    google.com:80: 127.0.0.1:${httpPort}`,
    `    google.com:443: 127.0.0.1:${httpsPort}`,
    '',
  ].join('\n'));
  copyFileSync(join(root, 'notebooks', 'sockets.ipynb'), join(work, 'sockets.ipynb'));

  const { base, browser, log } = await startLab(setup);
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);

  await screenshotOnFailure(page, 'sockets', log, async () => {
    await page.goto(`${base}/lab/tree/sockets.ipynb`);
    const nb = notebookPage(page);
    // The notebook names its kernel: wait until that kernel is up and idle.
    await nb.kernelIdle();
    // Start from a notebook without the stored outputs, as a reader who
    // clears them does, so every output seen here is this run's.
    await page.evaluate(() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs'));
    const code = page.locator('.jp-Notebook .jp-CodeCell');
    async function outputOf(i, want) {
      const out = code.nth(i).locator('.jp-OutputArea');
      await out.filter({ hasText: want }).waitFor();
      return out.innerText();
    }

    // The HTTP client: the first cell connects the default board itself.
    await nb.runCodeCell(0);
    const client = await outputOf(0, 'Line 023');
    assert.match(client, /Connected to esp32 @ sim:esp32/);
    assert.match(client, /Address information: \[\(2, 1, 0, 'google\.com', \('127\.0\.0\.1', \d+\)\)\]/);
    assert.match(client, /HTTP\/1\.0 200 OK/);

    // The server: open its page in a second tab, as the notebook says.
    await nb.runCodeCell(1);
    assert.match(await outputOf(1, 'Listening'), /http:\/\/127\.0\.0\.1:8080\//);
    const tab = await browser.newPage();
    // localhost, not 127.0.0.1: the lab's cookies stay out of the request.
    await tab.goto('http://localhost:8080/');
    await tab.locator('body').filter({ hasText: 'Hello #' }).waitFor();
    assert.match(await tab.locator('body').innerText(), /Hello #\d+ from MicroPython!/);
    mkdirSync(dirname(pageShot), { recursive: true });
    await tab.screenshot({ path: pageShot });
    await tab.close();
    await page.bringToFront();
    const served = await outputOf(1, 'User-Agent');
    assert.match(served, /GET \/ HTTP\/1\.1/);
    await nb.interrupt();
    assert.match(await outputOf(1, 'KeyboardInterrupt'), /KeyboardInterrupt/);

    // The TLS client.
    await nb.runCodeCell(2);
    const secure = await outputOf(2, 'Line 023');
    assert.match(secure, /'google\.com', \('127\.0\.0\.1', \d+\)/);
    assert.match(secure, /HTTP\/1\.0 200 OK/);

    // The picture: the server cell with the request the browser sent.
    await code.nth(1).scrollIntoViewIfNeeded();
    await page.screenshot({ path: screenshot });
  });
});
