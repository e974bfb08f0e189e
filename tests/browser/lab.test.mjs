// Browser test: a person in JupyterLab 4 picks the iot-kernel kernel,
// connects a test board, runs cells, stops a runaway loop, completes a
// board name with Tab, sees a function's parameters with Shift-Tab and
// plots board data in a %%host cell. Headless Debian chromium driven by playwright-core;
// JupyterLab from the project venv. Everything started here is stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import {
  root, testboardBin, firstLine, stop, setUp, startLab, notebookPage, screenshotOnFailure,
} from './lablib.mjs';

// Written to build/ so a test run never dirties the tree; docs/jupyterlab.png
// is a copy of it.
const screenshot = join(root, 'build', 'jupyterlab.png');

test('JupyterLab: pick the kernel, run cells on a board, interrupt, complete', { timeout: 240_000 }, async (t) => {
  const setup = setUp(t);
  const { env, work, cleanup } = setup;

  // The micro:bit test board: real firmware, real Ctrl-C.
  const board = spawn(testboardBin, ['-kind', 'microbit'], { stdio: ['pipe', 'pipe', 'inherit'] });
  cleanup(() => stop(board));
  const devPath = await firstLine(board, 60_000, 'testboard');
  writeFileSync(env.IOT_DEVICES, `board:\n  url: ${JSON.stringify(devPath)}\n`);

  // A notebook with no kernel chosen yet, as a person's new notebook is.
  writeFileSync(join(work, 'lab.ipynb'), JSON.stringify({
    cells: [], metadata: {}, nbformat: 4, nbformat_minor: 5,
  }));

  const { base, browser, log } = await startLab(setup);
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);

  await screenshotOnFailure(page, 'jupyterlab', log, async () => {
    await page.goto(`${base}/lab/tree/lab.ipynb`);

    // The kernel picker: choose IoT MicroPython by its display name.
    const dialog = page.locator('.jp-Dialog');
    await dialog.waitFor();
    await dialog.locator('select').selectOption({ label: 'IoT MicroPython' });
    await dialog.locator('button.jp-mod-accept').click();
    await page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first().waitFor();

    const nb = notebookPage(page);
    const { cells } = nb;
    await nb.run('%connect board');
    assert.match(await nb.outputOf(0, 'Connected to'), /Connected to board/);

    await nb.run('answer = 6 * 7\nprint("the answer is", answer)\nanswer + 1');
    const out1 = await nb.outputOf(1, 'the answer is 42');
    assert.match(out1, /43/, 'the last expression is shown as the result');

    // A runaway loop, stopped with the toolbar's stop button.
    await nb.run('n = 0\nwhile True:\n    n += 1');
    await cells.nth(2).locator('.jp-InputPrompt').filter({ hasText: '*' }).waitFor();
    await nb.interrupt();
    assert.match(await nb.outputOf(2, 'KeyboardInterrupt'), /KeyboardInterrupt/);

    // Board state survives the interrupt.
    await nb.run('n > 0');
    assert.match(await nb.outputOf(3, 'True'), /True/);

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
    await nb.outputOf(4, '42');
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot });

    // Shift-Tab after `name(` shows what the board knows of name: here a
    // function defined in a cell, with its parameters.
    await nb.run('def blink(pin, times=3, delay=0.5):\n    return pin * times');
    await cells.nth(5).locator('.jp-InputPrompt').filter({ hasText: '[6]' }).waitFor();
    await cells.last().locator('.cm-content').click();
    await page.keyboard.insertText('blink(');
    await page.keyboard.press('Shift+Tab');
    const tip = page.locator('.jp-Tooltip');
    await tip.filter({ hasText: 'times' }).waitFor();
    const tipText = await tip.innerText();
    assert.match(tipText, /blink\(pin, times=3, delay=0\.5\)/, `the tooltip: ${tipText}`);
    await page.screenshot({ path: join(root, 'build', 'inspect.png') });
    // Close the tooltip and finish the call.
    await page.keyboard.press('Escape');
    await cells.last().locator('.cm-content').click();
    await page.keyboard.press('End');
    await page.keyboard.insertText('7)');
    await page.keyboard.press('Shift+Enter');
    await nb.outputOf(6, '21');

    // A %%host cell plots board data with the project venv's matplotlib.
    await nb.run('%store answer');
    await nb.run('%%host\nimport matplotlib\nmatplotlib.use("module://matplotlib_inline.backend_inline")\n' +
      'import matplotlib.pyplot as plt\nplt.plot([0, answer, 0])\nplt.show()');
    await cells.nth(8).locator('.jp-OutputArea img').waitFor({ timeout: 60_000 });
    await page.screenshot({ path: join(root, 'build', 'hostplot.png') });
  });
});
