// Headless Chromium through the Temporal Web UI, one step per call:
//   node shoot.mjs page <url> <png> [text to wait for]
//   node shoot.mjs list <list url> <png> <text to wait for> <column>...
//   node shoot.mjs signal <workflow url> <png> <signal name> <json input>
//   node shoot.mjs refused <url> <png> <text to wait for>   (the sign-in itself is refused)
// Each step also writes what the page said (its text) beside the picture, as <png>.txt.
// With LOGIN_USER and LOGIN_PASSWORD set, a step that lands on the identity provider's
// sign-in page signs in there first, as a person would, and goes on where the UI sends it.
// Called by tools/screenshots (python), which runs the stack and checks the outcome.
import { writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [step, url, png, ...rest] = process.argv.slice(2);
// TRUST_SPKI: the codec endpoint's self-signed certificate (its public key's hash), trusted
// alone -- the UI passes a signed-in user's token to an https:// codec endpoint only.
const trust = process.env.TRUST_SPKI ? [`--ignore-certificate-errors-spki-list=${process.env.TRUST_SPKI}`] : [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ...trust,
  ],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
// What went wrong in the page (a codec call refused, a script error), for whoever reads the log.
page.on("console", (message) => {
  if (message.type() === "error") console.error(`page: ${message.text()}`);
});
page.on("response", async (response) => {
  if (response.status() >= 400 && !new URL(response.url()).pathname.startsWith("/auth/")) {
    const body = await response.text().catch(() => "");
    console.error(`answer ${response.status()}: ${response.request().method()} ${response.url()} ${body.slice(0, 300)}`);
  }
});
page.on("requestfailed", (request) => {
  console.error(`request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText}`);
});
async function signIn() {
  // Keycloak's sign-in form; the UI server sends the browser there (redirectToProvider).
  const user = page.locator("#username");
  await user.waitFor({ timeout: 30000 });
  await user.fill(process.env.LOGIN_USER);
  await page.locator("#password").fill(process.env.LOGIN_PASSWORD);
  await page.locator("#kc-login").click();
  if (step === "refused") return; // the provider's page says why; the step waits for it
  await page.waitForURL((next) => next.origin === new URL(url).origin && !next.pathname.startsWith("/auth/"), { timeout: 30000 });
}

try {
  await page.goto(url, { waitUntil: "load" });
  if (process.env.LOGIN_USER) await signIn();
  await page.waitForTimeout(3000); // the UI fetches and decodes after load
  if (step === "page" || step === "refused") {
    if (rest[0]) await page.getByText(rest[0], { exact: false }).first().waitFor({ timeout: 30000 });
    await page.screenshot({ path: png, fullPage: false });
  } else if (step === "list") {
    // The UI of the dev server (2.54) offers no Summary column in its list; the columns it
    // can add are the search attributes, so the list shows the order through those. The
    // choice lives in the browser's storage, hence in the same page as the picture. The
    // columns taken out make room for the order's in the picture's width.
    const [text, ...columns] = rest;
    await page.getByTestId("workflows-summary-table-configuration-button").first().click();
    for (const column of ["Run ID", "Type", "Start", "End"]) {
      await page.getByTestId(`orderable-list-item-${column}-remove-button`).click();
    }
    for (const column of columns) {
      await page.getByTestId(`orderable-list-item-${column}-add-button`).click();
    }
    await page.getByTestId("drawer-close-button").click();
    await page.getByText(text, { exact: false }).first().waitFor({ timeout: 30000 });
    await page.waitForTimeout(500);
    await page.screenshot({ path: png, fullPage: false });
  } else if (step === "signal") {
    const [name, input] = rest;
    await page.getByRole("button", { name: /More Actions/i }).first().click();
    await page.getByText(/Send a Signal/i).filter({ visible: true }).first().click();
    const dialog = page.locator("dialog[open], [role=dialog]").filter({ visible: true }).first();
    await dialog.waitFor();
    await page.getByTestId("signal-select-button").filter({ visible: true }).first().click();
    await page.locator("#signal-select-select").getByText(name, { exact: true }).filter({ visible: true }).first().click();
    const editor = dialog.locator(".cm-content, textarea, [contenteditable=true]").filter({ visible: true }).first();
    await editor.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.type(input);
    await page.screenshot({ path: png, fullPage: false });
    await page.getByTestId("confirm-modal-button").filter({ visible: true }).first().click();
    await page.waitForTimeout(1500);
  } else {
    throw new Error(`unknown step ${step}`);
  }
  writeFileSync(png.replace(/\.png$/, ".txt"), await page.innerText("body"));
} catch (error) {
  // What the page showed when a step failed, for whoever fixes the selector.
  await page.screenshot({ path: png.replace(/\.png$/, "-failed.png") }).catch(() => {});
  const text = await page.innerText("body").catch(() => "");
  writeFileSync(png.replace(/\.png$/, "-failed.txt"), text);
  const html = await page.locator("dialog[open], [role=dialog]").first().innerHTML().catch(() => "");
  if (html) (await import("node:fs")).writeFileSync(png.replace(/\.png$/, "-failed.html"), html);
  throw error;
} finally {
  await browser.close();
}
