"""The web vulnerability scan behind `make scan`: Debian's wapiti against a local instance.

Not part of the test suite. It migrates a scratch SQLite database, loads the demo organisation and
catalogue, works 20 demo dossiers up to now, starts `motcua serve --no-scheduler` on a free loopback
port, then for each identity (anonymous, and each officer named) signs in over HTTP, hands the
session cookie to wapiti and runs a time-bounded scan. The instance is stopped at the end, the JSON
reports are kept in test-artifacts/scan/ and the findings are printed by module.

    python -m tests.security_scan [--seconds 150] [--users sonv.motcua sonv.quytrinh]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REPORTS = ROOT / "test-artifacts" / "scan"
PASSWORD = "motcua-demo"
# The default set without ssrf (it needs wapiti's public endpoint), plus the checks of forms (csrf),
# headers (crlf), uploads of XML (xxe) and HTTP methods.
MODULES = (
    "blindsql,cookieflags,csp,exec,file,http_headers,permanentxss,redirect,sql,xss,csrf,crlf,xxe,methods"
)
# The desk (receive form with uploads, dossiers, printed forms, search), the process owner (BPMN
# import and editor) and a leader (reports, letters).
USERS = ("sonv.motcua", "sonv.quytrinh", "sonv.lanhdao")
# Flask-Login's strong session protection ties the session to the browser: the sign-in and wapiti
# must present the same user agent.
USER_AGENT = "motcua-security-scan (wapiti)"
REQUEST_LINE = re.compile(r'HTTP/1\.[01]" (\d{3}) ')
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CSRF = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')
# wapiti started with two fixes to Debian's 3.0.4: it compiles --exclude patterns with the regex
# flags at the end, which Python 3.11 refuses (and without --exclude the crawler would post the
# sign-out form); and it sends the text fields of a multipart form as file parts, so the CSRF token
# of every upload form went missing and the upload handlers were never reached.
WAPITI = """
import copy, re, sys
import wapitiCore.net.crawler as crawler
from wapitiCore.main.wapiti import wapiti_main
crawler.wildcard_translate = lambda pattern: re.compile(
    "(?s:" + ".*".join(re.escape(part) for part in pattern.split("*")) + r")\\Z"
)
post = crawler.Crawler.post
def multipart_post(self, form, *args, **kwargs):
    if form.is_multipart:
        form = copy.copy(form)
        form._post_params = [[name, (None, value)] for name, value in form.post_params]
    return post(self, form, *args, **kwargs)
crawler.Crawler.post = multipart_post
sys.argv[0] = "wapiti"
sys.exit(wapiti_main())
"""


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def motcua(*args: str, env: dict[str, str]) -> None:
    """Run one `motcua` command on the scratch database."""
    subprocess.run([str(BIN / "motcua"), *args], env=env, check=True, stdout=subprocess.DEVNULL)


def wait_until_up(base: str, server: subprocess.Popen, seconds: float = 30) -> None:
    """Wait for the instance to answer /livez."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"motcua serve stopped with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/livez", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("motcua serve did not answer /livez in time")


def sign_in(base: str, username: str, cookie_file: Path) -> None:
    """Sign in through the form (with its CSRF token) and store the cookies in wapiti's JSON format."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    with opener.open(f"{base}/dang-nhap") as page:
        token = CSRF.search(page.read().decode()).group(1)  # type: ignore[union-attr]
    form = urllib.parse.urlencode({"csrf_token": token, "username": username, "password": PASSWORD})
    with opener.open(f"{base}/dang-nhap", data=form.encode()) as landed:
        if urllib.parse.urlsplit(landed.url).path != "/":
            raise SystemExit(f"{username} could not sign in")
    cookies: dict[str, dict[str, dict[str, dict[str, object]]]] = {}
    for cookie in jar:
        path = cookies.setdefault(cookie.domain.removesuffix(".local"), {}).setdefault(cookie.path, {})
        path[cookie.name] = {
            "value": cookie.value,
            "expires": cookie.expires,
            "secure": cookie.secure,
            "port": None,
            "version": 0,
        }
    cookie_file.write_text(json.dumps(cookies))


def scan(base: str, who: str, cookie_file: Path | None, seconds: int, workdir: Path) -> Path:
    """One bounded wapiti scan of the whole site as this identity; returns the JSON report."""
    report = REPORTS / f"wapiti-{who}.json"
    command = [
        "/usr/bin/python3",
        "-c",
        WAPITI,
        "--url",
        f"{base}/",
        "--scope",
        "folder",
        "--module",
        MODULES,
        "--max-scan-time",
        str(seconds),
        "--max-attack-time",
        str(max(20, seconds // 5)),
        "--user-agent",
        USER_AGENT,
        "--depth",
        "6",
        # Signing out would end the session (and every session of the officer) in the middle.
        "--exclude",
        f"{base}/dang-xuat",
        # Out-of-band checks have no public endpoint here: they fail at once instead of waiting.
        "--endpoint",
        "http://127.0.0.1:9/",
        "--store-session",
        str(workdir / "wapiti-session"),
        "--store-config",
        str(workdir / "wapiti-config"),
        "--flush-session",
        "--no-bugreport",
        "--format",
        "json",
        "--output",
        str(report),
        "--verbose",
        "1",
    ]
    if cookie_file is not None:
        command += ["--cookie", str(cookie_file)]
    print(f"\n== wapiti as {who} ({seconds} s)", flush=True)
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL if who != "anonymous" else None)
    return report


def summary(report: Path) -> list[str]:
    """The findings of one report, one line each: module category, method, path, parameter, info."""
    data = json.loads(report.read_text())
    lines = []
    for kind in ("vulnerabilities", "anomalies", "additionals"):
        for category, findings in sorted(data.get(kind, {}).items()):
            for found in findings:
                lines.append(
                    f"  [{kind[:4]}] {category}: {found.get('method')} {found.get('path')} "
                    f"{found.get('parameter') or ''} — {found.get('info', '').splitlines()[0][:160]}"
                )
    return lines


def served(log: Path) -> tuple[Counter[str], list[str]]:
    """The responses of the instance by HTTP status, and its request lines that ended in a 5xx."""
    statuses: Counter[str] = Counter()
    errors = []
    for line in log.read_text().splitlines():
        try:
            message = ANSI.sub("", json.loads(line)["message"])
        except (ValueError, KeyError, TypeError):
            continue
        found = REQUEST_LINE.search(message)
        if found:
            statuses[found.group(1)] += 1
            if found.group(1).startswith("5"):
                errors.append(message)
    return statuses, errors


def main(argv: list[str] | None = None) -> int:
    """Run the scan; the exit code is 0 whatever it finds (the findings are triaged by hand)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=150, help="wapiti's --max-scan-time per identity")
    parser.add_argument("--users", nargs="*", default=list(USERS), help="officers to scan as")
    parser.add_argument("--no-anonymous", action="store_true", help="skip the scan without signing in")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database and the server log")
    args = parser.parse_args(argv)
    if shutil.which("wapiti") is None:
        raise SystemExit("wapiti is not installed: apt-get install -y wapiti")

    workdir = Path(tempfile.mkdtemp(prefix="motcua-scan-"))
    REPORTS.mkdir(parents=True, exist_ok=True)
    env = os.environ | {
        "MOTCUA_DATABASE_URL": f"sqlite:///{workdir / 'scan.db'}",
        "MOTCUA_ATTACHMENTS_DIR": str(workdir / "attachments"),
        "MOTCUA_SECRET_KEY": secrets.token_hex(32),
        # The scanner must reach the forms behind the limits; the limits have their own tests.
        "MOTCUA_LOGIN_RATE_LIMIT": "10000 per minute",
        "MOTCUA_LOOKUP_RATE_LIMIT": "10000 per minute",
    }
    motcua("db", "upgrade", env=env)
    motcua("load", env=env)
    motcua("demo", "--count", "20", "--until-now", env=env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env["MOTCUA_PUBLIC_BASE_URL"] = base
    with (workdir / "serve.log").open("w") as log:
        server = subprocess.Popen(
            [str(BIN / "motcua"), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-scheduler"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(base, server)
        reports = []
        if not args.no_anonymous:
            reports.append(("anonymous", scan(base, "anonymous", None, args.seconds, workdir)))
        for username in args.users:
            cookie_file = workdir / f"cookies-{username}.json"
            sign_in(base, username, cookie_file)
            reports.append((username, scan(base, username, cookie_file, args.seconds, workdir)))
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    statuses, errors = served(workdir / "serve.log")
    print("\n== findings")
    for who, report in reports:
        lines = summary(report) if report.exists() else ["  (no report)"]
        print(f"{who}: {len(lines)} finding(s), report {report.relative_to(ROOT)}")
        print("\n".join(lines))
    print(f"requests served: {statuses.total()}, by status: {dict(sorted(statuses.items()))}")
    print(f"server errors (5xx) during the scan: {len(errors)}")
    print("\n".join(errors[:20]))
    if args.keep:
        print(f"scratch database and server log kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
