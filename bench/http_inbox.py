"""HTTP benchmark on loopback: the inbox, the dossier list and their API endpoints against /livez.

    .venv/bin/python -m bench.http_inbox [--db URL] [--dossiers 100000] [--seconds 10]
        [--multiply --seed-dossiers 20000] [--inbox-only] [--against PATH] [--runs N]

Fills a PostgreSQL database with generated dossiers (bench/generate.py) if it holds fewer than
asked, starts gunicorn on a free loopback port with the production settings, signs in as the
officer with the largest inbox, and drives each URL from client threads for a bounded time.
With `--multiply` the fill generates only a seed set through the engine's plans and copies it
inside PostgreSQL up to `--dossiers` (bench/multiply.py, a bench-only fill that takes minutes
instead of an hour for 1,000,000 dossiers).
The dossier list is driven as the desk officer of the agency with the most dossiers (the
widest scope): one state of the menu, a search by a name typed without diacritics, a search by
a phone number typed in groups, and the API with a state and a search.
The baseline is /livez served by the same processes in the same run; the ratios compare
latency and throughput against it. Goals: inbox p95 under 50 ms and at most 10 times /livez's
p95, dossier list p95 under 100 ms on PostgreSQL. `--inbox-only` drives /livez, the inbox page and
the work-items API alone. `--runs N` repeats the timed runs on the same server and prints the range
of the page's p95 and of its ratio, with the load average. `--against PATH` serves this checkout and
another one (the code before a change) on the same database and alternates /livez and the inbox page
between the two, so both are measured under the same load of the machine.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import func, select

from bench.generate import generate, prepare_database
from bench.gunicorn import ROOT, start_gunicorn
from bench.multiply import fill
from engine.accounts import issue_token
from engine.search_text import normalise
from models import Dossier, Officer, WorkItem

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/motcua_bench_http"
# The inbox page's p95 against /livez's on the same server (the performance goal).
INBOX_RATIO_GOAL = 10


def busiest_officer(ctx) -> tuple[str, int]:
    """The officer whose inbox (own items and pool) is the largest, and its size."""
    with ctx.uow() as uow:
        officers = list(uow.session.scalars(select(Officer).where(Officer.active.is_(True))))
        best = ("", -1)
        for officer in officers:
            size = uow.session.scalar(
                select(func.count(WorkItem.id)).where(
                    WorkItem.completed_at.is_(None),
                    (WorkItem.assignee_id == officer.id)
                    | (
                        (WorkItem.agency_id == officer.agency_id)
                        & WorkItem.role.in_(officer.roles or [""])
                        & WorkItem.assignee_id.is_(None)
                    ),
                )
            )
            if size > best[1]:
                best = (officer.username, size)
        return best


def widest_desk(ctx) -> tuple[str, str, str]:
    """The desk officer of the agency that received the most dossiers, and two searches of its
    newest dossier as an officer types them: the name without diacritics, the phone in groups."""
    with ctx.uow() as uow:
        session = uow.session
        agency_id = session.execute(
            select(Dossier.agency_id).group_by(Dossier.agency_id).order_by(func.count().desc()).limit(1)
        ).scalar_one()
        desk = next(
            o.username
            for o in session.scalars(
                select(Officer)
                .where(Officer.agency_id == agency_id, Officer.active.is_(True))
                .order_by(Officer.id)
            )
            if o.has_role("desk")
        )
        name, phone = session.execute(
            select(Dossier.applicant_name, Dossier.applicant_phone)
            .where(Dossier.agency_id == agency_id, Dossier.applicant_phone.is_not(None))
            .order_by(Dossier.received_at.desc())
            .limit(1)
        ).one()
    digits = phone or ""
    return desk, normalise(name), f"{digits[:4]} {digits[4:7]} {digits[7:]}"


def sign_in(port: int, username: str) -> str:
    """A session cookie for the officer (the sign-in form with its CSRF token)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/dang-nhap")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie", "").split(";")[0]
    token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
    body = urlencode({"csrf_token": token, "username": username, "password": "motcua-demo"})
    conn.request(
        "POST",
        "/dang-nhap",
        body,
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    response = conn.getresponse()
    response.read()
    if response.status != 302:
        sys.exit(f"sign-in failed: HTTP {response.status}")
    return response.getheader("Set-Cookie", "").split(";")[0]


def load(port: int, path: str, headers: dict[str, str], seconds: float, threads: int) -> dict[str, float]:
    """Requests per second and latency percentiles of one URL under `threads` keep-alive clients."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    begun = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - begun
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
        "errors": errors[0],
    }


def compare(url: str, roots: list[Path], username: str, seconds: float, workers: int) -> int:
    """/livez and the inbox page of one server per checkout on the same database, taking turns in
    blocks of five requests (one keep-alive client each) until `seconds` have passed: on a shared
    machine both see the same load, which two runs one after the other do not."""
    servers = [start_gunicorn(url, workers=workers, root=root) for root in roots]
    try:
        ports = [port for _, port in servers]
        cookies = [sign_in(port, username) for port in ports]
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for port in ports]

        def timed(number: int, path: str, headers: dict[str, str]) -> float:
            for _ in range(2):  # a connection the server closed while the others ran is opened again
                try:
                    started = time.perf_counter()
                    connections[number].request("GET", path, headers=headers)
                    response = connections[number].getresponse()
                    response.read()
                    if response.status != 200:
                        sys.exit(f"{path}: HTTP {response.status}")
                    return time.perf_counter() - started
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    connections[number].close()
                    connections[number] = http.client.HTTPConnection("127.0.0.1", ports[number], timeout=30)
            sys.exit(f"{path}: the server keeps closing the connection")

        seen: list[dict[str, list[float]]] = [{"/livez": [], "/": []} for _ in servers]
        for warm_up in (True, False):
            deadline = time.perf_counter() + (2.0 if warm_up else seconds)
            while time.perf_counter() < deadline:
                for number in range(len(servers)):
                    for path, headers in (("/livez", {}), ("/", {"Cookie": cookies[number]})):
                        for _ in range(5):
                            latency = timed(number, path, headers)
                            if not warm_up:
                                seen[number][path].append(latency)
    finally:
        for server, _ in servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    load_average = os.getloadavg()[0]
    print(
        f"\nalternating, {workers} gunicorn workers x 2 threads each, {seconds:g} s, load {load_average:.1f}"
    )
    for root, latencies in zip(roots, seen, strict=True):
        base, page = (percentiles(latencies[path]) for path in ("/livez", "/"))
        ratio = page["p95"] / base["p95"]
        verdict = "met" if ratio <= INBOX_RATIO_GOAL and page["p95"] < 50 else "NOT met"
        print(
            f"{root!s:40} /livez p50 {base['p50']:.2f} p95 {base['p95']:.2f} ms | inbox page p50 "
            f"{page['p50']:.2f} p95 {page['p95']:.2f} ms | p95 {ratio:.1f} x /livez ({verdict}) | "
            f"{len(latencies['/'])} pages"
        )
    return 0


def percentiles(latencies: list[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds."""
    ordered = sorted(latencies)
    return {"p50": statistics.median(ordered) * 1000, "p95": ordered[int(0.95 * (len(ordered) - 1))] * 1000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--multiply",
        action="store_true",
        help="bench-only fill: generate a seed set, then copy it inside PostgreSQL (bench/multiply.py)",
    )
    parser.add_argument("--seed-dossiers", type=int, default=20_000)
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="timed runs on the same server, one after the other (each printed, then the ranges)",
    )
    parser.add_argument(
        "--inbox-only",
        action="store_true",
        help="drive /livez, the inbox page and the work-items API only (not the dossier list)",
    )
    parser.add_argument(
        "--against",
        type=Path,
        help="another checkout (the code before a change): serve both on the same database and "
        "alternate /livez and the inbox page between them, instead of the timed runs",
    )
    args = parser.parse_args(argv)

    if args.multiply:
        ctx = fill(args.db, args.dossiers, args.seed_dossiers)
    else:
        ctx = prepare_database(args.db)
        with ctx.uow() as uow:
            existing = uow.session.scalar(select(func.count(Dossier.id))) or 0
        if existing < args.dossiers:
            print(f"generating {args.dossiers - existing} dossiers ...")
            generate(ctx, args.dossiers - existing, years=1, seed=existing + 7)
    username, size = busiest_officer(ctx)
    token = issue_token(ctx, username, "bench", datetime.now(UTC))
    if not args.inbox_only:
        desk, name_query, phone_query = widest_desk(ctx)
        desk_token = issue_token(ctx, desk, "bench", datetime.now(UTC))
    with ctx.uow() as uow:
        total = uow.session.scalar(select(func.count(Dossier.id)))
    print(f"{total} dossiers; busiest inbox: {username} with {size} open items")
    if not args.inbox_only:
        print(f"dossier list as {desk}; searches {name_query!r} and {phone_query!r}")

    if args.against is not None:
        return compare(args.db, [ROOT, args.against], username, args.seconds, args.workers)
    server, port = start_gunicorn(args.db, workers=args.workers)
    try:
        cookie = sign_in(port, username)
        targets = [
            ("/livez (baseline)", "/livez", {}),
            ("inbox page /", "/", {"Cookie": cookie}),
            (
                "GET /api/v1/work-items",
                "/api/v1/work-items?scope=all&limit=50",
                {"Authorization": f"Bearer {token}"},
            ),
        ]
        if not args.inbox_only:
            desk_cookie = sign_in(port, desk)
            targets += [
                ("list ?state=processing", "/ho-so/?state=processing", {"Cookie": desk_cookie}),
                ("list ?state=returned", "/ho-so/?state=returned", {"Cookie": desk_cookie}),
                ("list search by name", "/ho-so/?" + urlencode({"q": name_query}), {"Cookie": desk_cookie}),
                ("list search by phone", "/ho-so/?" + urlencode({"q": phone_query}), {"Cookie": desk_cookie}),
                (
                    "GET /api/v1/dossiers",
                    "/api/v1/dossiers?" + urlencode({"state": "returned", "q": name_query}),
                    {"Authorization": f"Bearer {desk_token}"},
                ),
            ]
        loads: list[float] = []
        for _, path, headers in targets:  # warm-up: caches, connections, compiled specs
            load(port, path, headers, 1.0, 1)
        runs = []
        for _ in range(args.runs):
            runs.append(
                {
                    name: load(port, path, headers, args.seconds, args.threads)
                    for name, path, headers in targets
                }
            )
            loads.append(os.getloadavg()[0])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    ratios = [run["inbox page /"]["p95"] / run["/livez (baseline)"]["p95"] for run in runs]
    for number, (results, load_average) in enumerate(zip(runs, loads, strict=True), start=1):
        report(results, args, number, load_average)
    if len(runs) > 1:
        pages = [run["inbox page /"]["p95"] for run in runs]
        print(
            f"\n{len(runs)} runs: inbox page p95 {min(pages):.2f}–{max(pages):.2f} ms, "
            f"{min(ratios):.1f}–{max(ratios):.1f} x /livez p95 "
            f"(load average {min(loads):.1f}–{max(loads):.1f})"
        )
    return 0


def report(
    results: dict[str, dict[str, float]], args: argparse.Namespace, number: int, load_average: float
) -> None:
    """One run's table and goals."""
    base = results["/livez (baseline)"]
    print(
        f"\nrun {number}: {args.workers} gunicorn workers x 2 threads, {args.threads} client threads, "
        f"{args.seconds:g} s each, load average {load_average:.1f}"
    )
    print(
        f"{'endpoint':28} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>6} "
        f"{'p95/base':>9} {'rps base/x':>10}"
    )
    for name, r in results.items():
        print(
            f"{name:28} {r['rps']:8.1f} {r['p50']:8.2f} {r['p95']:8.2f} {r['errors']:6d} "
            f"{r['p95'] / base['p95']:9.1f} {base['rps'] / r['rps']:10.1f}"
        )
    inbox = results["inbox page /"]
    print(f"\ngoal: inbox p95 < 50 ms -> {'met' if inbox['p95'] < 50 else 'NOT met'} ({inbox['p95']:.1f} ms)")
    ratio = inbox["p95"] / base["p95"]
    print(
        f"goal: inbox p95 <= {INBOX_RATIO_GOAL} x /livez p95 -> "
        f"{'met' if ratio <= INBOX_RATIO_GOAL else 'NOT met'} "
        f"({inbox['p95']:.2f} ms / {base['p95']:.2f} ms = {ratio:.1f} x)"
    )
    for name, r in results.items():
        if name.startswith("list") or name == "GET /api/v1/dossiers":
            verdict = "met" if r["p95"] < 100 else "NOT met"
            print(
                f"goal: {name} p95 < 100 ms -> {verdict} ({r['p95']:.1f} ms, "
                f"{r['p95'] / base['p95']:.1f} x /livez p95 {base['p95']:.1f} ms)"
            )


if __name__ == "__main__":
    raise SystemExit(main())
