"""Critical: no server file is read, no outbound request is made, no other site drives us."""

from __future__ import annotations

import http.client
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.security.conftest import (
    ROOT,
    Server,
    add_articles,
    browser_client,
    events,
    file_data,
    fn_index,
    gradio_config,
    join,
    upload,
)

SECRET = "Zorblax Quintavelle is the secret passphrase of the server operator."


def raw_request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes | None = None) -> tuple[int, bytes]:
    """A request sent byte for byte: no client-side normalisation of ``..`` or escapes."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True,
                        skip_host="Host" in (headers or {}))
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def asks(server: Server, question: str) -> str:
    with server.client() as c:
        r = c.post("/api/ask", json={"question": question})
    return r.text


# -- 1. uploads only through the upload route ------------------------------------------------

@pytest.fixture()
def secret_file(tmp_path: Path) -> Path:
    p = tmp_path / "operator-notes.txt"
    p.write_text(f"Operator notes\n\n{SECRET} It was set on March 3, 2024.\n")
    return p


def test_a_server_path_in_an_event_is_refused_before_any_read(server: Server,
                                                              secret_file: Path) -> None:
    c = browser_client(server)
    fn = fn_index(gradio_config(server, c), "upload")
    r, session = join(c, fn, [[file_data(str(secret_file), "notes.txt")]])
    if r.status_code == 200:  # accepted into the queue: it must at least fail there
        done = events(c, session)[-1]
        assert not done.get("success") or "Added" not in str(done.get("output"))
    else:
        assert r.status_code == 403 and "upload" in r.json()["detail"]
    assert "Zorblax" not in asks(server, "What is the secret passphrase of the operator?")
    docs = c.get("/api/documents").json()["documents"]
    assert not any("Operator" in d["title"] for d in docs)


def test_a_file_placed_in_the_upload_cache_but_not_uploaded_is_refused(
        server: Server, secret_file: Path) -> None:
    """Inside Gradio's folder is not enough: the upload route must have handed it out."""
    c = browser_client(server)
    r = upload(c, [("decoy.txt", b"A decoy article about nothing in particular.\n")])
    assert r.status_code == 200
    cache = Path(r.json()[0]).parent
    planted = cache / "planted.txt"
    shutil.copy(secret_file, planted)
    try:
        fn = fn_index(gradio_config(server, c), "upload")
        r, session = join(c, fn, [[file_data(str(planted), "planted.txt")]])
        assert r.status_code == 403, r.text
        assert "Zorblax" not in asks(server, "What is the secret passphrase of the operator?")
    finally:
        planted.unlink()  # planted by the test, not written by the server


def test_an_upload_of_another_session_is_refused(server: Server) -> None:
    alice, mallory = browser_client(server), browser_client(server)
    r = upload(alice, [("alice.txt", b"Alice's private draft about the harbour budget.\n")])
    assert r.status_code == 200
    fn = fn_index(gradio_config(server, mallory), "upload")
    r, _ = join(mallory, fn, [[file_data(r.json()[0], "alice.txt")]])
    assert r.status_code == 403, r.text


def test_the_upload_route_then_the_event_still_adds_an_article(server: Server) -> None:
    status = add_articles(server, [(
        "harbour.txt",
        b"Harbour budget approved\n\nThe city council of Velmora approved the harbour budget "
        b"of 12 million euros on Tuesday, officials said. The vote was 9 to 2.\n")])
    assert "Added" in status, status
    with server.client() as c:
        docs = c.get("/api/documents").json()["documents"]
    assert any("Harbour" in d["title"] for d in docs)


# -- 1b. no outbound requests -----------------------------------------------------------------

FETCHING = [
    "/gradio_api/file/http://10.255.255.1/secret",
    "/gradio_api/file/http://outside.example/x.txt",
    "/gradio_api/file=http://10.255.255.1/secret",
    "/gradio_api/file=https://outside.example/x.txt",
    "/gradio_api/file=http%3A%2F%2Foutside.example%2Fx",
    "/gradio_api/file=%2F%2Foutside.example%2Fx",
    "/gradio_api/proxy=http://outside.example/x",
    "/gradio_api/proxy=https://huggingface.co/spaces/x/y/file=z",
    "/file=http://outside.example/x",
    "/file/http://outside.example/x",
]


@pytest.mark.parametrize("path", FETCHING)
def test_no_route_fetches_a_url(server: Server, path: str) -> None:
    status, _ = raw_request(server.port, "GET", path, {"Host": server.host})
    assert status in (403, 404), status
    assert server.outbound() == []


def test_a_url_as_an_event_file_is_not_fetched(server: Server) -> None:
    c = browser_client(server)
    fn = fn_index(gradio_config(server, c), "upload")
    for target in ("http://outside.example/article.txt", "http://10.255.255.1/a.txt"):
        r, session = join(c, fn, [[file_data(target, "a.txt")]])
        if r.status_code == 200:
            events(c, session)
        else:
            assert r.status_code == 403
    assert server.outbound() == []


def test_a_whole_session_of_normal_use_never_connects_out(server: Server) -> None:
    """Page, config, assets, questions, an upload: the socket guard sees nothing outbound."""
    c = browser_client(server)
    page = c.get("/")
    assert page.status_code == 200
    for q in ("When did the US warn Russia?", "How many people died?", "Who is Zorblax?"):
        assert c.post("/api/ask", json={"question": q}).status_code == 200
    add_articles(server, [("ferry.txt", b"Ferry service resumes\n\nThe ferry between Osk and "
                                        b"Brel resumed service on Monday after storms.\n")], c)
    assert server.outbound() == [], server.outbound()


# -- 2. same origin only ----------------------------------------------------------------------

@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:7860", "127.0.0.2",
                                  "localhost.attacker.example", ""])
def test_an_unknown_host_is_refused(server: Server, host: str) -> None:
    status, body = raw_request(server.port, "GET", "/api/documents", {"Host": host})
    assert status in (400, 421), (status, body)
    assert b"Crocus" not in body


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}",
                                  "localhost"])
def test_local_host_names_are_answered(server: Server, host: str) -> None:
    status, _ = raw_request(server.port, "GET", "/api/health",
                            {"Host": host.format(port=server.port)})
    assert status == 200


CROSS_SITE = [
    {"Origin": "http://attacker.example"},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"},  # another local service is another origin
    {"Referer": "http://attacker.example/page.html"},
    {"Sec-Fetch-Site": "cross-site"},
]


@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: "-".join(f"{k}" for k in h))
def test_a_cross_site_upload_is_refused_and_writes_nothing(server: Server,
                                                           headers: dict[str, str]) -> None:
    with server.client() as c:
        r = upload(c, [("csrf.txt", b"Planted by another site.\n")], headers=headers)
    assert r.status_code == 403, r.text
    assert r.json()["detail"]


@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: "-".join(f"{k}" for k in h))
def test_cross_site_posts_to_our_routes_and_gradio_events_are_refused(
        server: Server, headers: dict[str, str]) -> None:
    with server.client() as c:
        assert c.post("/api/ask", json={"question": "When did the US warn Russia?"},
                      headers=headers).status_code == 403
        fn = fn_index(gradio_config(server, c), "question")
        r, _ = join(c, fn, ["When did the US warn Russia?", None, None, None, 8, "extractive"],
                    headers=headers)
        assert r.status_code == 403


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:1", "null",
                                    "http://attacker.example"])
def test_scripts_on_other_origins_cannot_read(server: Server, origin: str) -> None:
    """Gradio would answer any localhost origin with CORS headers: another local web app
    could read the page's config and our documents."""
    with server.client() as c:
        for path in ("/config", "/api/documents", "/gradio_api/info"):
            r = c.get(path, headers={"Origin": origin})
            assert r.status_code == 403, (path, r.status_code)
            assert "access-control-allow-origin" not in r.headers
        pre = c.options("/gradio_api/queue/join", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers


def test_same_origin_and_non_browser_posts_are_answered(server: Server) -> None:
    with server.client() as c:
        q = {"question": "When did the US warn Russia?"}
        assert c.post("/api/ask", json=q).status_code == 200  # curl, Python: no Origin
        assert c.post("/api/ask", json=q, headers={"Origin": server.url}).status_code == 200
        assert c.post("/api/ask", json=q, headers={
            "Origin": f"http://localhost:{server.port}",
            "Host": f"localhost:{server.port}"}).status_code == 200


def test_binding_beyond_localhost_needs_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if k != "RAG_API_TOKEN"}
    env["RAG_HOME"] = str(tmp_path / "home")
    r = subprocess.run([sys.executable, "-m", "ui.server", "--host", "0.0.0.0", "--port", "1"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "RAG_API_TOKEN" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_with_a_token_every_route_needs_it(indexed_home: Path, start_server,
                                           tmp_path: Path) -> None:
    from tests.security.conftest import copy_home

    home = copy_home(indexed_home, tmp_path / "home")
    s = start_server(home, env={"RAG_API_TOKEN": "s3cret-token-for-tests"})
    bare = httpx.Client(base_url=s.url, timeout=600)
    assert bare.get("/api/health").status_code == 200  # liveness stays open
    for method, path in (("GET", "/api/documents"), ("GET", "/"), ("GET", "/config"),
                         ("POST", "/api/ask"), ("POST", "/gradio_api/upload")):
        r = bare.request(method, path, json={"question": "When did the US warn Russia?"})
        assert r.status_code == 401, (method, path, r.status_code)
    wrong = bare.get("/api/documents", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    good = bare.get("/api/documents", headers={"Authorization": "Bearer s3cret-token-for-tests"})
    assert good.status_code == 200 and good.json()["count"] >= 4
    login = bare.get("/?token=s3cret-token-for-tests", follow_redirects=False)
    assert login.status_code == 303 and "token" not in login.headers["location"]
    assert bare.get("/api/documents").status_code == 200  # the cookie now carries it
