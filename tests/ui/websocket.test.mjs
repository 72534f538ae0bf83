// A WebSocket from headless Chromium through a skiff HTTPS Gateway: the page is loaded over the
// Gateway (HTTP/2 by ALPN), then the page opens wss:// to the same origin, sends a message and
// prints the reply. Usage: node websocket.test.mjs HOST PORT PATH   (HOST resolves to 127.0.0.1)
import { chromium } from 'playwright-core';

const [host, port, path] = process.argv.slice(2);
const origin = `https://${host}:${port}`;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', `--host-resolver-rules=MAP ${host} 127.0.0.1`],
});
let code = 0;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  await page.goto(origin + '/');
  const reply = await page.evaluate(
    (url) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        const timer = setTimeout(() => reject(new Error('no reply within 10 s')), 10000);
        ws.onopen = () => ws.send('hello');
        ws.onmessage = (e) => {
          clearTimeout(timer);
          ws.close();
          resolve(String(e.data));
        };
        ws.onerror = () => reject(new Error('the WebSocket failed'));
      }),
    `wss://${host}:${port}${path}`,
  );
  console.log('reply: ' + reply);
} catch (e) {
  console.log('FAIL ' + String(e.message || e).split('\n')[0]);
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
