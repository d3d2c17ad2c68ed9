#!/usr/bin/python3
"""Drives docker-cr serve's page in headless Chromium (Debian's chromium,
chromium-driver and python3-selenium; tests/setup-host installs them) and
prints what it saw as one JSON object on stdout, for tests/serve.rs to
check. With --shots DIR it also saves PNG screenshots of the main views.

  serve-browser.py URL --a CONTAINER/NAME --b CONTAINER/NAME [--shots DIR]
      [--checkpoint CONTAINER:NAME] [--restore CONTAINER/NAME:CLONE:PORTS]
      [--upload FILE:NAME] [--delete CONTAINER/NAME]

Steps: open the printed URL (the token logs the browser in and the page
drops it from the address bar), read the checkpoint list, the containers,
the details of A (process tree), the comparison of A and B, the host
view; then the actions asked for, each through the page's own forms and
buttons, waiting for its operation to finish; then the browser's console (a CSP violation or a script error shows
there) and document.cookie (the session cookie must not be readable).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait


# Lists are read in one script each: the page redraws them as events
# arrive, and element handles held across a redraw go stale.
ROWS = """return [...document.querySelectorAll('#checkpoints-table tbody tr')].map(r => ({
  ref: r.dataset.ref,
  size: r.querySelector('td[data-label="Size"]').innerText,
  pages: r.querySelector('td[data-label="Pages"]').innerText,
  restorable: r.querySelector('td[data-label="Restorable here"]').innerText,
  provenance: r.querySelector('td[data-label="Provenance"]').innerText,
  container: r.querySelector('td[data-label="Container"]').innerText,
  kind: r.classList.contains('group') ? 'group' : 'checkpoint',
  members: [...r.querySelectorAll('li.member')].map(m => m.dataset.member)}));"""
CONTAINERS = """return [...document.querySelectorAll('#containers-table tbody tr')].map(r => ({
  name: r.dataset.container, checkpoint: r.querySelector('td[data-label="Checkpoint"]').innerText}));"""
REFS = "return [...document.querySelectorAll('#checkpoints-table tbody tr')].map(r => r.dataset.ref);"


def browser(width, height, profile):
    o = webdriver.ChromeOptions()
    o.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={width},{height}"]:
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    svc = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=svc, options=o)


def wait(d, css, timeout=30):
    return WebDriverWait(d, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def click(d, css, timeout=30):
    """Clicks what css finds, again if a redraw replaced it meanwhile."""
    for _ in range(50):
        try:
            wait(d, css, timeout).click()
            return
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise RuntimeError(f"{css} kept going stale")


def wait_text(d, css, text, timeout=30):
    WebDriverWait(d, timeout).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))


def shot(d, shots, name):
    if shots:
        d.execute_script("window.scrollTo(0, 0)")
        # The whole page, not just the window: set the height to the page's.
        w = d.get_window_size()["width"]
        h = d.execute_script("return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)")
        d.set_window_size(w, max(min(h + 120, 2400), 700))
        d.save_screenshot(os.path.join(shots, name + ".png"))


def finish_job(d, kind, timeout=300):
    """After a form started an operation: the Operations view, until the
    newest job of that kind is no longer running. Its state and text (read
    in one script: the view is redrawn as progress arrives)."""
    js = """const a = [...document.querySelectorAll('article.job')].find(a => a.textContent.includes(arguments[0]));
            return a ? [a.dataset.state, a.textContent] : null;"""
    WebDriverWait(d, timeout).until(lambda d: (d.execute_script(js, kind) or ["running"])[0] != "running")
    state, text = d.execute_script(js, kind)
    return {"state": state, "text": text}


class ListOnly(Exception):
    """--list-only: the list is read; the rest of the run is skipped."""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--a")
    ap.add_argument("--b")
    ap.add_argument("--list-only", action="store_true", help="read the checkpoint list, then stop")
    ap.add_argument("--shots")
    ap.add_argument("--checkpoint")
    ap.add_argument("--restore")
    ap.add_argument("--upload")
    ap.add_argument("--delete")
    args = ap.parse_args()
    out = {}
    profile = tempfile.mkdtemp(prefix="dcr-chromium-")
    d = browser(1280, 900, profile)
    try:
        d.get(args.url)
        wait(d, "#checkpoints-table tbody tr")
        wait_text(d, "#live", "live")
        out["address_after_login"] = d.current_url
        out["title"] = d.title
        out["checkpoints"] = d.execute_script(ROWS)
        shot(d, args.shots, "checkpoints")
        if args.list_only:
            raise ListOnly()

        # By keyboard: Enter on a focused nav link opens its view.
        d.set_window_size(1280, 900)
        d.find_element(By.CSS_SELECTOR, 'nav a[data-view="containers"]').send_keys(Keys.ENTER)
        wait(d, "#containers-table tbody tr")
        out["containers"] = d.execute_script(CONTAINERS)
        shot(d, args.shots, "containers")

        d.set_window_size(1280, 900)
        d.find_element(By.CSS_SELECTOR, 'nav a[data-view="checkpoints"]').click()
        wait(d, "#checkpoints-table tbody tr")
        click(d, f'tr[data-ref="{args.a}"] a.cp-link')
        wait(d, "#tree")
        out["tree"] = d.find_element(By.ID, "tree").text.splitlines()
        d.find_element(By.ID, "show-log").click()
        wait(d, "#log")
        out["log_lines"] = len(d.find_element(By.ID, "log").text.splitlines())
        d.find_element(By.ID, "restore-preview").click()
        wait(d, "#restore-plan p")
        out["restore_plan"] = d.find_element(By.ID, "restore-plan").text
        # The plan of a clone, as restore --dry-run --name prints it.
        d.find_element(By.ID, "restore-name").send_keys("plan-clone")
        d.find_element(By.ID, "restore-preview").click()
        WebDriverWait(d, 30).until(lambda d: "plan-clone" in d.find_element(By.ID, "restore-plan").text)
        out["clone_plan"] = d.find_element(By.ID, "restore-plan").text
        d.find_element(By.ID, "restore-name").clear()
        shot(d, args.shots, "details")

        d.set_window_size(1280, 900)
        # Select both in the list, then compare.
        d.find_element(By.CSS_SELECTOR, 'nav a[data-view="checkpoints"]').click()
        wait(d, "#checkpoints-table tbody tr")
        for r in (args.a, args.b):
            click(d, f'[id="sel-{r}"]')
        click(d, "#compare-selected:not([disabled])")
        wait(d, "#diff-summary li")
        out["diff_summary"] = [li.text for li in d.find_elements(By.CSS_SELECTOR, "#diff-summary li")]
        out["diff_text"] = d.find_element(By.ID, "diff").text
        shot(d, args.shots, "compare")

        d.set_window_size(1280, 900)
        d.find_element(By.CSS_SELECTOR, 'nav a[data-view="host"]').click()
        wait(d, "#host-table tbody tr", timeout=60)
        out["host_items"] = len(d.find_elements(By.CSS_SELECTOR, "#host-table tbody tr"))
        shot(d, args.shots, "host")

        # A narrow screen: the tables become cards.
        d.set_window_size(390, 844)
        d.find_element(By.CSS_SELECTOR, 'nav a[data-view="checkpoints"]').click()
        wait(d, "#checkpoints-table tbody tr")
        out["narrow_thead_shown"] = d.find_element(By.CSS_SELECTOR, "#checkpoints-table thead").is_displayed()
        shot(d, args.shots, "checkpoints-narrow")

        d.set_window_size(1280, 900)
        if args.checkpoint:
            c, name = args.checkpoint.split(":", 1)
            d.find_element(By.CSS_SELECTOR, 'nav a[data-view="containers"]').click()
            click(d, f'[id="cp-{c}"]:not([disabled])')
            wait(d, "#cp-name").send_keys(name)
            d.find_element(By.ID, "cp-go").click()
            out["checkpoint_job"] = finish_job(d, "checkpoint")
            shot(d, args.shots, "operations")
            d.set_window_size(1280, 900)
        if args.restore:
            ref, clone, ports = args.restore.split(":", 2)
            c, n = ref.split("/")
            d.get(d.current_url.split("#")[0] + f"#cp/{c}/{n}")
            wait(d, "#restore-name").send_keys(clone)
            d.find_element(By.ID, "restore-ports").send_keys(ports)
            d.find_element(By.ID, "restore-go").click()
            out["restore_job"] = finish_job(d, "restore")
        if args.upload:
            f, name = args.upload.rsplit(":", 1)
            d.find_element(By.CSS_SELECTOR, 'nav a[data-view="checkpoints"]').click()
            wait(d, "#upload-file").send_keys(os.path.abspath(f))
            d.find_element(By.CSS_SELECTOR, '#upload-form input[name="name"]').send_keys(name)
            d.find_element(By.ID, "upload-go").click()
            wait(d, "#upload-result p", timeout=120)
            out["upload"] = d.find_element(By.ID, "upload-result").text
            WebDriverWait(d, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-ref$="/{name}"]'))
            out["after_upload"] = d.execute_script(REFS)
        if args.delete:
            d.find_element(By.CSS_SELECTOR, 'nav a[data-view="checkpoints"]').click()
            click(d, f'[id="del-{args.delete}"]')
            WebDriverWait(d, 10).until(EC.alert_is_present())
            d.switch_to.alert.accept()
            WebDriverWait(d, 30).until(lambda d: not d.find_elements(By.CSS_SELECTOR, f'tr[data-ref="{args.delete}"]'))
            out["after_delete"] = d.execute_script(REFS)
            out["delete_notice"] = d.find_element(By.ID, "notice").text

        out["document_cookie"] = d.execute_script("return document.cookie")
    except ListOnly:
        pass
    finally:
        # Script errors and CSP violations, read once (reading empties it).
        try:
            out["console"] = [e.get("message", "") for e in d.get_log("browser") if e.get("level") in ("SEVERE", "WARNING")]
        except Exception:  # the browser is gone: the run has failed already
            pass
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
