/**
 * The real Temporal Web UI (served by the test run's dev server, UI 2.42.1 in CLI v1.5.1) in headless
 * Chromium: the workflow list filtered on DuraboxSlug finds a finished lease, and its page shows the
 * summary and details, the search attributes and one summary per activity (User Metadata tab and
 * History timeline). Screenshots go to test-output/webui/.
 *
 * Chromium is Debian's `chromium` (scripts/setup.sh installs it), driven with playwright-core; set
 * DURABOX_CHROMIUM to use another binary. Without one the test skips itself and says why. The
 * browser may only talk to loopback: every other request is aborted and fails the test.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type FrameLocator, type Page } from 'playwright-core';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { CliHarness, makeRepo } from '../support/cli-harness.js';

const OUT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-output', 'webui');
const UI_TIMEOUT_MS = 20_000;

/** DURABOX_CHROMIUM, else `chromium` (or `chromium-browser`) on PATH, else /usr/bin/chromium. */
function findChromium(): string | undefined {
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const fromEnv = process.env.DURABOX_CHROMIUM;
  if (fromEnv) return executable(fromEnv) ? fromEnv : undefined;
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const name of ['chromium', 'chromium-browser']) {
    for (const dir of dirs) if (executable(join(dir, name))) return join(dir, name);
  }
  return executable('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined;
}

const isLoopback = (url: string) => {
  const { protocol, hostname } = new URL(url);
  if (protocol === 'data:' || protocol === 'blob:' || protocol === 'about:') return true;
  return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
};

/** The markdown the UI renders (in a same-origin iframe) under a User Metadata heading. */
function metadataFrame(page: Page, heading: 'Summary' | 'Details'): FrameLocator {
  return page.frameLocator(`xpath=//h3[normalize-space()="${heading}"]/../following-sibling::section[1]//iframe`);
}

let h: CliHarness | undefined;
let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
  await h?.stop();
  h?.cleanup();
});

describe('the Temporal Web UI', () => {
  it("shows a finished lease's summary, search attributes and activity summaries", async (ctx) => {
    const executablePath = findChromium();
    if (!executablePath) {
      const why = process.env.DURABOX_CHROMIUM
        ? `DURABOX_CHROMIUM=${process.env.DURABOX_CHROMIUM} is not executable`
        : 'no chromium found (PATH, /usr/bin/chromium): run scripts/setup.sh or `apt-get install chromium`, or set DURABOX_CHROMIUM';
      // Also on stderr: the default reporter shows a skip's note only in verbose mode.
      console.warn(`test/webui skipped: ${why}`);
      ctx.skip(why);
      return;
    }
    const uiUrl = inject('temporalUiUrl');
    // An external test server (DURABOX_TEST_TEMPORAL_ADDRESS) must name its Web UI too.
    expect(uiUrl, 'set DURABOX_TEST_TEMPORAL_UI_URL to the Web UI of DURABOX_TEST_TEMPORAL_ADDRESS').not.toBe('');
    const namespace = inject('temporalNamespace');

    // A real finished lease: built CLI, real worker, local provider (private sshd), sync and run.
    const started = Date.now();
    h = new CliHarness(inject('temporalAddress'), namespace, { DURABOX_CLEANUP_SCHEDULE: 'off' });
    // Launch the browser while the worker starts: both take a few seconds on a loaded machine.
    [browser] = await Promise.all([chromium.launch({ executablePath, headless: true }), h.startWorker()]);
    const slug = `webui-${randomBytes(3).toString('hex')}`;
    const repo = makeRepo();
    const run = await h.run(['--json', 'run', '--provider', 'local', '--slug', slug, '--', 'sh', '-c', 'echo hi'], { cwd: repo });
    expect(run.code, run.stderr).toBe(0);
    const { leaseId, workflowId } = JSON.parse(run.stdout.slice(run.stdout.indexOf('{\n'))) as { leaseId: string; workflowId: string };
    const client = await h.connect();
    const described = await client.workflow.getHandle(workflowId).describe();
    expect(described.status.name).toBe('COMPLETED');
    const runId = described.runId;
    const leaseMs = Date.now() - started;

    mkdirSync(OUT_DIR, { recursive: true });
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const offLoopback: string[] = [];
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (isLoopback(url)) return route.continue();
      offLoopback.push(url);
      return route.abort('blockedbyclient');
    });
    const page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    // The workflow list filtered on a search attribute (as README suggests) finds exactly this lease.
    const nsPath = `/namespaces/${encodeURIComponent(namespace)}/workflows`;
    await page.goto(`${uiUrl}${nsPath}?query=${encodeURIComponent(`DuraboxSlug = "${slug}"`)}`);
    const link = page.locator('main').getByRole('link', { name: workflowId, exact: true });
    await link.first().waitFor();
    const hrefs = await page.locator('main a[href*="/workflows/lease-"]').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    const historyPath = `${nsPath}/${encodeURIComponent(workflowId)}/${runId}`;
    expect(new Set(hrefs)).toEqual(new Set([`${historyPath}/history`]));
    await page.screenshot({ path: join(OUT_DIR, 'lease-list.png') });
    await link.first().click();
    const base = `${uiUrl}${historyPath}`;
    await page.waitForURL(`${base}/history`);
    await page.getByRole('heading', { name: workflowId }).waitFor();
    await page.getByText('Completed', { exact: true }).first().waitFor();
    // The timeline labels each activity with its type and summary.
    const createLabel = page.getByText(`createBox • create local box for ${slug}`);
    await createLabel.waitFor();
    await page.getByText('runCommand • run `sh -c "echo hi"`').waitFor();
    await page.screenshot({ path: join(OUT_DIR, 'lease-history.png'), fullPage: true });

    // User Metadata: the static summary and details (markdown in iframes), one row per activity.
    await page.getByRole('tab', { name: 'User Metadata' }).click();
    await page.waitForURL(`${base}/user-metadata`);
    const summary = metadataFrame(page, 'Summary').locator('body');
    await summary.getByText(`local lease ${slug} (${leaseId}) by `).waitFor();
    expect(await summary.innerText()).toMatch(new RegExp(`^local lease ${slug} \\(${leaseId}\\) by \\S+@\\S+$`));
    const details = metadataFrame(page, 'Details').locator('body');
    await details.getByText('release: provider default after the run').waitFor();
    expect(await details.innerText()).toMatch(/provider: local\b/);
    const rows = page.locator('xpath=//h3[normalize-space()="Events with Metadata"]/../following-sibling::div[1]//span[@class="text-sm"]');
    await rows.filter({ hasText: 'release (' }).waitFor();
    const texts = await rows.allInnerTexts();
    const expected = [
      `create local box for ${slug}`,
      `wait until local-${leaseId} accepts SSH`,
      /^sync \/\S+$/, // the repository's path on the CLI's machine
      'run `sh -c "echo hi"`',
      'release (delete) after after-run',
    ];
    expect(texts, texts.join(' | ')).toHaveLength(expected.length);
    expected.forEach((e, i) => (typeof e === 'string' ? expect(texts[i]).toBe(e) : expect(texts[i]).toMatch(e)));
    await page.screenshot({ path: join(OUT_DIR, 'lease-user-metadata.png'), fullPage: true });

    // Search Attributes: durabox's own, with the values this lease ended with.
    await page.getByRole('tab', { name: 'Search Attributes' }).click();
    await page.waitForURL(`${base}/search-attributes`);
    const main = page.locator('main');
    await main.getByText(`"${slug}"`).waitFor();
    const attrsText = await main.innerText();
    for (const [name, value] of [
      ['DuraboxSlug', slug],
      ['DuraboxProvider', 'local'],
      ['DuraboxLeaseId', leaseId],
      ['DuraboxState', 'released'],
    ]) {
      expect(attrsText).toContain(`"${name}": "${value}"`);
    }
    expect(attrsText).toMatch(/"DuraboxOwner": "\S+@\S+"/);
    expect(attrsText).toMatch(/"DuraboxExpiresAt": "\d{4}-\d\d-\d\dT/);
    await page.screenshot({ path: join(OUT_DIR, 'lease-search-attributes.png'), fullPage: true });

    expect(offLoopback, 'the UI must not need the internet').toEqual([]);
    expect(pageErrors).toEqual([]);
    await context.close();
    ctx.annotate(`lease ${Math.round(leaseMs / 1000)} s, UI checks ${Math.round((Date.now() - started - leaseMs) / 1000)} s; screenshots in ${OUT_DIR}`);
  }, 240_000);
});
