// Browser test: a %%plot cell in JupyterLab 4 on the virtual board. The
// chart is drawn by the kernel as SVG and updated in place while the cell
// runs; the test watches it change, then checks the final chart and takes
// the README's screenshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { root, setUp, startLab, notebookPage, screenshotOnFailure } from './lablib.mjs';

// Written to build/ so a test run never dirties the tree; docs/plot.png is
// a copy of it.
const screenshot = join(root, 'build', 'plot.png');

const plotCell = [
  '%%plot -x time --csv readings.csv',
  'import math, time',
  "print('warming up')",
  'for i in range(120):',
  "    print('temp:%.2f hum:%.1f light:%d' % (21 + 3 * math.sin(i / 9), 45 + 8 * math.cos(i / 14), i % 40))",
  '    time.sleep(0.04)',
].join('\n');

test('JupyterLab: a live %%plot chart', { timeout: 240_000 }, async (t) => {
  const setup = setUp(t);
  const { env, work } = setup;
  writeFileSync(env.IOT_DEVICES, 'default: sim\n');
  writeFileSync(join(work, 'plot.ipynb'), JSON.stringify({
    cells: [
      { cell_type: 'code', metadata: {}, outputs: [], execution_count: null, source: '%connect sim' },
      { cell_type: 'code', metadata: {}, outputs: [], execution_count: null, source: plotCell },
    ],
    metadata: { kernelspec: { display_name: 'IoT MicroPython', language: 'python', name: 'iot-micropython' } },
    nbformat: 4, nbformat_minor: 5,
  }));

  const { base, browser, log } = await startLab(setup);
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);

  await screenshotOnFailure(page, 'plot', log, async () => {
    await page.goto(`${base}/lab/tree/plot.ipynb`);
    const nb = notebookPage(page);
    await nb.kernelIdle();
    const code = page.locator('.jp-Notebook .jp-CodeCell');
    await nb.runCodeCell(0);
    await code.nth(0).locator('.jp-OutputArea').filter({ hasText: 'Connected to sim' }).waitFor({ timeout: 90_000 });

    // The chart as the page shows it: the SVG inline or as an image.
    const chart = code.nth(1).locator('.jp-RenderedSVG');
    const chartSource = () => chart.first().evaluate((el) => {
      const img = el.querySelector('img');
      return img ? decodeURIComponent(img.src) : el.innerHTML;
    });
    await nb.runCodeCell(1);
    await chart.first().waitFor();
    // While the cell runs, the chart changes in place: one chart, new data.
    const seen = new Set();
    const running = () => code.nth(1).locator('.jp-InputPrompt').innerText().then((s) => s.includes('*'));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && await running()) {
      seen.add(await chartSource());
      assert.equal(await chart.count(), 1, 'one chart, updated in place');
      await page.waitForTimeout(150); // sampling what the page shows, not waiting for an event
    }
    assert.ok(!(await running()), 'the cell ended within a minute');
    assert.ok(seen.size >= 3, `the chart changed ${seen.size - 1} times while the cell ran, want at least 2`);

    const final = await chartSource();
    for (const label of ['temp', 'hum', 'light', 'time (s)', 'sim']) {
      assert.ok(final.includes(`>${label}</text>`), `the final chart shows ${label}`);
    }
    const out = await code.nth(1).locator('.jp-OutputArea').innerText();
    assert.match(out, /warming up/, 'the line without numbers stays text');
    assert.doesNotMatch(out, /temp:/, 'the numbers are drawn, not printed');

    await code.nth(1).scrollIntoViewIfNeeded();
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot });
  });
});
