// dashboard.mjs URL TOKEN ROUTE [SCREENSHOT [CHART]]: opens the control
// plane's dashboard with TOKEN and waits until it shows ROUTE with a
// non-zero request rate and its request-rate chart drawn. Prints what it
// saw as JSON; saves the page to SCREENSHOT and the chart alone to CHART.
import { launch, fail } from "./launch.mjs";

const [url, token, route, screenshot, chartShot] = process.argv.slice(2);
if (!url || !token || !route) fail("usage: node dashboard.mjs URL TOKEN ROUTE [SCREENSHOT]");

const browser = await launch();
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${url}#token=${encodeURIComponent(token)}`);
  const row = page.locator(`[data-testid=routes] tr[data-route="${route}"]`).first();
  const deadline = Date.now() + 30000;
  let rps = 0;
  while (Date.now() < deadline) {
    if ((await row.count()) > 0) {
      rps = Number(await row.getAttribute("data-rps"));
      if (rps > 0) break;
    }
    await page.waitForTimeout(250);
  }
  if (!(rps > 0)) fail(`the dashboard never showed ${route} with traffic; status: ${await page.locator("#status").textContent()}`);
  const chart = page.locator(`svg[data-testid=chart][data-route="${route}"][data-metric=rps]`).first();
  while (Date.now() < deadline && !(Number(await chart.getAttribute("data-points")) > 0)) {
    await page.waitForTimeout(250);
  }
  const card = page.locator(`article.route[data-route="${route}"]`).first();
  const seen = {
    rps,
    rateCell: await row.locator("td.rps").textContent(),
    leaders: await page.locator("[data-testid=members] tr", { hasText: "leader" }).count(),
    workers: await page.locator("[data-testid=workers] tr").count(),
    revision: await page.locator("[data-testid=revision]").textContent(),
    addressBar: page.url(),
    chartPoints: Number(await chart.getAttribute("data-points")),
    chartLines: await chart.locator("polyline").count(),
    legend: await card.locator("ul.legend li").allTextContents(),
    rules: await card.locator("[data-testid=rules] li").allTextContents(),
    facts: await card.locator("p").first().textContent(),
    flags: await page.locator("[data-testid=flags] tr").allTextContents(),
    errors,
  };
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  if (chartShot) await chart.screenshot({ path: chartShot });
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
