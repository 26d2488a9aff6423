// The dashboard in headless Chromium, used as a person would.
// Usage: node dashboard.js DASHBOARD_URL TOKEN SCREENSHOT_PATH
// The Go test has connected "go-watcher" (subscribed to web/dash/#) and
// "victim", retained house/kitchen/temp = 21.5, and publishes load
// messages all along. Each step prints a line; the last is "RESULT {json}".
"use strict";
const { launch, main } = require("./browser.js");

const [url, token, shot] = process.argv.slice(2);

main(async () => {
  const b = await launch();
  const page = b.page;
  const step = (s) => console.log(s);
  try {
    await page.goto(url);

    // A token is configured: the page asks for it before anything else.
    await page.locator("#token-dialog[open]").waitFor();
    await page.fill("#token-input", token);
    await page.click("#token-form button[type=submit]");
    step("TOKEN");

    // The clients table shows the client the test connected.
    await page.locator('#clients-table tr[data-client="go-watcher"]').waitFor();
    step("CLIENT_SHOWN");

    // The live stream shows a message rate while the test publishes.
    await page.waitForFunction(() => parseFloat(document.querySelector("#t-in").textContent.replace(/,/g, "")) > 0);
    const rate = await page.textContent("#t-in");
    step("RATE " + rate);
    await page.locator("#live.on").waitFor();

    // The topic tree shows the retained value.
    await page.locator('#topic-tree .leaf[data-topic="house/kitchen/temp"] code', { hasText: "21.5" }).waitFor();
    step("TOPIC_SHOWN");

    // Search narrows the table; Disconnect removes the client.
    await page.fill("#client-search", "vict");
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll("#clients-table tbody tr")];
      return rows.length === 1 && rows[0].dataset.client === "victim";
    });
    step("SEARCH");
    await page.click('#clients-table button[data-client="victim"]');
    await page.locator('#clients-table tr[data-client="victim"]').waitFor({ state: "detached" });
    step("DISCONNECTED");
    await page.fill("#client-search", "");

    // Try it: connect over WebSocket, subscribe, publish, see the message.
    const wsURL = await page.inputValue("#try-url");
    if (!wsURL.startsWith("ws://")) throw new Error("try-it URL not filled in: " + JSON.stringify(wsURL));
    await page.click("#try-connect-btn");
    await page.locator("#try-state.on").waitFor();
    await page.fill("#try-sub-filter", "web/dash/#");
    await page.click("#try-sub button");
    await page.locator("#try-log li", { hasText: "Subscribed to web/dash/#" }).waitFor();
    await page.fill("#try-pub-topic", "web/dash/hello");
    await page.fill("#try-pub-payload", "hello from the try-it panel");
    await page.click("#try-pub button");
    await page.locator("#try-log li.msg", { hasText: "hello from the try-it panel" }).waitFor();
    step("TRYIT");

    // The try-it client is in the table too.
    await page.locator('#clients-table tr[data-client^="dashboard-"]').waitFor();

    // Let the charts gather a few seconds of points, then take the picture.
    await page.waitForFunction(() => document.querySelector("#live.on") !== null);
    await page.waitForTimeout(4000);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: shot, fullPage: true });
    step("SCREENSHOT " + shot);

    if (b.errors.length) throw new Error("errors in the page:\n" + b.errors.join("\n"));
    console.log("RESULT " + JSON.stringify({ rate, tryItURL: wsURL, screenshot: shot }));
  } catch (e) {
    await page.screenshot({ path: shot.replace(/\.png$/, "-failed.png"), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await b.close();
  }
}, 55000);
