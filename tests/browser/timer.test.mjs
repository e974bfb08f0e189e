// Browser test: what the virtual board prints between cells (a
// machine.Timer's callback) shows in JupyterLab 4 under the cell that
// started it, as it comes, as a thread's prints do in a Python notebook;
// once the next cell runs, the ticks go on under the cell last run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { root, setUp, startLab, notebookPage, screenshotOnFailure } from './lablib.mjs';

const screenshot = join(root, 'build', 'timer.png');

const timerCell = [
  'from machine import Timer',
  'n = 0',
  'def tick(t):',
  '    global n',
  '    n += 1',
  "    print('tick', n)",
  'tm = Timer(0)',
  'tm.init(period=200, callback=tick)',
].join('\n');

test('JupyterLab: a timer\'s prints between cells', { timeout: 240_000 }, async (t) => {
  const setup = setUp(t);
  const { env, work } = setup;
  writeFileSync(env.IOT_DEVICES, 'default: sim\n');
  const cell = (source) => ({ cell_type: 'code', metadata: {}, outputs: [], execution_count: null, source });
  writeFileSync(join(work, 'timer.ipynb'), JSON.stringify({
    cells: [cell('%connect sim'), cell(timerCell), cell("tm.deinit()\nprint('stopped after', n)")],
    metadata: { kernelspec: { display_name: 'IoT MicroPython', language: 'python', name: 'iot-micropython' } },
    nbformat: 4, nbformat_minor: 5,
  }));

  const { base, browser, log } = await startLab(setup);
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);

  await screenshotOnFailure(page, 'timer', log, async () => {
    await page.goto(`${base}/lab/tree/timer.ipynb`);
    const nb = notebookPage(page);
    await nb.kernelIdle();
    const code = page.locator('.jp-Notebook .jp-CodeCell');
    const output = (i) => code.nth(i).locator('.jp-OutputArea');
    await nb.runCodeCell(0);
    await output(0).filter({ hasText: 'Connected to sim' }).waitFor({ timeout: 90_000 });
    await nb.runCodeCell(1);
    // The cell ends at once; its ticks come after, under it.
    await code.nth(1).locator('.jp-InputPrompt').filter({ hasText: /\[\d+\]/ }).waitFor();
    await output(1).filter({ hasText: 'tick 5' }).waitFor({ timeout: 30_000 });
    await code.nth(1).scrollIntoViewIfNeeded();
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot });

    await nb.runCodeCell(2);
    await output(2).filter({ hasText: 'stopped after' }).waitFor({ timeout: 30_000 });
    const said = (await output(2).innerText()).match(/stopped after (\d+)/);
    assert.ok(said, 'the last cell printed the count');
    const n = Number(said[1]);
    // Every tick shows once, in order, under the timer's cell or (the
    // ones the board printed as the last cell began) under that one.
    const shown = [...(await output(1).innerText() + '\n' + await output(2).innerText()).matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(shown, Array.from({ length: n }, (_, i) => i + 1), 'each tick shown once, in order');
  });
});
