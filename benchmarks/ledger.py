"""Ledger benchmarks: fill, proofs, export plus verify, at several ledger sizes (SQLite).

For each size N, in a fresh temporary var dir:

1. ``serdika db upgrade``, ``serdika demo seed --json`` (for the auditor's credentials), then
   ``serdika demo load --entries N --json``: append + integrate throughput (entries/s), wall
   time and peak RSS of that process;
2. inclusion and consistency proof latency, median and p99 of ``--proofs`` random proofs
   against the full tree: through ``consent.ledger.tree`` on one session, and through the
   HTTP endpoints with Flask's test client and an auditor's token (every proof checked);
3. export to JSON Lines and offline verification: wall time and peak RSS of each process.
   ``serdika audit export --format jsonl`` / ``serdika audit verify`` are used when they
   exist; otherwise this script's own minimal streaming export and verifier (the
   ``_export`` / ``_verify`` subcommands below, the format of docs/architecture.md) are
   measured, and the output says which.

Usage, from the repository root::

    .venv/bin/python benchmarks/ledger.py 10000 100000 1000000 [--proofs 1000] [--keep]

Prints one JSON object per size and a Markdown table at the end.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERDIKA = str(Path(sys.executable).parent / "serdika")


# --- measuring child processes -------------------------------------------------------------

def measured(args: list[str], env: dict[str, str]) -> str:
    """Run ``args``; return its stdout, or raise with its stderr when it fails."""
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def run_with_rss(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``args`` via ``_rss`` (fork + wait4) to get exactly that process's peak RSS."""
    out = measured([sys.executable, __file__, "_rss", *args], env)
    report_line, _, rest = out.partition("\n")
    report = json.loads(report_line)
    return report["seconds"], report["max_rss_mib"], rest


def _rss(args: list[str]) -> None:
    """Fork, exec ``args``, wait4 it: print its wall time and peak RSS, then its stdout."""
    started = time.perf_counter()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.dup2(write, 1)
        os.execvp(args[0], args)  # noqa: S606 - the measured command, as given
    os.close(write)
    with os.fdopen(read) as pipe:
        out = pipe.read()
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(code)
    print(json.dumps({"seconds": elapsed, "max_rss_mib": usage.ru_maxrss / 1024}))
    sys.stdout.write(out)


# --- a minimal streaming export and verifier (used when serdika audit is not there) -------

def _export(output: str) -> None:
    """Stream entries and the latest head to JSON Lines (docs/architecture.md, "The ledger")."""
    from sqlalchemy import select

    from broker.app import build_broker
    from broker.config import load_settings
    from consent.ledger.sequencing import latest_head
    from consent.models import LedgerEntry

    broker = build_broker(load_settings())
    with broker.db.sessions() as session, open(output, "w", encoding="utf-8") as out:
        head = latest_head(session)
        assert head is not None, "sequence first"
        rows = session.execute(
            select(LedgerEntry.index, LedgerEntry.entry)
            .where(LedgerEntry.index < head.tree_size).order_by(LedgerEntry.index)
            .execution_options(yield_per=5000)
        )
        for index, entry in rows:
            out.write(f'{{"type":"entry","index":{index},"entry":{entry}}}\n')
        out.write(json.dumps({"type": "tree_head", "tree_head": {
            **head.as_json(), "jwk": broker.keys.public_jwk()}}) + "\n")


def _verify(path: str) -> None:
    """Check an export offline in O(log n) memory: order, leaf hashes, root, signature."""
    import rfc8785

    from consent.ledger import rfc9162
    from consent.ledger.heads import SignedTreeHead
    from consent.ledger.jwk import public_key_from_jwk

    compact = rfc9162.CompactRange()
    head: dict[str, Any] | None = None
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            record = json.loads(line)
            if record["type"] == "tree_head":
                head = record["tree_head"]
                continue
            if head is not None or record["index"] != number:
                sys.exit(f"entry {number}: out of order or after the tree head")
            compact.append(rfc9162.leaf_hash(rfc8785.dumps(record["entry"])))
    if head is None:
        sys.exit("no tree head")
    signed = SignedTreeHead.from_json(head)
    if signed.tree_size != compact.size or signed.root_hash != compact.root():
        sys.exit("the entries do not match the tree head")
    if not signed.verify(public_key_from_jwk(head["jwk"])):
        sys.exit("the tree head's signature is invalid")
    print(f"OK {compact.size} entries")


# --- proofs --------------------------------------------------------------------------------

class IndexedNodeReader:
    """What-if reader: the same nodes, looked up as ``(level = ? AND index = ?) OR ...``.

    ``consent.ledger.tree.SessionNodeReader`` asks ``(level, index) IN (VALUES ...)``, which
    SQLite answers with a full scan of ``ledger_nodes`` (EXPLAIN QUERY PLAN: "SCAN
    ledger_nodes"), so its proofs grow linearly with the ledger. This reader shows what the
    primary key index gives; it is measured separately and is not the broker's code.
    """

    def __init__(self, session: Any) -> None:
        self.session = session

    def get_nodes(self, keys: Any) -> dict[tuple[int, int], bytes]:
        from sqlalchemy import and_, or_, select

        from consent.models import LedgerNode

        if not keys:
            return {}
        rows = self.session.execute(
            select(LedgerNode.level, LedgerNode.index, LedgerNode.hash).where(or_(*(
                and_(LedgerNode.level == level, LedgerNode.index == index)
                for level, index in keys)))
        )
        return {(level, index): digest for level, index, digest in rows}


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3)}


def measure_proofs(env: dict[str, str], auditor: dict[str, str], count: int) -> dict[str, Any]:
    os.environ.update(env)
    from broker import create_app
    from broker.app import build_broker
    from broker.config import load_settings
    from consent.ledger import rfc9162
    from consent.ledger.sequencing import latest_head
    from consent.ledger.tree import consistency_proof, inclusion_proof
    from consent.models import LedgerEntry

    rng = random.Random(9162)  # noqa: S311 - reproducible sample, not a secret
    settings = load_settings()
    broker = build_broker(settings)
    results: dict[str, Any] = {}
    with broker.db.sessions() as session:
        head = latest_head(session)
        assert head is not None
        size = head.tree_size
        indexes = [rng.randrange(size) for _ in range(count)]
        firsts = [rng.randrange(1, size + 1) for _ in range(count)]
        inclusion, consistency = [], []
        for index in indexes:
            started = time.perf_counter()
            path = inclusion_proof(session, index, size)
            inclusion.append(time.perf_counter() - started)
        for first in firsts:
            started = time.perf_counter()
            consistency_proof(session, first, size)
            consistency.append(time.perf_counter() - started)
        indexed = []
        for index in indexes:
            started = time.perf_counter()
            fast = rfc9162.inclusion_proof(IndexedNodeReader(session), index, size)
            indexed.append(time.perf_counter() - started)
            if len(indexed) <= 5:
                assert fast == inclusion_proof(session, index, size)
        # Spot-check that the timed proofs verify.
        for index in indexes[:20]:
            leaf = session.get(LedgerEntry, index)
            assert leaf is not None
            path = inclusion_proof(session, index, size)
            assert rfc9162.verify_inclusion(leaf.leaf_hash, index, size, path, head.root_hash)
    broker.db.dispose()
    results["session_inclusion"] = _quantiles(inclusion)
    results["session_consistency"] = _quantiles(consistency)
    results["what_if_indexed_inclusion"] = _quantiles(indexed)

    app = create_app({"settings": settings, "TESTING": True})
    client = app.test_client()
    basic = base64.b64encode(f"{auditor['client_id']}:{auditor['client_secret']}".encode())
    token = client.post("/oauth2/token", data={"grant_type": "client_credentials",
                                               "scope": "audit:read"},
                        headers={"Authorization": f"Basic {basic.decode()}"}).get_json()[
        "access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    http_inclusion, http_consistency = [], []
    for index in indexes:
        started = time.perf_counter()
        response = client.get(f"/api/v1/audit/proofs/inclusion?index={index}&tree_size={size}",
                              headers=auth)
        http_inclusion.append(time.perf_counter() - started)
        assert response.status_code == 200, response.get_data(as_text=True)
    for first in firsts:
        started = time.perf_counter()
        response = client.get(f"/api/v1/audit/proofs/consistency?first={first}&second={size}",
                              headers=auth)
        http_consistency.append(time.perf_counter() - started)
        assert response.status_code == 200, response.get_data(as_text=True)
    app.extensions["serdika"].db.dispose()
    results["http_inclusion"] = _quantiles(http_inclusion)
    results["http_consistency"] = _quantiles(http_consistency)
    return results


# --- one size --------------------------------------------------------------------------------

def audit_cli_ready(env: dict[str, str]) -> bool:
    done = subprocess.run([SERDIKA, "audit", "export", "--help"], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=False)
    return done.returncode == 0 and "--format" in done.stdout


def bench(entries: int, proofs: int, keep: bool) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"serdika-ledger-{entries}-"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("SERDIKA_")}
    env["SERDIKA_VAR_DIR"] = str(work)
    result: dict[str, Any] = {"entries": entries}
    try:
        subprocess.run([SERDIKA, "db", "upgrade"], env=env, cwd=ROOT, check=True,
                       capture_output=True)
        seed = subprocess.run([SERDIKA, "demo", "seed", "--json"], env=env, cwd=ROOT,
                              check=True, capture_output=True, text=True)
        auditor = json.loads(seed.stdout)["auditors"][0]

        seconds, rss, out = run_with_rss([SERDIKA, "demo", "load", "--entries", str(entries),
                                          "--json"], env)
        load = json.loads(out)
        result["load"] = {"seconds": round(seconds, 2), "max_rss_mib": round(rss, 1),
                          "append_seconds": load["append_seconds"],
                          "append_per_second": load["append_per_second"],
                          "sequence_seconds": load["sequence_seconds"],
                          "entries_per_second": round(entries / seconds),
                          "tree_size": load["tree_size"]}
        result["db_mib"] = round(sum(p.stat().st_size for p in work.glob("serdika.sqlite3*"))
                                 / 2**20, 1)
        print(f"[{entries}] loaded: {result['load']}", file=sys.stderr)

        result["proofs"] = measure_proofs(env, auditor, proofs)
        print(f"[{entries}] proofs: {result['proofs']}", file=sys.stderr)

        export = work / "ledger.jsonl"
        if audit_cli_ready(env):
            result["export_tool"] = "serdika audit export/verify"
            export_cmd = [SERDIKA, "audit", "export", "--format", "jsonl", "--output",
                          str(export)]
            verify_cmd = [SERDIKA, "audit", "verify", str(export)]
        else:
            result["export_tool"] = "benchmarks/ledger.py _export/_verify (serdika audit " \
                                    "export/verify not available)"
            export_cmd = [sys.executable, __file__, "_export", str(export)]
            verify_cmd = [sys.executable, __file__, "_verify", str(export)]
        seconds, rss, _ = run_with_rss(export_cmd, env)
        result["export"] = {"seconds": round(seconds, 2), "max_rss_mib": round(rss, 1),
                            "file_mib": round(export.stat().st_size / 2**20, 1)}
        seconds, rss, out = run_with_rss(verify_cmd, env)
        result["verify"] = {"seconds": round(seconds, 2), "max_rss_mib": round(rss, 1),
                            "output": out.strip()[-200:]}
        result["export_plus_verify_seconds"] = round(result["export"]["seconds"]
                                                     + result["verify"]["seconds"], 2)
    finally:
        if keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return result


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| entries | load s | load entries/s (append only) | load RSS MiB | incl. median / p99 ms "
        "(session) | incl. median / p99 ms (HTTP) | incl. what-if indexed median / p99 ms "
        "| cons. median / p99 ms (session / HTTP) "
        "| export s / RSS MiB | verify s / RSS MiB | export+verify s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        p = r["proofs"]
        lines.append(
            f"| {r['entries']:,} | {r['load']['seconds']} | {r['load']['entries_per_second']:,} "
            f"({r['load']['append_per_second']:,}) | {r['load']['max_rss_mib']} "
            f"| {p['session_inclusion']['median_ms']} / {p['session_inclusion']['p99_ms']} "
            f"| {p['http_inclusion']['median_ms']} / {p['http_inclusion']['p99_ms']} "
            f"| {p['what_if_indexed_inclusion']['median_ms']} / "
            f"{p['what_if_indexed_inclusion']['p99_ms']} "
            f"| {p['session_consistency']['median_ms']} / {p['session_consistency']['p99_ms']} "
            f"/ {p['http_consistency']['median_ms']} / {p['http_consistency']['p99_ms']} "
            f"| {r['export']['seconds']} / {r['export']['max_rss_mib']} "
            f"| {r['verify']['seconds']} / {r['verify']['max_rss_mib']} "
            f"| {r['export_plus_verify_seconds']} |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        command, args = sys.argv[1], sys.argv[2:]
        {"_rss": lambda: _rss(args), "_export": lambda: _export(args[0]),
         "_verify": lambda: _verify(args[0])}[command]()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000])
    parser.add_argument("--proofs", type=int, default=1000,
                        help="random proofs of each kind and way (default 1000)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dirs")
    options = parser.parse_args()
    results = []
    for entries in options.sizes:
        result = bench(entries, options.proofs, options.keep)
        print(json.dumps(result), flush=True)
        results.append(result)
    print(table(results))


if __name__ == "__main__":
    main()
