"""Screenshot of the asset graph in the Dagster UI, with Debian's headless Chromium.

    make dev                            # in one shell: the UI on http://127.0.0.1:3000
    python docs/screenshot.py [URL]     # in another; needs `pip install playwright`, `apt install chromium`

Writes docs/asset-graph.png. A documentation helper: not part of the pipeline or its tests.
"""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
OUT = Path(__file__).with_name("asset-graph.png")
ZOOM_OUT_STEPS = 1
ZOOM_OUT_DELTA = 220
PAN_DOWN = 260


def dismiss_dialogs(page) -> None:
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.first.click()  # the community dialog a fresh browser profile gets
        page.wait_for_timeout(500)


with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path="/usr/bin/chromium",
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )
    page = browser.new_page(viewport={"width": 2200, "height": 1300})
    page.goto(f"{URL}/asset-groups", wait_until="networkidle")
    page.wait_for_timeout(2000)
    dismiss_dialogs(page)
    for group in ("reference", "market_data", "hong_kong", "indices", "fundamentals"):
        matches = page.get_by_text(group, exact=True)
        boxes = [matches.nth(i).bounding_box() for i in range(matches.count())]
        graph = [b for b in boxes if b and b["x"] > 500 and b["height"] > 5]  # the box in the graph
        if graph:
            box = graph[0]
            page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # expands it
            page.wait_for_timeout(1200)
    page.get_by_role("button", name="Hide navigation").click()
    page.reload(wait_until="networkidle")  # the expanded groups are remembered; a fresh load fits the graph
    page.wait_for_timeout(3000)
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    page.mouse.move(width * 0.6, height * 0.3)
    page.keyboard.down("Control")
    for _ in range(ZOOM_OUT_STEPS):  # ctrl + wheel zooms the graph out until the whole pipeline shows
        page.mouse.wheel(0, ZOOM_OUT_DELTA)
        page.wait_for_timeout(300)
    page.keyboard.up("Control")
    page.mouse.move(width * 0.45, height * 0.3)  # drag the graph down so that its top shows
    page.mouse.down()
    page.mouse.move(width * 0.45, height * 0.3 + PAN_DOWN, steps=10)
    page.mouse.up()
    page.wait_for_timeout(1500)
    dismiss_dialogs(page)
    page.keyboard.press("Escape")
    page.wait_for_timeout(1000)
    page.screenshot(path=str(OUT))
    browser.close()
print(f"wrote {OUT}")
