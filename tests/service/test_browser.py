"""The web page in a real headless Chromium (Selenium and Debian's chromium-driver) against a live server and the
test artifact: typed German is translated, a selected sentence's attention heatmap has one cell per (target
piece, source piece) of the alignment /translate returns, and a file uploaded through the page comes back
translated. Skips, saying why, where no Chromium or chromedriver is installed (`.ci/run` installs them as root).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.live import LiveServer, sample_value

TEXT = "Der mann sieht den roten ball und springt. Ein kind läuft."  # two sentences of different lengths
WAIT_S = 30


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        missing = " and ".join(name for name, path in (("chromium", chromium), ("chromedriver", driver_path))
                               if path is None)
        pytest.skip(f"{missing} not found (apt-get install chromium chromium-driver): the page's browser test "
                    "did not run")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the [test] extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1400", "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: Any, condition: Any, message: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(condition, message)


def test_page_translates_and_draws_attention(browser: Any, server: LiveServer, client: httpx.Client,
                                            tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    api = client.post("/translate", json={"q": TEXT, "source": "de", "target": "en", "alternatives": 2,
                                          "return_alignment": True}).json()
    sentences = api["sentences"]
    assert len(sentences) == 2
    cells = [len(s["alignment"]) * len(s["alignment"][0]) for s in sentences]
    assert cells[0] != cells[1]  # so that the cells counted below are the selected sentence's
    for s in sentences:
        assert len(s["alignment"]) == len(s["target_tokens"]) + 1  # a row for EOS too
        assert all(len(row) == len(s["source_tokens"]) for row in s["alignment"])

    browser.get(server.url + "/")
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true",
         "the page did not load the languages")
    Select(browser.find_element(By.ID, "source")).select_by_value("de")
    Select(browser.find_element(By.ID, "target")).select_by_value("en")
    browser.find_element(By.ID, "input").send_keys(TEXT)
    output = browser.find_element(By.ID, "output")
    wait(browser, lambda d: output.text == api["translatedText"],
         f"the translation did not appear: {output.text!r} (expected {api['translatedText']!r})")
    alternatives = browser.find_elements(By.CSS_SELECTOR, "#alternatives li")
    assert [li.text for li in alternatives] == api["alternatives"]

    items = browser.find_elements(By.CSS_SELECTOR, "#sentences li[data-index]")
    assert len(items) == 2
    items[1].click()
    wait(browser, lambda d: d.find_element(By.ID, "heatmap").get_attribute("data-sentence") == "1",
         "the heatmap of the selected sentence was not drawn")
    selected = sentences[1]
    drawn = browser.find_elements(By.CSS_SELECTOR, "#heatmap td.cell")
    assert len(drawn) == cells[1] == len(selected["alignment"]) * len(selected["source_tokens"])
    heads = browser.find_elements(By.CSS_SELECTOR, "#heatmap thead th.src")
    assert [th.get_attribute("textContent") for th in heads] == selected["source_tokens"]
    rows = browser.find_elements(By.CSS_SELECTOR, "#heatmap tbody th.tgt")
    assert [th.get_attribute("textContent") for th in rows] == [*selected["target_tokens"], "</s>"]
    last = drawn[-1]
    t, s = int(last.get_attribute("data-row")), int(last.get_attribute("data-col"))
    assert (t, s) == (len(selected["alignment"]) - 1, len(selected["source_tokens"]) - 1)
    assert float(last.get_attribute("data-weight")) == pytest.approx(selected["alignment"][t][s], abs=1e-4)

    screenshot = tmp_path / "page.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    items[0].click()
    wait(browser, lambda d: d.find_element(By.ID, "heatmap").get_attribute("data-sentence") == "0",
         "selecting the first sentence did not redraw the heatmap")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#heatmap td.cell")) == cells[0]

    browser.find_element(By.ID, "copy").click()
    wait(browser, lambda d: d.find_element(By.ID, "copy-status").text == "Copied", "the copy button did nothing")

    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not severe, severe  # no script error, no refused request, no policy violation


def test_page_uploads_a_file(browser: Any, server: LiveServer, client: httpx.Client, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    text = "Ein hund läuft im park.\nDie frau sieht den kleinen hund.\n"
    expected = client.post("/translate", json={"q": text, "source": "de", "target": "en"}).json()["translatedText"]
    source = tmp_path / "brief.txt"
    source.write_text(text, encoding="utf-8")

    browser.get(server.url + "/")
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true",
         "the page did not load the languages")
    Select(browser.find_element(By.ID, "source")).select_by_value("de")
    browser.find_element(By.ID, "file").send_keys(str(source))
    link = browser.find_element(By.ID, "file-link")
    wait(browser, lambda d: link.is_displayed(),
         f"no download link: {browser.find_element(By.ID, 'file-status').text!r}")
    url = link.get_attribute("href")
    assert url.startswith(server.url + "/download_file/") and link.get_attribute("download") == "brief.txt"
    assert httpx.get(url).text == expected
    assert httpx.get(url).status_code == 404  # once


def translate_requests(url: str) -> float:
    return sample_value(httpx.get(url + "/metrics").text, "seq2seq_requests_total", route="/translate", method="POST",
                        status="200")


def test_page_waits_for_typing_to_pause_and_detects_the_language(browser: Any, server: LiveServer,
                                                                  client: httpx.Client) -> None:
    """Translation while typing is debounced (`frontendTimeout` of /frontend/settings): a sentence typed key by
    key is one request, not one per key; with "auto" the page shows the language the server detected."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    text = "Ein kind läuft."
    api = client.post("/translate", json={"q": text, "source": "auto", "target": "en", "alternatives": 2,
                                          "return_alignment": True}).json()  # what the page asks
    assert api["detectedLanguage"]["language"] == "de"
    delay_ms = client.get("/frontend/settings").json()["frontendTimeout"]
    browser.get(server.url + "/")
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true",
         "the page did not load the languages")
    Select(browser.find_element(By.ID, "source")).select_by_value("auto")
    Select(browser.find_element(By.ID, "target")).select_by_value("en")
    before = translate_requests(server.url)
    box = browser.find_element(By.ID, "input")
    started = time.monotonic()
    for key in text:  # one key at a time, each an input event, well within the page's delay of each other
        box.send_keys(key)
    typing_s = time.monotonic() - started
    output = browser.find_element(By.ID, "output")
    wait(browser, lambda d: output.text == api["translatedText"],
         f"the translation did not appear: {output.text!r} (expected {api['translatedText']!r}; the page says "
         f"{browser.find_element(By.ID, 'status').text!r})")
    detected = browser.find_element(By.ID, "detected").text
    assert detected.startswith("· detected de ("), detected
    time.sleep(delay_ms / 1000 + 0.5)  # anything still scheduled has been sent by now
    sent = translate_requests(server.url) - before
    # a request goes out only after a pause of the delay between keys, and once at the end: never one per key
    pauses = int(typing_s / (delay_ms / 1000))
    assert 1 <= sent <= 1 + pauses and sent < len(text), (sent, typing_s)
