"""sipp 3.6 (Debian package sip-tester) registering with ``sipsans registrar``
(:class:`sipsans.Registrar`, RFC 3261 §10.3, with :class:`sipsans.auth.DigestServer`),
on 127.0.0.1 with bounded runs.

sipp answers only the first challenge it finds and knows only MD5, so the registrar
offers ``--algorithm MD5`` alone (by default it offers SHA-256 first, RFC 8760 §2.4).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Sipsans, free_port, run_sipp, sipp_scenario, sipp_stats

pytestmark = pytest.mark.interop

Run = Callable[[list[str]], Sipsans]


def register(cseq: int, *, expires: int | None, auth: bool) -> str:
    """A REGISTER step for sip:alice@<registrar>; ``expires=None`` sends no Contact
    (a query for the current bindings, §10.2.3)."""
    lines = []
    if expires is not None:
        lines += ["Contact: <sip:alice@[local_ip]:[local_port]>", f"Expires: {expires}"]
    if auth:
        lines.append("[authentication]")  # sipp's digest for the stored challenge
    headers = "".join(f"      {line}\n" for line in lines)
    return f"""  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:alice@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:alice@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: {cseq} REGISTER
{headers}      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""


def expect(status: int, *, contact: str | None = None, check: str = "") -> str:
    """A response step: a 401 stores the challenge for ``[authentication]``; for a 200,
    ``contact`` is a regexp the Contact header must match, or "" for no Contact at all."""
    if status == 401:
        return '  <recv response="401" auth="true" />\n'
    if contact is None:
        return f'  <recv response="{status}" />\n'
    inverse = "" if contact else "_inverse"
    regexp = contact or "sip:"
    return f"""  <recv response="{status}">
    <action>
      <ereg regexp="{regexp}" search_in="hdr" header="Contact:" check_it{inverse}="true"
            assign_to="{check}" />
    </action>
  </recv>
"""


def checked(*variables: str) -> str:
    """Declares the variables the ``ereg`` checks assign (sipp warns about unused ones)."""
    return f'  <Reference variables="{",".join(variables)}" />\n'


def run_scenario(
    sipp: str, tmp_path: Path, name: str, xml: str, registrar_port: int, *, sipp_port: int, pw: str
) -> None:
    path = tmp_path / f"{name}.xml"
    path.write_text(xml)
    screen = tmp_path / f"{name}.screen"
    args = ["-sf", str(path), f"127.0.0.1:{registrar_port}", "-i", "127.0.0.1"]
    args += ["-p", str(sipp_port), "-m", "1", "-au", "alice", "-ap", pw]
    args += ["-timeout", "20s", "-timeout_error"]
    rc = run_sipp(sipp, args, screen, timeout=40)
    assert rc == 0, screen.read_text(errors="replace")[-3000:]
    assert sipp_stats(screen) == {"Successful call": 1, "Failed call": 0}


def start_registrar(run_sipsans: Run, port: int, requests: int) -> Sipsans:
    registrar = run_sipsans(
        [
            *("registrar", "--listen", f"127.0.0.1:{port}", "--user", "alice:s3cret"),
            *("--algorithm", "MD5", "--requests", str(requests)),
        ]
    )
    registrar.wait_for("listening")
    return registrar


def test_sipp_registers_with_digest_and_unregisters(
    sipp: str, port: int, run_sipsans: Run, tmp_path: Path
) -> None:
    """401, then 200 echoing the binding with the granted expiry (§10.3 step 8),
    then Expires: 0 removes it: the 200 lists no Contact."""
    registrar = start_registrar(run_sipsans, port, requests=3)
    sipp_port = free_port()
    binding = rf"sip:alice@127\.0\.0\.1:{sipp_port}>;expires=120"
    xml = sipp_scenario(
        "register, then unregister",
        register(1, expires=120, auth=False),
        expect(401),
        register(2, expires=120, auth=True),
        expect(200, contact=binding, check="bound"),
        register(3, expires=0, auth=True),
        expect(200, contact="", check="removed"),
        checked("bound", "removed"),
    )
    run_scenario(sipp, tmp_path, "register", xml, port, sipp_port=sipp_port, pw="s3cret")
    assert registrar.finish(timeout=10) == 0, registrar.output()
    lines = registrar.output().splitlines()
    answers = [line.rsplit("-> ", 1)[1] for line in lines if line.startswith("REGISTER ")]
    assert answers == ["401 Unauthorized", "200 OK", "200 OK"], registrar.output()
    assert f"  binding <sip:alice@127.0.0.1:{sipp_port}>;expires=120" in lines
    assert "3 REGISTER requests answered" in lines


def test_sipp_with_a_wrong_password_gets_no_binding(
    sipp: str, port: int, run_sipsans: Run, tmp_path: Path
) -> None:
    """A wrong digest is challenged again (401) and binds nothing: a later query with
    the right password (REGISTER without Contact, §10.2.3) gets a 200 listing no binding."""
    registrar = start_registrar(run_sipsans, port, requests=4)
    wrong = sipp_scenario(
        "register with a wrong password",
        register(1, expires=120, auth=False),
        expect(401),
        register(2, expires=120, auth=True),
        expect(401),
    )
    run_scenario(sipp, tmp_path, "wrong", wrong, port, sipp_port=free_port(), pw="wrong")
    query = sipp_scenario(
        "query the bindings",
        register(1, expires=None, auth=False),
        expect(401),
        register(2, expires=None, auth=True),
        expect(200, contact="", check="none"),
        checked("none"),
    )
    run_scenario(sipp, tmp_path, "query", query, port, sipp_port=free_port(), pw="s3cret")
    assert registrar.finish(timeout=10) == 0, registrar.output()
    lines = registrar.output().splitlines()
    answers = [line.rsplit("-> ", 1)[1] for line in lines if line.startswith("REGISTER ")]
    assert answers == ["401 Unauthorized"] * 3 + ["200 OK"], registrar.output()
    assert not any("binding" in line for line in lines), registrar.output()
