// lablib.mjs: what the browser tests share: a private Jupyter set-up with
// the kernel installed, JupyterLab on a free loopback port, headless Debian
// chromium driven by playwright-core, and bounded helpers to wait for
// processes and pages. Everything started here is stopped by the cleanups,
// last started first.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const kernelBin = process.env.IOT_KERNEL_BIN ?? join(root, 'bin', 'iot-kernel');
export const testboardBin = process.env.IOT_TESTBOARD_BIN ?? join(root, 'bin', 'testboard');
export const venv = process.env.VENV ?? join(root, '.venv');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

// A free loopback port: bind :0, read it, close.
export function freePort() {
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
export function firstLine(proc, ms, what) {
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
export async function waitHTTP(url, ms) {
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
export function stop(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((ok) => {
    const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.once('exit', () => { clearTimeout(kill); ok(); });
    proc.kill('SIGTERM');
  });
}

// setUp gives a test its own folder, Jupyter paths and devices file, with
// the kernel installed; t.after runs the cleanups last-in-first-out (node:test
// runs after-hooks in the order they were added).
export function setUp(t) {
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
    IOT_SIM_HOME: join(tmp, 'sim'), IPYTHONDIR: join(tmp, 'ipython'),
    JUPYTERLAB_SETTINGS_DIR: join(tmp, 'lab-settings'),
  };
  // No "get Jupyter news?" toast over the screenshot.
  const notif = join(env.JUPYTERLAB_SETTINGS_DIR, '@jupyterlab', 'apputils-extension');
  mkdirSync(notif, { recursive: true });
  writeFileSync(join(notif, 'notification.jupyterlab-settings'), JSON.stringify({ fetchNews: 'false' }));
  execFileSync(kernelBin, ['install', '--user'], { env, stdio: 'ignore', timeout: 30_000 });
  const work = join(tmp, 'work');
  mkdirSync(work);
  return { tmp, env, work, cleanup };
}

// startLab runs JupyterLab on work and a fresh headless chromium; returns
// the lab's base URL, the browser context and the lab's log so far.
export async function startLab({ tmp, env, work, cleanup }) {
  const port = await freePort();
  const lab = spawn(join(venv, 'bin', 'jupyter'), ['lab', '--no-browser', '--allow-root',
    '--port', String(port), '--port-retries=0', '--ip', '127.0.0.1',
    '--IdentityProvider.token=', `--ServerApp.root_dir=${work}`,
    '--LabApp.news_url=None', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
    // window.jupyterapp, for commands the test runs without a menu
    '--LabApp.expose_app_in_browser=True'],
  { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const log = { text: '' };
  lab.stderr.on('data', (d) => { log.text += d; });
  cleanup(() => stop(lab));
  const base = `http://127.0.0.1:${port}`;
  await waitHTTP(`${base}/api/status`, 90_000);

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
  return { base, browser, log };
}

// notebookPage wraps a JupyterLab notebook page: its cells, running code in
// the last (or a given) cell, and waiting for output text.
export function notebookPage(page) {
  const cells = page.locator('.jp-Notebook .jp-Cell');
  return {
    cells,
    // Wait until the notebook's kernel is up and idle.
    async kernelIdle() {
      await page.waitForFunction(() => {
        const w = window.jupyterapp?.shell?.currentWidget;
        return w?.sessionContext?.session?.kernel?.status === 'idle';
      }, null, { timeout: 90_000 });
    },
    // Run the i-th code cell as the Run button would, with it selected.
    // Not awaited: the command ends when the cell does, and a cell may run
    // until it is stopped.
    async runCodeCell(i) {
      await page.evaluate((i) => {
        const nb = window.jupyterapp.shell.currentWidget.content;
        const codeCells = nb.widgets.map((c, k) => [c, k]).filter(([c]) => c.model.type === 'code');
        nb.activeCellIndex = codeCells[i][1];
        void window.jupyterapp.commands.execute('notebook:run-cell');
      }, i);
    },
    // Type into the last cell's editor and run it with Shift+Enter.
    async run(code) {
      const editor = cells.last().locator('.cm-content');
      await editor.click();
      await page.keyboard.insertText(code);
      await page.keyboard.press('Shift+Enter');
    },
    // The output text of cell i, once it contains want.
    async outputOf(i, want) {
      const out = cells.nth(i).locator('.jp-OutputArea');
      await out.filter({ hasText: want }).waitFor();
      return out.innerText();
    },
    async interrupt() {
      await page.locator('jp-button[data-command="notebook:interrupt-kernel"], button[data-command="notebook:interrupt-kernel"]').first().click();
    },
  };
}

// screenshotOnFailure runs fn; when it throws, it saves the page as
// build/NAME-failure.png and adds the lab's log to the error.
export async function screenshotOnFailure(page, name, log, fn) {
  try {
    await fn();
  } catch (err) {
    mkdirSync(join(root, 'build'), { recursive: true });
    await page.screenshot({ path: join(root, 'build', `${name}-failure.png`) }).catch(() => {});
    err.message += `\n--- jupyter lab log (tail) ---\n${log.text.slice(-3000)}`;
    throw err;
  }
}
