"""Rebuild the seed corpora of the harnesses from the shared corpus.

    python fuzz/make_seeds.py [SHARED_CORPUS_DIR]      (default: ../shared/corpus)

Parser seeds (``fuzz/corpus/parser/``): every RFC 4475 and RFC 5118 message, and
the SIP payload of every UDP datagram, SCTP DATA chunk and reassembled TCP
message found in the captures of ``pcap/`` (read with dpkt, the ``pcap`` extra).
Framer seeds (``fuzz/corpus/framer/``): each TCP flow's reassembled byte stream,
concatenations of the RFC messages with keep-alive pings between them, and a few
captured messages, each under several chunk plans (see ``fuzz_framer.py`` for the
input layout). Files are named by the SHA-1 of their content, so re-running only
adds files; crash inputs saved beside them are never touched.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
#: Seeds larger than this are not kept (the whole corpus stays well under 2 MB).
MAX_SEED = 16_384


def _ip_payload(buf: bytes, linktype: int) -> Any:
    import dpkt

    if linktype == 1:  # Ethernet
        return dpkt.ethernet.Ethernet(buf).data
    if linktype == 113:  # Linux cooked capture v1
        return dpkt.sll.SLL(buf).data
    if linktype in (12, 14, 101, 228, 229):  # raw IP (228: IPv4 only, 229: IPv6 only)
        version = buf[0] >> 4 if buf else 0
        return dpkt.ip6.IP6(buf) if version == 6 else dpkt.ip.IP(buf)
    raise ValueError(f"unsupported link type {linktype}")


def _sctp_data_chunks(payload: bytes) -> Iterator[bytes]:
    """User data of the SCTP DATA chunks in an SCTP packet (RFC 4960 §3.3.1)."""
    pos = 12  # common header
    while pos + 4 <= len(payload):
        chunk_type, _flags, length = struct.unpack_from("!BBH", payload, pos)
        if length < 4:
            return
        if chunk_type == 0 and length > 16:
            yield payload[pos + 16 : pos + length]
        pos += (length + 3) & ~3


def pcap_payloads(path: Path) -> tuple[list[bytes], list[bytes]]:
    """(datagrams: UDP and SCTP payloads, streams: one reassembled byte string per TCP flow)."""
    import dpkt

    datagrams: list[bytes] = []
    flows: dict[tuple[object, ...], dict[int, bytes]] = {}
    with path.open("rb") as fh:
        reader = dpkt.pcap.Reader(fh)
        linktype = reader.datalink()
        for _ts, buf in reader:
            try:
                ip = _ip_payload(buf, linktype)
            except (dpkt.dpkt.UnpackError, ValueError, IndexError):
                continue
            transport = getattr(ip, "data", None)
            if isinstance(transport, dpkt.udp.UDP):
                if transport.data:
                    datagrams.append(bytes(transport.data))
            elif isinstance(transport, dpkt.tcp.TCP):
                if transport.data:
                    key = (ip.src, transport.sport, ip.dst, transport.dport)
                    flows.setdefault(key, {})[transport.seq] = bytes(transport.data)
            elif getattr(ip, "p", None) == 132 and transport is not None:  # SCTP
                datagrams.extend(_sctp_data_chunks(bytes(transport)))
    streams = []
    for segments in flows.values():
        data = b""
        for seq in sorted(segments):
            data += segments[seq]  # retransmissions of the same seq collapse in the dict
        streams.append(data)
    return datagrams, streams


def _looks_like_sip(data: bytes) -> bool:
    head = data.lstrip(b"\r\n")[:64]
    return b"SIP/2.0" in data[:512] or head[:4].upper() == b"SIP/"


def _save(folder: Path, data: bytes) -> bool:
    if len(data) > MAX_SEED:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / hashlib.sha1(data).hexdigest()
    if target.exists():
        return False
    target.write_bytes(data)
    return True


def _split_stream_messages(stream: bytes) -> list[bytes]:
    """Cut a TCP stream into messages by Content-Length, for the parser corpus."""
    out = []
    pos = 0
    while pos < len(stream):
        end = stream.find(b"\r\n\r\n", pos)
        if end < 0:
            out.append(stream[pos:])
            break
        head = stream[pos:end].lower()
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip() in (b"content-length", b"l") and value.strip().isdigit():
                length = int(value.strip())
        out.append(stream[pos : end + 4 + length])
        pos = end + 4 + length
    return [m for m in out if m.strip()]


#: Chunk plans for framer seeds: control byte + plan bytes (see fuzz_framer.py).
PLANS = (
    b"\x11\x80",  # one byte at a time, EOF at the end
    b"\x03\x86\x0f\xbf",  # 7, 16 (no drain), 64 bytes, no EOF
    b"\x12\x80\x81",  # 1, 2 bytes, drained each time, EOF
    b"\x10",  # 16 bytes at a time (the default), EOF
)
#: Plans for long streams: byte-at-a-time feeding of kilobytes makes the harness slow.
LONG_PLANS = (b"\x03\x86\x0f\xbf", b"\x10", b"\x12\xbf\x8a")


def _plan(i: int, data: bytes) -> bytes:
    plans = PLANS if len(data) <= 1024 else LONG_PLANS
    return plans[i % len(plans)]


def main(argv: list[str]) -> int:
    shared = Path(argv[1]) if len(argv) > 1 else HERE.parent.parent / "shared" / "corpus"
    parser_dir = CORPUS / "parser"
    framer_dir = CORPUS / "framer"
    added = {"parser": 0, "framer": 0}
    rfc_messages: list[bytes] = []
    for sub in ("rfc4475", "rfc5118"):
        for path in sorted((shared / sub).glob("*.dat")):
            data = path.read_bytes()
            rfc_messages.append(data)
            added["parser"] += _save(parser_dir, data)
    captured: list[bytes] = []
    for path in sorted((shared / "pcap").glob("*.pcap")):
        datagrams, streams = pcap_payloads(path)
        for data in datagrams:
            if _looks_like_sip(data) or len(data) < 16:
                captured.append(data)
                added["parser"] += _save(parser_dir, data)
        for stream in streams:
            if not _looks_like_sip(stream):
                continue
            for message in _split_stream_messages(stream):
                added["parser"] += _save(parser_dir, message)
            for plan in LONG_PLANS:
                added["framer"] += _save(framer_dir, plan + stream[:MAX_SEED])
    # Framer: RFC messages one by one (under one plan each, rotating), and in runs with pings.
    for i, data in enumerate(rfc_messages):
        added["framer"] += _save(framer_dir, _plan(i, data) + data)
    good = [m for m in rfc_messages if m.endswith(b"\r\n\r\n") or b"\r\n\r\n" in m][:12]
    pings = (b"", b"\r\n", b"\r\n\r\n", b"\r\n\r\n\r\n\r\n")
    for i in range(0, len(good), 3):
        stream = b"".join(pings[(i + j) % len(pings)] + m for j, m in enumerate(good[i : i + 3]))
        for j in range(2):
            added["framer"] += _save(framer_dir, _plan(i + j, stream) + stream)
    for i, data in enumerate(captured[:24]):
        added["framer"] += _save(framer_dir, _plan(i, data) + b"\r\n\r\n" + data)
    print(f"added {added['parser']} parser seeds and {added['framer']} framer seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
