#!/usr/bin/env python3
"""Test helper: opens a job's page in Debian's Chromium (driven by Playwright) and reports, as
JSON, what a clinician would see and do.

  viewer_check.py URL SCREENSHOT

Each check draws the page for real: pixel data is read back from the canvases.
"""
import json
import sys

from playwright.sync_api import sync_playwright

# A digest of a canvas' pixels, how many differ from grey, and how many are kidney red.
CANVAS = """(id) => {
  const canvas = document.querySelector('#' + id + ' canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let hash = 0, coloured = 0, red = 0, nonBlack = 0;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
    hash = (hash * 31 + r * 7 + g * 3 + b) >>> 0;
    if (r || g || b) nonBlack++;
    if (r !== g || g !== b) coloured++;
    if (r > g + 40 && r > b + 40) red++;
  }
  return { hash, coloured, red, nonBlack, slice: document.getElementById(id).dataset.slice,
           width: canvas.width, height: canvas.height, cssWidth: canvas.getBoundingClientRect().width,
           cssHeight: canvas.getBoundingClientRect().height };
}"""


def main(url, screenshot):
    report = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(url)
        page.wait_for_function("window.viewerReady === true || window.viewerError !== undefined", timeout=60000)
        report["error"] = page.evaluate("window.viewerError || null")
        views = ["axial", "coronal", "sagittal"]
        report["views"] = {name: page.evaluate(CANVAS, name) for name in views}
        report["notice"] = page.inner_text(".notice")
        page.screenshot(path=screenshot, full_page=True)

        before = page.evaluate(CANVAS, "axial")
        page.hover("#axial")
        page.mouse.wheel(0, 120)
        page.wait_for_timeout(200)
        report["scrolled"] = page.evaluate(CANVAS, "axial")
        report["scrolled_from"] = before

        page.click("button[data-preset=bone]")
        report["bone"] = page.evaluate(CANVAS, "axial")
        report["window"] = page.inner_text("#window")

        page.uncheck("#show-kidney")
        report["kidney_hidden"] = page.evaluate(CANVAS, "axial")
        page.check("#show-kidney")

        links = page.eval_on_selector_all("a.download", "as => as.map(a => [a.textContent, a.href])")
        report["downloads"] = {text: page.evaluate("(href) => fetch(href).then(r => r.status)", href) for text, href in links}
        browser.close()
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
