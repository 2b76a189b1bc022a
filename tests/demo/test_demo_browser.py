"""The demo page in a real browser: the app served on a free loopback port, driven by headless Chromium (the
system's `chromium` and `chromedriver`, e.g. Debian's packages, through Selenium; nothing is downloaded).

Skipped, with the reason, when Selenium, Gradio, Chromium or ChromeDriver is missing; `.ci/run` installs them and
sets DFER_REQUIRE_BROWSER=1, which turns a skip into a failure. DFER_DEMO_SCREENSHOT=PATH also saves the
screenshot of a finished analysis there, and DFER_DEMO_MODEL=CHECKPOINT serves that checkpoint instead of the
tiny random one (the README's picture: the quick start's model, `outputs/sample`).
"""

import ipaddress
import json
import os
import re
import shutil
import socket
import sys
import time
import urllib.request
from pathlib import Path

import av
import pytest
from face_videos import write_face_video

from dfer.data.face_samples import write_noise_video

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT = 120  # seconds for one analysis to appear; generous for a loaded 2-core machine


def _missing() -> str | None:
    for module, install in (("selenium", "pip install selenium"), ("gradio", "pip install 'gradio>=6,<7'")):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed ({install})"
    if _chromium() is None:
        return "no Chromium on PATH (Debian: apt-get install chromium chromium-driver)"
    if shutil.which("chromedriver") is None:
        return "no chromedriver on PATH (Debian: apt-get install chromium-driver)"
    return None


def _chromium() -> str | None:
    return next((shutil.which(name) for name in CHROMIUM_NAMES if shutil.which(name)), None)


MISSING = _missing()
if MISSING and os.environ.get("DFER_REQUIRE_BROWSER") == "1":
    raise RuntimeError(f"DFER_REQUIRE_BROWSER=1 but the browser test cannot run: {MISSING}")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"browser test skipped: {MISSING}")

# Connections this process opens to anything but this machine, recorded while the demo is served (an audit hook
# cannot be removed, so it only records, and only while `_WATCHING` is set).
_OFF_MACHINE: list = []
_WATCHING: list = []


def _is_loopback(host) -> bool:
    if host in ("localhost", None, b"localhost"):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host).is_loopback
    except ValueError:  # a host name other than localhost
        return False


def _audit(event: str, args) -> None:
    # Name lookups as well as connections: without internet a lookup fails before any connection is tried.
    if not _WATCHING:
        return
    if event == "socket.getaddrinfo" and not _is_loopback(args[0]):
        _OFF_MACHINE.append(("lookup", args[0], args[1]))
    elif event == "socket.connect" and isinstance(args[1], tuple) and not _is_loopback(args[1][0]):
        _OFF_MACHINE.append(("connect", *args[1][:2]))


sys.addaudithook(_audit)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _launch_on_a_free_port(demo) -> int:
    """Launch on a port the system says is free; another process can take it first, so try a few."""
    for attempt in range(5):
        port = _free_port()
        try:
            demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
            return port
        except OSError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def app_url(tiny_checkpoint):
    from dfer.demo import build_demo

    _WATCHING.append(True)
    model = os.environ.get("DFER_DEMO_MODEL") or str(tiny_checkpoint)
    demo = build_demo(model, update_seconds=0.2, max_video_seconds=60)
    port = _launch_on_a_free_port(demo)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        demo.close()
        _WATCHING.clear()


def _write_camera_feed(path: Path, seconds: float) -> Path:
    """A Y4M file of the face video, which Chromium's fake camera plays (in a loop) as the webcam."""
    source = path.with_suffix(".mp4")
    write_face_video(source, seconds, size=(240, 320))
    with av.open(str(source)) as decoded, av.open(str(path), "w", format="yuv4mpegpipe") as feed:
        stream = feed.add_stream("rawvideo", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for frame in decoded.decode(video=0):
            frame = frame.reformat(format="yuv420p")
            frame.pts = None
            feed.mux(stream.encode(frame))
        feed.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    camera = _write_camera_feed(tmp_path_factory.mktemp("camera") / "face.y4m", 6.0)
    options = webdriver.ChromeOptions()
    options.binary_location = _chromium()
    # Headless, and no background traffic of the browser's own (updates, sync, safe browsing): on a machine
    # without internet those connections would be refused at every start. The webcam is a fake one that plays
    # `camera`, allowed without asking.
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1400,1700",
                     "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                     f"--use-file-for-fake-video-capture={camera}",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _text(driver, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


def _wait(condition, what: str, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _upload(driver, url: str, video: Path) -> str:
    from selenium.webdriver.common.by import By

    driver.get(url)
    upload = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#dfer-video input[type=file]"), "the upload box")
    upload[0].send_keys(str(video))
    # The upload has reached the server once the component shows the video (or its player).
    _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#dfer-video video"), f"the upload of {video.name}")
    return video.name


def _analyse(driver, url: str, video: Path | None, record_status: bool = False) -> str:
    """Open the page and upload `video` (None: analyse what the page already holds), press Analyse, and return
    the final status line."""
    from selenium.webdriver.common.by import By

    name = _upload(driver, url, video) if video is not None else "the recording"
    if record_status:  # every text the status line shows, as the page changes
        driver.execute_script(
            "window.dferStatus = [];"
            "const node = document.getElementById('dfer-status');"
            "new MutationObserver(() => window.dferStatus.push(node.innerText))"
            ".observe(node, {subtree: true, childList: true, characterData: true});"
        )
    driver.find_element(By.ID, "dfer-analyse").click()
    return _wait(
        lambda: next((t for t in [_text(driver, "dfer-status")] if t.startswith(("Done", "error"))), None),
        f"the analysis of {name}",
    )


def _table_rows(driver) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    # Gradio's table is an ARIA grid: a row per window, a grid cell per column.
    rows = driver.find_elements(By.CSS_SELECTOR, "#dfer-table [role=grid] [role=row][data-index]")
    return [[cell.text for cell in row.find_elements(By.CSS_SELECTOR, "[role=gridcell]")] for row in rows]


def test_an_uploaded_talking_head_gets_its_timeline(tmp_path, app_url, browser):
    from selenium.webdriver.common.by import By

    video = tmp_path / "talk.mp4"
    write_face_video(video, 4.0)
    status = _analyse(browser, app_url, video)
    assert status.startswith("Done: talk.mp4, 3 windows")
    rows = _table_rows(browser)
    assert [row[:2] for row in rows] == [["0.0", "2.0"], ["1.0", "3.0"], ["2.0", "4.0"]]
    labels = {"Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear"}
    assert all(row[2] in labels and 0 < float(row[3]) <= 1 and row[4] == "100%" for row in rows)
    assert "face found in 3 of 3 windows" in _text(browser, "dfer-summary")
    plot = browser.find_elements(By.CSS_SELECTOR, "#dfer-plot img")
    assert plot and plot[0].get_attribute("src").startswith(app_url)
    # Images load after the page has its values: wait for the plot to be decoded and for the three faces.
    _wait(lambda: browser.execute_script("return arguments[0].naturalWidth", plot[0]) > 500, "the plot to load")
    _wait(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#dfer-faces img")) == 3, "three face crops")
    links = {a.get_attribute("download"): a.get_attribute("href")
             for a in browser.find_elements(By.CSS_SELECTOR, "#dfer-downloads a[download]")}  # fmt: skip
    assert sorted(links) == ["talk.csv", "talk.json", "talk.png"]
    with urllib.request.urlopen(links["talk.csv"], timeout=30) as response:
        csv_lines = response.read().decode().splitlines()
    assert csv_lines[0].startswith("start,end,track_id,label,confidence") and len(csv_lines) == 4
    with urllib.request.urlopen(links["talk.json"], timeout=30) as response:
        assert json.loads(response.read())["video"] == "talk.mp4"  # not the server's temporary path
    browser.save_screenshot(str(tmp_path / "demo.png"))
    if os.environ.get("DFER_DEMO_SCREENSHOT"):
        shutil.copyfile(tmp_path / "demo.png", os.environ["DFER_DEMO_SCREENSHOT"])


def test_a_long_video_streams_its_windows_in(tmp_path, app_url, browser, slow_windows):
    video = tmp_path / "long.mp4"
    write_face_video(video, 20.0)
    status = _analyse(browser, app_url, video, record_status=True)
    assert status.startswith("Done: long.mp4, 19 windows")
    shown = browser.execute_script("return window.dferStatus")
    partial = [text for text in shown if text.startswith("Analysing long.mp4:") and "of 19 windows" in text]
    counts = [int(text.split(": ")[1].split(" of ")[0]) for text in partial]
    assert counts and 0 < min(counts) < 19, shown  # the page showed windows before the whole file was done


def test_a_webcam_recording_is_analysed(app_url, browser):
    from selenium.webdriver.common.by import By

    def button(xpath: str):
        return _wait(lambda: browser.find_elements(By.XPATH, f"//div[@id='dfer-video']{xpath}"), xpath)[0]

    browser.get(app_url)
    button("//button[@aria-label='Capture from camera']").click()
    button("//button[contains(., 'Access Webcam')]").click()
    button("//button[contains(., 'Record')]").click()
    button("//button[contains(., 'Stop')]")  # recording has started
    time.sleep(4.5)  # at least 3 windows of 2 s every 1 s
    button("//button[contains(., 'Stop')]").click()
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#dfer-video video[src]"), "the recording's upload")
    status = _analyse(browser, app_url, None)
    assert status.startswith("Done: ") and ".webm" in status  # the browser records WebM
    found, total = (int(n) for n in re.search(r"face found in (\d+) of (\d+) windows",
                                                _text(browser, "dfer-summary")).groups())  # fmt: skip
    assert total >= 2 and found == total  # the fake camera shows the face throughout


def test_bad_uploads_get_a_message_and_the_app_keeps_serving(tmp_path, app_url, browser):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00not a video" * 200)
    status = _analyse(browser, app_url, broken)
    assert status.startswith("error: ") and "broken.mp4" in status and "Upload a video file" in status
    assert "Traceback" not in browser.page_source
    assert _table_rows(browser) == []

    noise = write_noise_video(tmp_path / "noise.mp4", 2.5)
    status = _analyse(browser, app_url, noise)
    assert status.startswith("Done: noise.mp4")
    assert "no face found in any of the 2 windows" in _text(browser, "dfer-summary")
    assert [row[2:4] for row in _table_rows(browser)] == [["no face", ""], ["no face", ""]]

    good = tmp_path / "after.mp4"
    write_face_video(good, 2.0)
    assert _analyse(browser, app_url, good).startswith("Done: after.mp4, 1 window in")


def test_nothing_is_fetched_from_outside_this_machine(tmp_path, app_url, browser):
    video = tmp_path / "check.mp4"
    write_face_video(video, 2.0)
    assert _analyse(browser, app_url, video).startswith("Done: check.mp4")
    requested = set()  # every request of the browser since it started (or since the log was last read)
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            requested.add(message["params"].get("request", message["params"]).get("url", ""))
    web = [url for url in requested if url.split(":", 1)[0] in ("http", "https", "ws", "wss")]
    assert web, "the browser log shows no request at all"
    assert [url for url in web if not url.startswith((app_url, app_url.replace("http", "ws", 1)))] == []
    assert _OFF_MACHINE == []
