#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The console in a real headless Chromium (selenium + chromedriver) against a running
cairn serve. ui.sh sets everything up and passes it in the environment; this prints one
line per check, "ok - ..." or "not ok - ...", which ui.sh turns into TAP.

Environment: UI_URL (https://127.0.0.1:PORT), UI_ROOT (CA root PEM), UI_TOKEN_{ADMIN,OPS,
ALICE,BOB,AUDREY}, UI_CSR (PEM of a request the policy holds for 2 approvals), UI_XSS_SERIAL,
UI_PENDING (a request id left pending), UI_ARTIFACTS (screenshots), UI_WORK (temp dir),
UI_FAKETIME (libfaketime offset file the daemon reads at every clock call), UI_CERT_NAME
(the admin whose client certificate Chromium presents, by policy; empty: not tested),
UI_CERT_HOME (the HOME whose NSS database holds that certificate, for that browser only).
"""
import concurrent.futures
import http.server
import json
import os
import re
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException, StaleElementReferenceException,
                                        TimeoutException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

URL = os.environ["UI_URL"]
ROOT = os.environ["UI_ROOT"]
ART = os.environ["UI_ARTIFACTS"]
WORK = os.environ["UI_WORK"]
TOK = {k: os.environ["UI_TOKEN_" + k.upper()] for k in ("admin", "ops", "alice", "bob", "audrey")}
COOKIE = "__Host-cairn_session"
TLS = ssl.create_default_context(cafile=ROOT)
failed = 0
drivers = []


def check(cond, desc, detail=""):
    global failed
    print(("ok - " if cond else "not ok - ") + desc, flush=True)
    if not cond:
        failed += 1
        lines = str(detail).splitlines()
        if len(lines) > 20:  # a traceback's last lines name the error: keep them
            lines = lines[:5] + ["..."] + lines[-14:]
        for line in lines:
            print("# " + line, flush=True)


def driver(name, home=None):
    downloads = os.path.join(WORK, "dl-" + name)
    os.makedirs(downloads, exist_ok=True)
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000",
              "--user-data-dir=" + os.path.join(WORK, "profile-" + name),
              "--no-first-run", "--disable-background-networking", "--disable-sync",
              "--disable-component-update", "--disable-default-apps"):
        o.add_argument(a)
    o.add_experimental_option("prefs", {"download.default_directory": downloads,
                                        "download.prompt_for_download": False})
    o.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # HOME picks the NSS database (trusted CA; client certificates).
    env = dict(os.environ, HOME=home) if home else None
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver", env=env), options=o)
    d.set_page_load_timeout(30)
    # Headless Chromium saves downloads only when told where (the prefs alone are not enough).
    d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
    d.downloads = downloads
    drivers.append(d)
    return d


# Each browser takes seconds to start (chromedriver, then Chromium: 3-5 s each of the six on
# a loaded machine, half of the run's time when they started one after the other as their
# parts began). They start one at a time on a thread of their own, from the beginning of
# the run, in the order their parts come, while the run goes on with those already up;
# a part takes its browser when it begins (later() and take()).
STARTER = concurrent.futures.ThreadPoolExecutor(max_workers=1)
started = {}


def later(name, home=None):
    started[name] = STARTER.submit(driver, name, home)


def take(name):
    return started.pop(name).result()


# Waits end when the condition holds; the bound is for a loaded machine (2 cores shared
# with a sanitizer build), not a speed goal. The condition is tried every 0.1 s, not
# selenium's 0.5 s: the run has some forty waits, most of them over within a poll.
def wait(d, cond, t=60):
    return WebDriverWait(d, t, poll_frequency=0.1).until(cond)


def css(d, sel):
    return wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, sel)))


def visible(d, sel):
    return wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, sel)))


def table_rows(d, sel):
    """The cells' texts of each body row of the table under sel."""
    return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in d.find_elements(By.CSS_SELECTOR, sel + " tbody tr")]


def not_after(pem):
    """A certificate file's notAfter as the console writes times (2036-12-05T12:00:00Z)."""
    out = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", pem],
                         capture_output=True, text=True).stdout.strip()
    t = time.strptime(out.split("=", 1)[1], "%b %d %H:%M:%S %Y GMT")
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", t)


def text_in(d, sel, text):
    return wait(d, EC.text_to_be_present_in_element((By.CSS_SELECTOR, sel), text))


def go(d, frag):
    d.get(URL + "/ui/#/" + frag)


def sign_in(d, who):
    d.get(URL + "/ui/")
    field = visible(d, "#signin-form input")
    # Keyboard only: the token field has the focus, Enter submits.
    active = d.switch_to.active_element
    ok = active == field
    active.send_keys(TOK[who] + Keys.ENTER)
    text_in(d, "#who", "(")
    return ok


def api(method, path, cookie=None, token=None, body=None, headers=None):
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = COOKIE + "=" + cookie
    if token:
        h["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(URL + "/admin/v1" + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, context=TLS, timeout=15) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def fetch_in_page(d, method, path, with_csrf, body):
    """Runs fetch() inside the page (the session's cookie goes along); returns the status."""
    return d.execute_async_script("""
        const [method, path, withCsrf, body, done] = arguments;
        const h = {'Content-Type': 'application/json'};
        if (withCsrf) h['X-CSRF-Token'] = state.csrf;
        fetch(path, {method, headers: h, body: JSON.stringify(body), credentials: 'same-origin'})
            .then(r => done(r.status), e => done('error ' + e));
    """, method, "/admin/v1" + path, with_csrf, body)


def set_value(d, el, value):
    d.execute_script("arguments[0].value = arguments[1];", el, value)


def outside_requests(d):
    """(count, URLs) of what the console's pages requested (network log), and which of
    those were not the daemon's own. The browser's own start page (chrome://) is not ours."""
    seen, out = 0, []
    for entry in d.get_log("performance"):
        m = json.loads(entry["message"])["message"]
        if m.get("method") != "Network.requestWillBeSent":
            continue
        if not m["params"].get("documentURL", "").startswith(URL + "/"):
            continue
        seen += 1
        u = m["params"]["request"]["url"]
        if not (u.startswith(URL + "/") or u.startswith("data:") or u.startswith("blob:")):
            out.append(u)
    return seen, out


def unlabelled(d):
    return d.execute_script("""
        return Array.from(document.querySelectorAll('main input, main select, main textarea'))
            .filter(e => e.type !== 'hidden' && e.labels.length === 0).map(e => e.outerHTML);""")


def no_alert(d):
    try:
        d.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


def hold_stats(d):
    """The page's next /stats request goes out at once; its answer reaches the page only
    when release_stats lets it through."""
    d.execute_script("""
        const real = window.fetch;
        window.heldStats = null;
        window.statsDelivered = false;
        window.fetch = (url, opts) => {
            if (!String(url).endsWith('/stats') || window.heldStats) return real(url, opts);
            const answer = real(url, opts);
            return new Promise((deliver) => {
                window.heldStats = () => answer.then((r) => { deliver(r); return r.clone().text(); })
                    .then(() => { window.statsDelivered = true; });
            });
        };""")


def release_stats(d):
    """Lets the held /stats answer through; True if the dashboard then drew itself."""
    d.execute_script("window.heldStats()")
    wait(d, lambda d: d.execute_script("return window.statsDelivered === true"))
    try:  # the dashboard draws within microseconds of its data, if it draws at all
        WebDriverWait(d, 2).until(lambda d: d.find_elements(By.ID, "count-valid"))
        return True
    except TimeoutException:
        return False


def shot(d, name):
    d.save_screenshot(os.path.join(ART, name + ".png"))


def cert_sign_in():
    """Sign-in with the admin client certificate the browser presents (ui.sh put it in the
    NSS database and set the AutoSelectCertificateForUrls policy); then sign-out."""
    name = os.environ["UI_CERT_NAME"]
    d = take("cert")
    d.get(URL + "/ui/")
    try:
        button = visible(d, "#signin-cert")
        offered = name in d.find_element(By.CSS_SELECTOR, ".signin strong").text
    except TimeoutException:
        button, offered = None, False
    check(offered, "the browser presents %s's admin certificate: the page offers "
          "\"Sign in with this certificate\"" % name, d.find_element(By.TAG_NAME, "main").text)
    if button is None:
        return
    button.click()
    try:
        text_in(d, "#who", "(")
    except TimeoutException:  # the rest of the run goes on: only these checks fail
        check(False, "  ... one click signs in as %s" % name, d.find_element(By.TAG_NAME, "main").text)
        return
    check(name + " (operator)" in d.find_element(By.ID, "who").text,
          "  ... one click signs in as %s (operator)" % name, d.find_element(By.ID, "who").text)
    css(d, "svg.timeline")
    text_in(d, "#health", "ok")
    check(d.find_element(By.ID, "count-valid").text.isdigit(), "  ... and the dashboard loads")
    c = d.get_cookie(COOKIE)
    check(c is not None and c["httpOnly"] and c["secure"] and c["sameSite"] == "Strict",
          "  ... with a session cookie (HttpOnly, Secure, SameSite=Strict)", c)
    cookie = c["value"] if c else "x"
    st, doc = api("GET", "/session", cookie=cookie)
    check(st == 200 and doc.get("name") == name and doc.get("via") == "session",
          "  ... the cookie alone (no certificate) is %s's session" % name, (st, doc))
    d.find_element(By.ID, "signout").click()
    text_in(d, "#signin-msg", "Signed out")
    st, doc = api("GET", "/stats", cookie=cookie)
    check(d.get_cookie(COOKIE) is None and st == 401,
          "  ... sign-out drops the cookie and ends the session (401)", (d.get_cookie(COOKIE), st, doc))


def main():
    if os.environ.get("UI_CERT_NAME"):
        later("cert", os.environ["UI_CERT_HOME"])
    for name in ("ops", "alice", "bob", "admin", "audrey"):
        later(name)
    if os.environ.get("UI_CERT_NAME"):
        try:
            cert_sign_in()
        except TimeoutException as e:  # e.g. the page never loads (a certificate prompt)
            check(False, "certificate sign-in: the browser timed out", e.msg)
    # ---- the requester asks for a certificate the policy holds for two approvals ----
    ops = take("ops")
    check(sign_in(ops, "ops"), "sign-in page: the token field has the focus; Enter signs in")
    check("ops (operator)" in ops.find_element(By.ID, "who").text, "signed in as ops (operator)")
    check(ops.get_cookie(COOKIE) is not None and ops.get_cookie(COOKIE)["httpOnly"]
          and ops.get_cookie(COOKIE)["secure"] and ops.get_cookie(COOKIE)["sameSite"] == "Strict",
          "the session cookie is HttpOnly, Secure, SameSite=Strict", ops.get_cookie(COOKIE))
    check(ops.execute_script("return document.cookie") == "", "  ... and page scripts cannot read it")
    go(ops, "request")
    set_value(ops, css(ops, "#csr"), os.environ["UI_CSR"])
    Select(css(ops, "#profile")).select_by_value("tls-server")
    check(not unlabelled(ops), "every field of the request form has a label", unlabelled(ops))
    ops.find_element(By.ID, "submit-csr").click()
    wait(ops, lambda d: "#/request/" in d.current_url)
    req_id = ops.current_url.rsplit("/", 1)[1]
    text_in(ops, "#progress-status", "pending")
    check(True, "self-service: the request waits (pending) and shows its progress page")
    shot(ops, "request-pending")

    # ---- alice approves in her own browser, then signs out ----
    alice = take("alice")
    sign_in(alice, "alice")
    go(alice, "approvals")
    try:
        wait(alice, EC.presence_of_element_located((By.LINK_TEXT, req_id[:12]))).click()
        text_in(alice, "#req-subject", "CN=pay.example.test")
        check(True, "alice sees the request in the approvals list and opens it")
    except TimeoutException:
        check(False, "alice sees the request in the approvals list and opens it", alice.page_source[:2000])
    body = alice.find_element(By.TAG_NAME, "main").text
    check("dns:pay.example.test" in body and "ec 256 bits P-256" in body and "payments" in body,
          "  ... with its SANs, key and the rule that decided", body)
    check(css(alice, "#req-staple").text == "asked for by the CSR",
          "  ... and that the CSR asks for OCSP Must-Staple", css(alice, "#req-staple").text)
    css(alice, "#comment").send_keys("known host")
    shot(alice, "approval-detail")
    alice.find_element(By.ID, "approve").click()
    text_in(alice, "main", "admin:alice")
    check("1/2" in alice.find_element(By.TAG_NAME, "main").text, "alice's approval counts (1/2)")
    old = alice.get_cookie(COOKIE)["value"]
    hold_stats(alice)  # the dashboard asked for just before signing out
    alice.execute_script("location.hash = '#/dashboard'")
    wait(alice, lambda d: d.execute_script("return window.heldStats !== null"))
    alice.find_element(By.ID, "signout").click()
    visible(alice, "#signin-form")
    check(alice.get_cookie(COOKIE) is None, "sign-out: the browser drops the cookie")
    check(not release_stats(alice) and alice.find_elements(By.ID, "signin-form"),
          "  ... and the dashboard's data arriving after it is not drawn over the sign-in page",
          alice.find_element(By.TAG_NAME, "main").text[:500])
    st, doc = api("GET", "/stats", cookie=old)
    check(st == 401, "  ... and the old session cookie no longer works (401)", (st, doc))

    # ---- bob approves in a second browser: the certificate is issued ----
    bob = take("bob")
    sign_in(bob, "bob")
    # A page whose data comes late is not drawn over the page asked for after it: the
    # dashboard's /stats answer is held until the request's page is shown, then let through.
    hold_stats(bob)
    bob.execute_script("location.hash = '#/dashboard'")
    wait(bob, lambda d: d.execute_script("return window.heldStats !== null"))
    bob.execute_script("location.hash = arguments[0]", "#/approvals/" + req_id)
    text_in(bob, "#req-subject", "CN=pay.example.test")
    check(not release_stats(bob) and bob.find_elements(By.ID, "approve"),
          "the dashboard's data arriving late is not drawn over the request opened after it",
          bob.find_element(By.TAG_NAME, "main").text[:500])
    css(bob, "#approve").click()
    wait(bob, lambda d: "admin:bob" in d.find_element(By.TAG_NAME, "main").text)
    text_in(bob, "main", "issued")
    check(True, "bob's approval is the second: the request is issued")

    # ---- the requester downloads the certificate ----
    ops.find_element(By.ID, "refresh").click()
    css(ops, "#download").click()
    got = None
    for _ in range(100):
        pems = [f for f in os.listdir(ops.downloads) if f.endswith(".pem")]
        if pems:
            got = os.path.join(ops.downloads, pems[0])
            break
        time.sleep(0.1)
    pem = open(got).read() if got else ""
    check("BEGIN CERTIFICATE" in pem, "the requester downloads the issued certificate as PEM")
    with open(os.path.join(WORK, "downloaded.pem"), "w") as f:
        f.write(pem)
    serial = os.path.basename(got)[:-4] if got else ""
    with open(os.path.join(WORK, "serial"), "w") as f:
        f.write(serial)

    # ---- the admin: dashboard, search, detail, revoke ----
    adm = take("admin")
    sign_in(adm, "admin")
    css(adm, "svg.timeline")
    text_in(adm, "#health", "ok")
    check(int(adm.find_element(By.ID, "count-valid").text) >= 2 and
          adm.find_element(By.ID, "count-pending").text == "1",
          "dashboard: counts by status and the pending request", adm.find_element(By.TAG_NAME, "main").text)
    mat = {(r[0], r[1]): r[2] for r in table_rows(adm, "#material") if len(r) >= 3}
    check(all(k in mat for k in (("CA certificate", "root"), ("CA certificate", "issuing"),
                                 ("certificate", "ocsp-signer"), ("certificate", "https"),
                                 ("CRL", "issuing"))),
          "dashboard: a row each for the root, the issuing CA, the OCSP signer and HTTPS "
          "certificates and the issuing CA's CRL", mat)
    check(mat.get(("CA certificate", "root")) == not_after(ROOT),
          "dashboard: the root's row gives the root's notAfter", "%s, root.pem %s" %
          (mat.get(("CA certificate", "root")), not_after(ROOT)))
    disk = adm.find_element(By.ID, "disk").text
    check(re.search(r"Disk holding the database: [0-9.]+ [MG]iB free of [0-9.]+ [MG]iB", disk),
          "dashboard: the free space of the database's disk", disk)
    check(len(adm.find_elements(By.CSS_SELECTOR, "svg.timeline rect")) >= 1,
          "dashboard: the 90-day expiry timeline is an SVG chart with bars")
    shot(adm, "dashboard")
    go(adm, "certificates")
    css(adm, "#cert-search input[name=name]").send_keys("pay.example.test" + Keys.ENTER)
    text_in(adm, "#cert-total", "1 certificates match")
    adm.find_element(By.PARTIAL_LINK_TEXT, serial[:16]).click()
    text_in(adm, "#cert-serial", serial)
    check(adm.find_element(By.ID, "cert-status").text == "valid", "search by name finds it; detail says valid")
    trail = adm.find_element(By.ID, "trail").text
    check("cert.issue" in trail and "admin:ops" in trail,
          "detail shows the certificate's audit trail (its issuance)", trail)
    Select(adm.find_element(By.ID, "revoke-reason")).select_by_value("keyCompromise")
    adm.find_element(By.ID, "revoke").click()
    visible(adm, "#revoke-confirm")
    check(adm.find_element(By.ID, "cert-status").text == "valid", "revoke asks for confirmation first")
    shot(adm, "certificate-detail")
    adm.find_element(By.ID, "revoke-yes").click()
    text_in(adm, "#cert-status", "revoked")
    check(True, "after confirmation the certificate is revoked")

    # ---- a hostile subject is text ----
    xss = os.environ["UI_XSS_SERIAL"]
    go(adm, "certificates?serial=" + xss)
    text_in(adm, "#cert-total", "1 certificates match")
    go(adm, "certificates/" + xss)
    # The stored subject is the RFC 2253 form: CN=\\<img src=x onerror=alert(1)\\>
    text_in(adm, "#cert-subject", "<img src=x onerror=alert(1)")
    check(not adm.find_elements(By.CSS_SELECTOR, "main img") and no_alert(adm),
          "a CN of <img src=x onerror=alert(1)> is shown as text: no img element, no alert")
    logs = adm.get_log("browser")
    bad = [e for e in logs if "/ui/x" in e["message"] or "alert" in e["message"]]
    check(not bad, "  ... and the browser log shows no load of x nor any alert", bad)
    seen, outside = outside_requests(adm)
    check(seen >= 10 and not outside,
          "the console loaded nothing from outside the daemon (%d requests in the network log)" % seen, outside)
    check(not unlabelled(adm), "certificate pages: every field has a label", unlabelled(adm))

    # ---- narrow window ----
    adm.set_window_size(380, 900)
    go(adm, "dashboard")
    css(adm, "svg.timeline")
    wide = adm.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    check(wide <= 1, "dashboard readable in a 380px window (no horizontal scrolling)", wide)
    shot(adm, "dashboard-narrow")
    adm.set_window_size(1280, 1000)

    # ---- administration: the policy and "test a CSR" ----
    go(adm, "admin")
    text_in(adm, "#policy", "payments")
    set_value(adm, css(adm, "#test-csr"), os.environ["UI_CSR"])
    adm.find_element(By.ID, "test-submit").click()
    text_in(adm, "#test-result", "payments")
    check(True, "administration: the policy in force, and testing a CSR names the deciding rule")
    check(not unlabelled(adm), "administration: every field has a label", unlabelled(adm))

    # ---- administration: an EAB key made, listed with its state and expiry, revoked ----
    adm.find_element(By.XPATH, "//button[text()='Create an EAB key']").click()
    kid = wait(adm, EC.presence_of_element_located((By.CSS_SELECTOR, "main dl code"))).text

    def eab_row(d):
        try:
            rows = [r for r in table_rows(d, "#eab-keys") if r and r[0] == kid]
        except StaleElementReferenceException:  # the table redrawn while read
            return None
        return rows[0] if rows else None
    try:
        wait(adm, lambda d: eab_row(d) is not None, 20)
    except TimeoutException:
        pass
    row = eab_row(adm) or []
    check(len(row) >= 5 and row[1] == "unused" and re.match(r"\d{4}-\d\d-\d\dT", row[4]),
          "administration: a new EAB key is listed unused, with the time it stops working",
          (kid, table_rows(adm, "#eab-keys")))
    btn = [b for b in adm.find_elements(By.CSS_SELECTOR, "#eab-keys tbody tr")
           if b.find_elements(By.TAG_NAME, "code") and
           b.find_element(By.TAG_NAME, "code").text == kid][0]
    btn.find_element(By.XPATH, ".//button[text()='Revoke']").click()
    yes = wait(adm, EC.element_to_be_clickable((By.CSS_SELECTOR, "#eab-keys button[data-kid='%s']" % kid)))
    asked = (eab_row(adm) or [""] * 7)[6]
    yes.click()
    try:
        wait(adm, lambda d: (eab_row(d) or [None, None])[1] == "revoked", 20)
    except TimeoutException:
        pass
    st, listed = api("GET", "/acme/eab", token=TOK["admin"])
    stored = [k for k in (listed or {}).get("items", []) if k.get("kid") == kid]
    check("Revoke it?" in asked and (eab_row(adm) or [None, None])[1] == "revoked" and
          st == 200 and stored and stored[0].get("state") == "revoked" and
          stored[0].get("revoked_by", "").startswith("admin:"),
          "administration: revoking it asks first, then the key is revoked (the list and the "
          "API say so)", (asked, eab_row(adm), st, stored))

    # ---- the auditor: no controls, and the API refuses a forged change ----
    aud = take("audrey")
    sign_in(aud, "audrey")
    nav = aud.find_element(By.ID, "nav").text
    check("Audit" in nav and "Administration" not in nav and "Request" not in nav,
          "the auditor's menu has Audit but neither Request nor Administration", nav)
    pending = os.environ["UI_PENDING"]
    go(aud, "approvals/" + pending)
    text_in(aud, "main", "History")
    check(not aud.find_elements(By.ID, "approve") and not aud.find_elements(By.ID, "reject"),
          "the auditor sees no approve or reject control")
    go(aud, "certificates/" + xss)
    css(aud, "#cert-serial")
    check(not aud.find_elements(By.ID, "revoke"), "the auditor sees no revoke control")
    st1 = fetch_in_page(aud, "POST", "/requests/%s/approve" % pending, True, {})
    st2 = fetch_in_page(aud, "POST", "/certificates/%s/revoke" % xss, True, {"reason": "keyCompromise"})
    check(st1 == 403 and st2 == 403, "a forged approve and revoke from the auditor's session: 403", (st1, st2))
    st3 = fetch_in_page(adm, "POST", "/audit/checkpoint", False, {})
    check(st3 == 403, "an admin session's change without the CSRF token: 403", st3)
    go(aud, "audit")
    css(aud, "#checkpoint")
    aud.find_element(By.ID, "audit-export").click()
    exported = ""
    for _ in range(100):
        f = os.path.join(aud.downloads, "cairn-audit.jsonl")
        if os.path.exists(f):
            exported = open(f).read()
            if exported:
                break
        time.sleep(0.1)
    check('"cert.issue"' in exported and '"admin.session.create"' in exported,
          "the auditor exports the audit log (a download with the console's sign-ins in it)", exported[:300])
    shot(aud, "audit")

    # ---- a cross-site form post (another origin: http://localhost) ----
    target = "%s/admin/v1/certificates/%s/revoke" % (URL, xss)
    page = ("<!DOCTYPE html><form id=f method=POST enctype=text/plain action='%s'>"
            "<input name='{\"reason\":\"keyCompromise\",\"x\":\"' value='\"}'></form>"
            "<script>document.getElementById('f').submit()</script>" % target).encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *a):
            pass

    # One thread per connection: Chromium may hold a pre-opened connection idle, and a
    # one-at-a-time server would sit in it (shutdown() then waited 80 s for Chromium to
    # close it).
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Evil)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    adm.get("http://localhost:%d/evil.html" % srv.server_address[1])
    wait(adm, lambda d: d.current_url.startswith(URL))
    shown = adm.find_element(By.TAG_NAME, "body").text
    st, doc = api("GET", "/certificates/" + xss, token=TOK["admin"])
    check(doc.get("status") == "valid" and "cross-site" in shown,
          "a cross-site form post to revoke is refused; the certificate stays valid", shown[:500])
    srv.shutdown()
    srv.server_close()

    # ---- the session expires (the daemon's clock moves 9 hours on) ----
    # Written aside and renamed: the daemon reads the file at every clock call, and an
    # empty file (one being rewritten) would be the real time for that call.
    with open(os.environ["UI_FAKETIME"] + ".tmp", "w") as f:
        f.write("+9h\n")
    os.replace(os.environ["UI_FAKETIME"] + ".tmp", os.environ["UI_FAKETIME"])
    go(ops, "dashboard")
    ops.refresh()
    visible(ops, "#signin-form")
    check(True, "after 9 hours (lifetime 8h) the session has expired: the sign-in page is back")
    st, doc = api("GET", "/stats", cookie=aud.get_cookie(COOKIE)["value"] if aud.get_cookie(COOKIE) else "x")
    check(st == 401 and "expired" in json.dumps(doc), "  ... and the API says the session expired", (st, doc))
    return 0


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one failure line, not a traceback that ends the TAP stream
        import traceback
        check(False, "browser run stopped: %s" % type(e).__name__, traceback.format_exc())
        for d in drivers:
            try:
                shot(d, "failure-%d" % drivers.index(d))
            except Exception:
                pass
    finally:
        # browsers still to start are not; one starting is waited for, then quit with the rest
        STARTER.shutdown(wait=True, cancel_futures=True)
        for d in drivers:
            try:
                d.quit()
            except Exception:
                pass
    sys.exit(1 if failed else 0)
