// MQTT.js inside headless Chromium: loads PAGE_URL (a page the Go test
// serves with MQTT.js's browser bundle), which connects over WebSocket,
// subscribes, publishes and receives, and sets window.mqttResult.
// Usage: node browser_mqttjs.js PAGE_URL
// Prints "SUBSCRIBED" when the page has subscribed (the Go test then
// publishes over TCP) and "RESULT {json}" at the end.
"use strict";
const { launch, main } = require("./browser.js");

main(async () => {
  const b = await launch();
  try {
    await b.page.goto(process.argv[2]);
    await b.page.waitForFunction(() => window.mqttSubscribed === true);
    console.log("SUBSCRIBED");
    await b.page.waitForFunction(() => window.mqttResult !== undefined, null, { timeout: 20000 });
    const result = await b.page.evaluate(() => window.mqttResult);
    if (result.error) throw new Error("page: " + result.error);
    if (b.errors.length) throw new Error("errors in the page:\n" + b.errors.join("\n"));
    console.log("RESULT " + JSON.stringify(result));
  } finally {
    await b.close();
  }
});
