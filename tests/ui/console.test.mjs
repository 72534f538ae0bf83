// Drives the web console in headless Chromium (Debian's /usr/bin/chromium via playwright-core)
// against a running skiff, and checks what the pages show. Prints the figures it measured as
// one JSON line. Usage: node console.test.mjs BASE_URL TOKEN GATEWAY_URL   (KUBECONFIG set)
import { chromium } from 'playwright-core';
import { execSync } from 'node:child_process';

const [base, token, gateway] = process.argv.slice(2);
let failures = 0;
async function check(what, fn) {
  try {
    await fn();
    console.log('ok   ' + what);
  } catch (e) {
    failures++;
    console.log('FAIL ' + what + ': ' + String(e.message || e).split('\n')[0]);
  }
}
const expectText = async (locator, pattern, timeout = 15000) => {
  await locator.first().waitFor({ timeout });
  const deadline = Date.now() + timeout;
  for (;;) {
    const text = (await locator.first().textContent()) ?? "";
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`expected ${pattern}, page shows "${text.slice(0, 200)}"`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
const api = (method, path, body) =>
  fetch(base + path, { method, headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const figures = {};
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const started = Date.now();
  await page.goto(`${base}/ui/#token=${token}`);
  await check('overview shows the node ready', () => expectText(page.locator('#nodes-ready'), /^1\/1$/));
  figures.consoleLoadToDataMs = Date.now() - started;
  figures.firstContentfulPaintMs = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null);
  await check('the token left the address bar', async () => { if (page.url().includes(token)) throw new Error(page.url()); });
  await check('overview counts the ready deployment', () => expectText(page.locator('#deployments-ready'), /^1\/1$/));
  await check('overview draws three charts of the last hour', async () => {
    const n = await page.locator('.chart svg').count();
    if (n !== 3) throw new Error(`${n} charts`);
  });

  await page.click('text=Workloads');
  await check('workloads list the pod as Running', () => expectText(page.locator('#pods tr[data-pod^="default/web-"]'), /Running/));

  // A watch event reaches the page without a reload: time from the create call to the new row.
  const t0 = Date.now();
  const created = await api('POST', '/apis/apps/v1/namespaces/default/deployments', {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'probe' },
    spec: { replicas: 0, selector: { matchLabels: { app: 'probe' } }, template: { metadata: { labels: { app: 'probe' } }, spec: { containers: [{ name: 'c', image: 'busybox', command: ['sleep', '1000'] }] } } },
  });
  await check('a new deployment appears live', async () => {
    if (created.status !== 201) throw new Error('create answered ' + created.status);
    await page.locator('tr[data-deployment="default/probe"]').waitFor({ timeout: 10000 });
  });
  figures.watchEventToPageMs = Date.now() - t0;

  execSync('kubectl scale deployment web --replicas=2');
  await check('scaling shows 2/2 without a reload', () => expectText(page.locator('tr[data-deployment="default/web"] .ready'), /^2\/2$/, 30000));

  const podLink = page.locator('#pods tr[data-pod^="default/web-"] a').first();
  await podLink.click();
  await check('pod page streams the container log', () => expectText(page.locator('#logs'), /hello-from-web/));
  await check('pod page lists its events', () => expectText(page.locator('#events'), /Scheduled|Started|Pulled/));

  // Traffic through the gateway shows up as an edge with its rate.
  const until = Date.now() + 6000;
  const load = (async () => { while (Date.now() < until) await fetch(gateway).then((r) => r.text()).catch(() => {}); })();
  await page.click('text=Service graph');
  await check('the service graph draws the gateway → web edge with requests per second', async () => {
    const row = page.locator('#edges tr', { hasText: 'default/web' });
    await row.first().waitFor({ timeout: 10000 });
    await expectText(row.locator('.rps'), /^[1-9][0-9.]*$/, 10000);
  });
  await check('the graph has a labelled edge', () => expectText(page.locator('g.edge text'), /req\/s · [0-9.]+% errors · p99/));
  await load;

  await page.click('text=Events');
  await check('events page shows the scale-up', () => expectText(page.locator('#events'), /ScalingReplicaSet|SuccessfulCreate/));

  await check('landmarks and table headers for assistive tech', async () => {
    if ((await page.locator('nav[aria-label]').count()) !== 1) throw new Error('no labelled nav');
    if ((await page.locator('th:not([scope])').count()) !== 0) throw new Error('table headers without scope');
  });

  // Without a valid token the console shows only its sign-in form.
  const stranger = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  await stranger.goto(`${base}/ui/`);
  await check('no token: the sign-in form', () => stranger.locator('#login:not([hidden])').waitFor({ timeout: 5000 }));
  await stranger.fill('#token', 'wrong-token');
  await stranger.click('text=Open the console');
  await check('a wrong token is refused', () => expectText(stranger.locator('#login-error'), /not accepted/));
  await api('DELETE', '/apis/apps/v1/namespaces/default/deployments/probe');
} finally {
  await browser.close();
}
console.log(JSON.stringify({ figures }));
process.exit(failures ? 1 : 0);
