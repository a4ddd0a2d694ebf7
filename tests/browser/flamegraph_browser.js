// Drives a flame graph SVG written by `sampler flamegraph` in headless Chromium and checks what a
// person would do with it: load, hover, zoom, reset, search, and that hostile names stay text.
// Run by flamegraph_browser.cpp, which installs Chromium and playwright-core first.
//
// usage: node flamegraph_browser.js CHROMIUM SVG
// The SVG must come from tests/browser/names.folded (the expectations below are its numbers).
"use strict";

const { chromium } = require("playwright-core");
const { pathToFileURL } = require("url");

const [executablePath, svgPath] = process.argv.slice(2);
const total = 135; // samples in names.folded

// Every wait polls the page for a condition; none of them sleeps a fixed time, so a slow machine
// only makes the run longer, never wrong.
const waitTimeoutMs = 30000;

class Failure extends Error {}

function check(condition, message) {
    if (!condition) {
        throw new Failure(message);
    }
}

function percent(samples) {
    return ((100 * samples) / total).toFixed(2);
}

// A CSS attribute selector for the frame with this exact name. JSON string escapes for `"` and
// `\` are valid CSS escapes, and the names used here hold no control characters.
function frameSelector(name) {
    return `g.frame[data-name=${JSON.stringify(name)}]`;
}

async function main() {
    const browser = await chromium.launch({
        executablePath,
        headless: true,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 400 } });
        page.setDefaultTimeout(waitTimeoutMs);
        await run(page);
    } finally {
        await browser.close();
    }
}

// Kept outside run() so that any failure can show them: an error in the graph's script is often
// the reason a later check fails.
const consoleErrors = [];

async function run(page) {
    page.on("console", (message) => {
        if (message.type() === "error") {
            consoleErrors.push(message.text());
        }
    });
    page.on("pageerror", (error) => consoleErrors.push(String(error)));

    // The only dialogs the graph may open are the search prompts this test asks for.
    const unexpectedDialogs = [];
    const promptAnswers = [];
    page.on("dialog", async (dialog) => {
        if (dialog.type() === "prompt" && promptAnswers.length > 0) {
            await dialog.accept(promptAnswers.shift());
        } else {
            unexpectedDialogs.push(`${dialog.type()}: ${dialog.message()}`);
            await dialog.dismiss();
        }
    });

    const waitFor = async (description, predicate, argument) => {
        try {
            await page.waitForFunction(predicate, argument, { timeout: waitTimeoutMs, polling: "raf" });
        } catch (error) {
            throw new Failure(`timed out waiting until ${description}`);
        }
    };
    const textOf = (selector) => page.locator(selector).textContent();
    const boxOf = async (name) => page.locator(`${frameSelector(name)} > rect`).boundingBox();
    const layout = async () =>
        page.evaluate(() => {
            const frames = document.getElementById("frames");
            return {
                left: Number(frames.getAttribute("data-left")),
                width: Number(frames.getAttribute("data-graph-width")),
            };
        });
    const near = (a, b) => Math.abs(a - b) < 0.75;
    const waitForWidth = (description, name, width) =>
        waitFor(description, ([selector, expected]) => {
            const rect = document.querySelector(`${selector} > rect`);
            return Math.abs(rect.getBoundingClientRect().width - expected) < 0.75;
        }, [frameSelector(name), width]);

    // --- Loads without errors: the script ran and found its elements.
    const response = await page.goto(pathToFileURL(svgPath).href, { waitUntil: "load" });
    check(response === null || response.ok(), "the SVG did not load");
    check((await page.evaluate(() => document.documentElement.localName)) === "svg",
          "the document is not an SVG document (did it parse as XML?)");
    const graph = await layout();
    check(graph.width > 0, "the frames group carries no data-graph-width");

    // --- Hover shows the frame's details line.
    for (const [name, samples] of [["inner_loop", 60], ['parse_"quoted"_&_more', 10], ["größe_berechnen_λ_日本", 20]]) {
        await page.hover(`${frameSelector(name)} > rect`);
        const expected = `${name} (${samples} samples, ${percent(samples)}%)`;
        await waitFor(`hovering ${name} shows "${expected}"`,
                      (text) => document.getElementById("details").textContent === text, expected);
    }
    await page.mouse.move(1, 1);
    await waitFor("leaving the frames clears the details line",
                  () => document.getElementById("details").textContent.trim() === "");

    // --- Click zooms: the clicked frame spans the graph, its subtree scales with it, the rest hides.
    const before = await boxOf("compute");
    check(near(before.width, (90 / total) * graph.width), `compute is ${before.width}px wide before zooming`);
    await page.click(`${frameSelector("compute")} > rect`);
    await waitForWidth("the clicked frame spans the whole width", "compute", graph.width);
    const zoomed = await boxOf("compute");
    check(near(zoomed.x, graph.left), `the zoomed frame starts at ${zoomed.x}, not at the graph's left edge`);
    const child = await boxOf("inner_loop");
    check(near(child.width, (60 / 90) * graph.width), `a child of the zoomed frame is ${child.width}px wide`);
    check(!(await page.locator(frameSelector("größe_berechnen_λ_日本")).isVisible()),
          "a frame outside the zoomed subtree is still visible");
    check(await page.locator("#unzoom").isVisible(), "Reset Zoom is not offered after a zoom");

    // --- Reset restores the whole graph.
    await page.click("#unzoom");
    await waitForWidth("Reset Zoom restores the frame's width", "compute", before.width);
    const restored = await boxOf("compute");
    check(near(restored.x, before.x), `after Reset Zoom the frame starts at ${restored.x}, not ${before.x}`);
    check(await page.locator(frameSelector("größe_berechnen_λ_日本")).isVisible(),
          "after Reset Zoom a frame outside the zoomed subtree is still hidden");
    check(!(await page.locator("#unzoom").isVisible()), "Reset Zoom is still shown after resetting");

    // --- Search highlights the matches and shows the share of samples they cover.
    const matchFill = "rgb(224, 0, 224)";
    const matchingNames = ["<script>alert(1)</script>", "<script>window.injected = true</script>", "größe_berechnen_λ_日本"];
    promptAnswers.push("^<script>|größe");
    await page.click("#search");
    const expectedMatched = `Matched: ${percent(25 + 10 + 20)}%`;
    await waitFor(`the search result reads "${expectedMatched}"`,
                  (text) => document.getElementById("matched").textContent === text, expectedMatched);
    check(await page.locator("#matched").isVisible(), "the matched percentage is not visible");
    const highlighted = await page.evaluate(() =>
        Array.from(document.querySelectorAll("g.frame"))
            .filter((frame) => frame.classList.contains("match"))
            .map((frame) => ({
                name: frame.getAttribute("data-name"),
                fill: getComputedStyle(frame.querySelector("rect")).fill,
            })));
    check(JSON.stringify(highlighted.map((frame) => frame.name).sort()) === JSON.stringify(matchingNames.slice().sort()),
          `the search highlighted ${JSON.stringify(highlighted.map((frame) => frame.name))}`);
    for (const frame of highlighted) {
        check(frame.fill === matchFill, `the match ${frame.name} is drawn in ${frame.fill}, not ${matchFill}`);
    }
    const plainFill = await page.evaluate((selector) => getComputedStyle(document.querySelector(`${selector} > rect`)).fill,
                                          frameSelector("inner_loop"));
    check(plainFill !== matchFill, "a frame that does not match is drawn as a match");

    await page.click("#reset-search");
    await waitFor("Reset Search clears the highlight",
                  () => document.querySelectorAll("g.frame.match").length === 0 &&
                        getComputedStyle(document.getElementById("matched")).display === "none");

    // Ctrl-F opens the same search instead of the browser's find; Escape clears it.
    promptAnswers.push("inner_loop");
    await page.keyboard.press("Control+f");
    const expectedInner = `Matched: ${percent(60)}%`;
    await waitFor(`Ctrl-F searches, and the result reads "${expectedInner}"`,
                  (text) => document.getElementById("matched").textContent === text &&
                            getComputedStyle(document.getElementById("matched")).display !== "none", expectedInner);
    await page.keyboard.press("Escape");
    await waitFor("Escape clears the search", () => document.querySelectorAll("g.frame.match").length === 0);

    // --- Hostile names are text: nothing they hold ran, and they read as written.
    const scriptName = "<script>alert(1)</script>";
    const label = page.locator(`${frameSelector(scriptName)} > text`);
    check((await label.textContent()) === scriptName, `the label reads ${JSON.stringify(await label.textContent())}`);
    const labelBox = await label.boundingBox();
    check(labelBox !== null && labelBox.width > 0, "the label of the <script> frame is not drawn");
    // Zooming rewrites labels from data-name, so the cut label of this frame now shows in full.
    const injectedName = "<script>window.injected = true</script>";
    await page.click(`${frameSelector(injectedName)} > rect`);
    await waitFor("zooming shows the hostile name in full, as text",
                  ([selector, text]) => document.querySelector(`${selector} > text`).textContent === text,
                  [frameSelector(injectedName), injectedName]);
    await page.click("#unzoom");
    const injected = await page.evaluate(() => ({
        flag: typeof window.injected,
        scripts: document.getElementsByTagName("script").length,
    }));
    check(unexpectedDialogs.length === 0, `a script inside a frame name ran: ${unexpectedDialogs.join("; ")}`);
    check(injected.flag === "undefined", "a script inside a frame name ran (window.injected is set)");
    check(injected.scripts === 1, `the document holds ${injected.scripts} script elements, not only its own`);
    check(consoleErrors.length === 0, "console errors");
}

main().then(
    () => console.log("flamegraph browser checks passed"),
    (error) => {
        console.error(error instanceof Failure ? `FAIL: ${error.message}` : error);
        for (const message of consoleErrors) {
            console.error(`console error: ${message}`);
        }
        process.exit(1);
    });
