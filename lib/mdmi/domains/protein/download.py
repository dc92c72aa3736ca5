"""Getting protein inputs into ``<out>/``: from the repository's ``data/proteins/`` (``bundled``) or
from the internet (``online``: UniProt REST for sequences, RCSB for structures).

Either way the result is the same layout, which :mod:`.prepare` reads:

    <out>/sequences/<file>      FASTA/A2M files (training and held-out sequences)
    <out>/structures/<file>     PDB/mmCIF files of the contact-analysis chains
    <out>/sources.json          what was fetched or copied, from where, with sha256 checksums

Downloads retry transient failures (connection errors, timeouts, HTTP 429/5xx) with exponential
backoff, fail at once with a clear message on other HTTP errors (e.g. 404), verify an expected
sha256 when the config gives one, and write every file atomically: a failed download leaves no
partial file behind.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from pathlib import Path
from urllib.parse import quote

from mdmi.domains.protein.alphabet import ProteinDataError
from mdmi.errors import MdmiError, MissingInput
from mdmi.util.io import atomic_path, file_sha256, write_json

log = logging.getLogger(__name__)


class DownloadError(MdmiError, RuntimeError):
    pass


def fetch(
    url: str,
    dest: Path,
    *,
    retries: int = 3,
    timeout: float = 30.0,
    backoff: float = 1.0,
    expected_sha256: str | None = None,
    session=None,
) -> str:
    """Download ``url`` to ``dest`` atomically; returns the sha256 of the file.

    Retries (``retries`` extra attempts) on connection errors, timeouts, truncated bodies and HTTP
    429/5xx; raises
    :class:`DownloadError` naming the URL on other HTTP errors, after the last retry, or on a
    checksum mismatch. ``dest`` exists afterwards only if everything succeeded.
    """
    import requests  # noqa: PLC0415

    sess = session or requests.Session()
    dest = Path(dest)
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            with sess.get(url, timeout=timeout, stream=True) as r:
                if r.status_code == 429 or r.status_code >= 500:
                    last = f"HTTP {r.status_code}"
                    log.warning("%s: %s (attempt %d/%d)", url, last, attempt + 1, retries + 1)
                    continue
                if r.status_code != 200:
                    raise DownloadError(
                        f"{url}: HTTP {r.status_code} {r.reason}; check the identifier in "
                        "protein.data.online"
                    )
                h = hashlib.sha256()
                with atomic_path(dest) as tmp:
                    with open(tmp, "wb") as fh:
                        for block in r.iter_content(1 << 16):
                            h.update(block)
                            fh.write(block)
                    digest = h.hexdigest()
                    if expected_sha256 and digest != expected_sha256.lower():
                        raise DownloadError(
                            f"{url}: checksum mismatch (sha256 {digest}, expected "
                            f"{expected_sha256}); the file was not kept"
                        )
                return digest
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as e:
            # unreachable, too slow, or the body ended early (shorter than its Content-Length): retry
            last = f"{type(e).__name__}"
            log.warning("%s: %s (attempt %d/%d)", url, last, attempt + 1, retries + 1)
        except requests.RequestException as e:
            raise DownloadError(f"{url}: {type(e).__name__}: {e}") from None
    raise DownloadError(
        f"{url}: failed after {retries + 1} attempts ({last}); offline? use "
        "protein.data.source: bundled"
    )


def download_online(ocfg: dict, out: Path) -> dict:
    """Fetch the UniProt query / accessions and the RCSB structures named in ``ocfg``."""
    import requests  # noqa: PLC0415

    sess = requests.Session()
    kw = dict(
        retries=int(ocfg["retries"]),
        timeout=float(ocfg["timeout"]),
        backoff=float(ocfg["backoff"]),
        session=sess,
    )
    sums = ocfg.get("checksums") or {}
    uni, rcsb = ocfg["uniprot_url"].rstrip("/"), ocfg["rcsb_url"].rstrip("/")
    entries = {"sequences": [], "structures": []}
    if ocfg.get("uniprot_query"):
        name = "uniprot_query.fasta"
        url = (
            f"{uni}/uniprotkb/search?query={quote(ocfg['uniprot_query'])}&format=fasta"
            f"&size={int(ocfg['max_sequences'])}"
        )
        digest = fetch(url, out / "sequences" / name, expected_sha256=sums.get(name), **kw)
        entries["sequences"].append({"file": name, "url": url, "sha256": digest})
    for acc in ocfg.get("accessions") or []:
        name = f"{acc}.fasta"
        url = f"{uni}/uniprotkb/{quote(acc)}.fasta"
        digest = fetch(url, out / "sequences" / name, expected_sha256=sums.get(name), **kw)
        entries["sequences"].append({"file": name, "url": url, "sha256": digest})
    for st in ocfg.get("structures") or []:
        pdb = st["pdb"].lower()
        fmt = st.get("format", "pdb")
        name = f"{pdb}.{fmt}"
        url = f"{rcsb}/download/{pdb.upper()}.{fmt}"
        digest = fetch(url, out / "structures" / name, expected_sha256=sums.get(name), **kw)
        entries["structures"].append(
            {"file": name, "chain": st.get("chain"), "url": url, "sha256": digest}
        )
    if not entries["sequences"]:
        raise ProteinDataError(
            "protein.data.online: give uniprot_query or accessions (no sequences to download)"
        )
    return entries


def copy_bundled(section: dict, out: Path) -> dict:
    """Copy the configured files from the bundled folder (``data/proteins`` by default)."""
    root = Path(section["bundled_dir"])
    if not root.is_dir():
        raise MissingInput(
            f"{root}: bundled protein folder not found; run from the repository root or set "
            "protein.data.bundled_dir"
        )
    entries = {"sequences": [], "structures": []}
    for kind, items in (
        ("sequences", [{"file": f} for f in section["sequences"]]),
        ("structures", section["structures"]),
    ):
        for item in items:
            src = root / item["file"]
            if not src.exists():
                raise MissingInput(f"{src}: listed in protein.data.{kind} but missing from {root}")
            dest = out / kind / src.name
            with atomic_path(dest) as tmp:
                shutil.copyfile(src, tmp)
            entry = {"file": src.name, "source": str(src), "sha256": file_sha256(dest)}
            if kind == "structures":
                entry.update(chain=item.get("chain"), split=item.get("split", "test"))
            entries[kind].append(entry)
    return entries


def get_inputs(section: dict, out: Path) -> dict:
    """Download or copy the protein inputs into ``out`` and write ``out/sources.json``."""
    out = Path(out)
    source = section["source"]
    entries = (
        download_online(section["online"], out)
        if source == "online"
        else copy_bundled(section, out)
    )
    info = {"source": source, **entries}
    write_json(out / "sources.json", info)
    log.info(
        "%s inputs: %d sequence files, %d structure files in %s",
        source,
        len(info["sequences"]),
        len(info["structures"]),
        out,
    )
    return info
