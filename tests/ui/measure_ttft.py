"""Time to first token in a real browser: Enter pressed -> first answer text in the bubble.

Not a test (tests assert behaviour, not timings): a measurement for the README and the issue.

    .venv/bin/python -m tests.ui.measure_ttft http://127.0.0.1:7860/ [rounds]

The server should be warm (ask one question first, or let `rag serve` warm up). The time is
taken inside the page (performance.now() at the Enter keydown, and when the bot bubble first
holds answer text), so Playwright's own round trips are not counted.
"""

from __future__ import annotations

import statistics
import sys

from playwright.sync_api import sync_playwright

from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS

QUESTIONS = [
    "When did the US warn Russia?",
    "What did Putin call the US warning?",
    "Who claimed responsibility for the attack?",
    "How many people were killed in the concert hall attack?",
    "What is the capital of France?",
]

# Installed before Enter is pressed; leaves the time in window.ttft.
WATCH = """() => { window.ttft = null; new Promise(resolve => {
  const box = document.querySelector('#question textarea');
  let t0 = null;
  box.addEventListener('keydown', e => { if (e.key === 'Enter') t0 = performance.now(); },
                       {once: true, capture: true});
  const bots = () => document.querySelectorAll('#chat [data-testid=bot]').length;
  const before = bots();
  const obs = new MutationObserver(() => {
    const all = document.querySelectorAll('#chat [data-testid=bot]');
    if (all.length <= before || t0 === null) return;
    const text = all[all.length - 1].innerText.trim();
    if (text && !text.startsWith('Searching the articles')) {
      obs.disconnect(); resolve(performance.now() - t0);
    }
  });
  obs.observe(document.querySelector('#chat'), {subtree: true, childList: true,
                                                characterData: true});
}).then(ms => { window.ttft = ms; }); }"""


def main(url: str, rounds: int = 3) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        tab.set_default_timeout(120_000)
        tab.goto(url)
        tab.wait_for_selector("#question textarea")
        times = []
        for i in range(rounds):
            for q in QUESTIONS:
                tab.fill("#question textarea", q)
                tab.evaluate(WATCH)
                tab.keyboard.press("Enter")
                tab.wait_for_function("() => window.ttft !== null")
                ms = tab.evaluate("() => window.ttft")
                tab.wait_for_function(
                    "n => document.querySelectorAll('.src-turn').length >= n",
                    arg=i * len(QUESTIONS) + QUESTIONS.index(q) + 1)
                times.append(float(ms))
                print(f"{ms:7.1f} ms  {q}", flush=True)
        browser.close()
    times.sort()
    print(f"n={len(times)} p50={statistics.median(times):.0f} ms "
          f"p90={times[int(0.9 * (len(times) - 1))]:.0f} ms max={times[-1]:.0f} ms")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3)
