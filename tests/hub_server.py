"""A loopback Hugging Face Hub for tests: the HTTP endpoints that huggingface_hub (2.4) and transformers call to
create a repository, commit files to it, and list and download them, served from memory by `http.server` in a
thread.

What it implements (model repositories only):
- `POST /api/repos/create`, `POST /api/repos/delete`/`DELETE /api/repos/delete`: a new repository starts, like
  on the Hub, with one commit holding `.gitattributes` on `main`.
- `POST /api/validate-yaml`: the README metadata must be a YAML mapping.
- `POST /api/models/{repo}/preupload/{rev}`: as on the Hub, `*.safetensors`, `*.png`, `*.bin`/`*.pt`/`*.pth`,
  TensorBoard event files (`*tfevents*`) and any file over 10 MiB go through LFS ("lfs"), everything else travels
  base64-encoded in the commit ("regular"); the answer carries the id of the file already there (git blob id, or
  sha256 for LFS files), so unchanged files are skipped as on the Hub.
- LFS (the path huggingface_hub takes without hf_xet, or with HF_HUB_DISABLE_XET=1):
  `POST /{repo}.git/info/lfs/objects/batch` (basic transfer: an upload and a verify action per object not yet
  stored), `PUT /lfs-storage/{sha256}` (the storage; the content must hash to its name),
  `POST /{repo}.git/info/lfs/objects/verify`. `lfs_storage_status` makes the storage refuse uploads.
- Xet (huggingface_hub's default path whenever hf_xet is installed): `GET /api/models/{repo}/xet-write-token/{rev}`
  hands out a write token for the CAS at `xet_cas_url` (default: this server's `/xet-cas`). The CAS itself is
  **not** emulated (its xorb and shard formats are hf_xet's business): every `/xet-cas/...` request is answered
  with `xet_cas_status` (default 501), and `xet_cas_url` may point at an address where nothing listens. So an
  Xet upload fails here, as it does on the Hub when its storage is unreachable or refuses; successful pushes in
  the tests take the LFS path.
- `POST /api/models/{repo}/commit/{rev}`: the NDJSON payload (header, `file` base64 content, `lfsFile` pointers
  to uploaded LFS objects, `deletedFile`, `deletedFolder`); an `lfsFile` whose object was never uploaded is
  refused. A commit is applied whole or not at all.
- `POST`/`DELETE /api/models/{repo}/branch/{branch}`, `GET /api/models/{repo}/refs`.
- `GET /api/models/{repo}[/revision/{rev}]`, `GET /api/models/{repo}/tree/{rev}[/{path}]`.
- `HEAD`/`GET /{repo}/resolve/{rev}/{path}` with the `X-Repo-Commit` and `ETag` headers downloads rely on (and
  `X-Linked-Etag` / `X-Linked-Size`, the sha256 and size, for LFS files).
- `GET /api/whoami-v2`.

Errors carry the `X-Error-Code` / `X-Error-Message` headers from which huggingface_hub builds its exceptions
(`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`). Tokens are given to the server with their owner and
whether they may write; private repositories are visible to their owner only. `refuse_commits_to` lists repos
whose commits fail (a server-side error after the repo exists), to test that a client leaves nothing behind.

Usage:

    with LoopbackHub(tokens={"hf_write": ("alice", True)}) as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_write", ...}  # for a child process
        hub.files("alice/model")  # {path: bytes} at main
"""

import base64
import fnmatch
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

# What the Hub sends through LFS: these patterns (as in its default `.gitattributes`) and any file over 10 MiB.
LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.png", "*tfevents*")
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
GITATTRIBUTES = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in LFS_PATTERNS).encode()


def uses_lfs(path: str, size: int) -> bool:
    """Whether the Hub's preupload answers "lfs" for a file: an LFS pattern matches its name, or it is over 10 MiB."""
    name = path.rsplit("/", 1)[-1]
    return size > LFS_SIZE_THRESHOLD or any(fnmatch.fnmatchcase(name, pattern) for pattern in LFS_PATTERNS)


def git_blob_id(content: bytes) -> str:
    """The git object id of a blob (what the Hub reports as a regular file's `oid` and ETag)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    description: str
    files: dict[str, bytes]
    lfs_files: frozenset[str] = frozenset()  # the paths stored as LFS objects (the others are git blobs)


@dataclass
class Repo:
    repo_id: str
    owner: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit oid
    commits: dict[str, Commit] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        return self.commits.get(revision)


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class LoopbackHub:
    """The in-memory Hub and its HTTP server on 127.0.0.1 (a free port). Use as a context manager."""

    def __init__(self, tokens: dict[str, tuple[str, bool]] | None = None):
        self.tokens = dict(tokens or {})  # token -> (user name, may write)
        self.repos: dict[str, Repo] = {}
        self.refuse_commits_to: set[str] = set()
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) in arrival order
        self.lfs_objects: dict[str, bytes] = {}  # LFS storage: sha256 hex -> content
        self.lfs_storage_status: int | None = None  # when set, LFS storage answers uploads with this HTTP status
        self.xet_cas_url: str | None = None  # the CAS in Xet write tokens (None: this server's /xet-cas)
        self.xet_cas_status = 501  # what this server's /xet-cas answers (the CAS is not emulated)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> "LoopbackHub":
        hub = self

        class Handler(_HubRequestHandler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> "LoopbackHub":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- setup and inspection helpers for tests --------------------------------------------------------------------------
    def add_repo(self, repo_id: str, files: dict[str, bytes] | None = None, private: bool = False) -> Repo:
        """A repository that exists before the test, owned by its namespace, with `files` committed on main."""
        with self._lock:
            return self._new_repo(repo_id, private, files or {})

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        with self._lock:
            commit = self.repos[repo_id].resolve(revision)
            return dict(commit.files)

    def history(self, repo_id: str, revision: str = "main") -> list[Commit]:
        """Commits reachable from `revision`, newest first."""
        with self._lock:
            repo = self.repos[repo_id]
            commit, chain = repo.resolve(revision), []
            while commit is not None:
                chain.append(commit)
                commit = repo.commits.get(commit.parent) if commit.parent else None
            return chain

    # --- state changes (called with the lock held) -------------------------------------------------------------
    def _user(self, authorization: str | None, required: bool) -> str | None:
        if not authorization:
            if required:
                raise HubError(401, "Invalid credentials in Authorization header")
            return None
        token = authorization.removeprefix("Bearer ").strip()
        if token not in self.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.tokens[token][0]

    def _writer(
        self, authorization: str | None, repo: Repo | None = None, namespace: str | None = None
    ) -> str:
        user = self._user(authorization, required=True)
        if not self.tokens[authorization.removeprefix("Bearer ").strip()][1]:
            raise HubError(403, "You have read access but not the required permissions for this operation")
        if (repo.owner if repo is not None else namespace) != user:
            raise HubError(
                403, f"You don't have the rights to create or modify a repo under '{namespace or repo.owner}'"
            )
        return user

    def _visible_repo(self, repo_id: str, authorization: str | None) -> Repo:
        repo = self.repos.get(repo_id)
        user = None
        try:
            user = self._user(authorization, required=False)
        except HubError:
            pass  # an invalid token reads like an anonymous user, as on the Hub
        if repo is None or (repo.private and repo.owner != user):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def _new_repo(self, repo_id: str, private: bool, files: dict[str, bytes]) -> Repo:
        # As on the Hub, a new repository starts with one commit holding `.gitattributes`.
        repo = Repo(repo_id, repo_id.split("/")[0], private)
        self._commit(repo, "main", "initial commit", "", {".gitattributes": GITATTRIBUTES, **files})
        self.repos[repo_id] = repo
        return repo

    def _commit(
        self,
        repo: Repo,
        branch: str,
        title: str,
        description: str,
        files: dict[str, bytes],
        lfs_files: frozenset[str] = frozenset(),
    ) -> Commit:
        parent = repo.branches.get(branch)
        digest = hashlib.sha1(f"{repo.repo_id}\0{branch}\0{parent}\0{title}\0{time.time_ns()}".encode())
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + git_blob_id(files[path]).encode())
        commit = Commit(digest.hexdigest(), parent, title, description, files, frozenset(lfs_files))
        repo.commits[commit.oid] = commit
        repo.branches[branch] = commit.oid
        return commit


class _HubRequestHandler(BaseHTTPRequestHandler):
    hub: LoopbackHub
    server_version = "LoopbackHub/1.0"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    # --- plumbing ----------------------------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        body = self._read_body()
        try:
            with self.hub._lock:
                status, headers, payload = self._route(method, path, query, body)
        except HubError as error:
            status, payload = error.status, json.dumps({"error": error.message}).encode()
            headers = {"Content-Type": "application/json", "X-Error-Message": error.message}
            if error.code:
                headers["X-Error-Code"] = error.code
        except Exception as error:  # a bug in the test server: report it to the client as a 500
            status, payload = 500, json.dumps({"error": f"{type(error).__name__}: {error}"}).encode()
            headers = {"Content-Type": "application/json", "X-Error-Message": str(error)}
        self.hub.requests.append((method, path, status))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(payload)

    @staticmethod
    def _json(value, status: int = 200):
        return status, {"Content-Type": "application/json"}, json.dumps(value).encode()

    def _route(self, method: str, path: str, query: dict, body: bytes):
        auth = self.headers.get("Authorization")
        if path == "/api/whoami-v2" and method == "GET":
            user = self.hub._user(auth, required=True)
            return self._json({"type": "user", "name": user, "auth": {"accessToken": {"role": "write"}}})
        if path == "/api/repos/create" and method == "POST":
            return self._create_repo(auth, json.loads(body))
        if path == "/api/repos/delete" and method in ("POST", "DELETE"):
            return self._delete_repo(auth, json.loads(body))
        if path == "/api/validate-yaml" and method == "POST":
            return self._validate_yaml(json.loads(body))
        if path.startswith("/api/models/"):
            return self._model_api(method, path.removeprefix("/api/models/"), query, body, auth)
        if path.startswith("/lfs-storage/") and method == "PUT":
            return self._store_lfs_object(path.removeprefix("/lfs-storage/"), body)
        if path.startswith("/xet-cas/"):
            raise HubError(self.hub.xet_cas_status, "The loopback Hub does not emulate Xet storage (CAS)")
        if ".git/info/lfs/objects/" in path and method == "POST":
            repo_part, _, operation = path.lstrip("/").partition(".git/info/lfs/objects/")
            return self._lfs(unquote(repo_part), operation, json.loads(body), auth)
        if method in ("GET", "HEAD") and "/resolve/" in path:
            return self._resolve(method, path.lstrip("/"), auth)
        raise HubError(404, f"The loopback Hub does not implement {method} {path}")

    # --- endpoints ---------------------------------------------------------------------------------------------
    def _create_repo(self, auth, payload: dict):
        if payload.get("type") not in (None, "model"):
            raise HubError(400, "The loopback Hub only hosts model repositories")
        user = self.hub._user(auth, required=True)
        namespace = payload.get("organization") or user
        self.hub._writer(auth, namespace=namespace)
        repo_id = f"{namespace}/{payload['name']}"
        if repo_id in self.hub.repos:
            raise HubError(409, "You already created this model repo")
        private = payload.get("visibility", "private" if payload.get("private") else "public") == "private"
        self.hub._new_repo(repo_id, private, {})
        return self._json({"url": f"{self._base()}/{repo_id}", "name": repo_id, "id": repo_id})

    def _delete_repo(self, auth, payload: dict):
        user = self.hub._user(auth, required=True)
        repo_id = f"{payload.get('organization') or user}/{payload['name']}"
        repo = self.hub._visible_repo(repo_id, auth)
        self.hub._writer(auth, repo=repo)
        del self.hub.repos[repo_id]
        return self._json({})

    def _validate_yaml(self, payload: dict):
        content = payload.get("content", "")
        errors = []
        if content.startswith("---"):
            end = content.find("\n---", 3)
            if end < 0:
                errors.append({"message": "the metadata block is not closed by '---'"})
            else:
                try:
                    metadata = yaml.safe_load(content[3:end])
                except yaml.YAMLError as error:
                    errors.append({"message": f"invalid YAML: {error}"})
                else:
                    if metadata is not None and not isinstance(metadata, dict):
                        errors.append({"message": "the metadata must be a YAML mapping"})
        if errors:
            return self._json({"errors": errors, "warnings": []}, status=400)
        return self._json({"errors": [], "warnings": []})

    def _model_api(self, method: str, rest: str, query: dict, body: bytes, auth):
        segments = rest.split("/")
        if len(segments) < 2:
            raise HubError(404, "Repository not found", "RepoNotFound")
        repo_id, action, tail = "/".join(segments[:2]), segments[2] if len(segments) > 2 else "", segments[3:]
        repo = self.hub._visible_repo(repo_id, auth)
        if method == "GET" and action == "":
            return self._model_info(repo, "main")
        if method == "GET" and action == "revision" and tail:
            return self._model_info(repo, unquote(tail[0]))
        if method == "GET" and action == "refs":
            branches = [
                {"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid}
                for name, oid in sorted(repo.branches.items())
            ]
            return self._json({"branches": branches, "tags": [], "converts": []})
        if method == "GET" and action == "tree" and tail:
            return self._tree(repo, unquote(tail[0]), unquote("/".join(tail[1:])), query)
        if method == "POST" and action == "preupload" and tail:
            return self._preupload(repo, unquote(tail[0]), json.loads(body), auth)
        if method == "GET" and action == "xet-write-token":
            return self._xet_write_token(repo, auth)
        if method == "POST" and action == "commit" and tail:
            return self._apply_commit(repo, unquote("/".join(tail)), body, query, auth)
        if action == "branch" and tail:
            return self._branch(method, repo, unquote("/".join(tail)), body, auth)
        raise HubError(404, f"The loopback Hub does not implement {method} /api/models/{rest}")

    def _commit_or_404(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _model_info(self, repo: Repo, revision: str):
        commit = self._commit_or_404(repo, revision)
        info = {
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.owner,
            "sha": commit.oid,
            "private": repo.private,
            "siblings": [{"rfilename": path} for path in sorted(commit.files)],
            "tags": [],
        }
        readme = commit.files.get("README.md", b"").decode()
        if readme.startswith("---"):
            metadata = yaml.safe_load(readme[3 : readme.find("\n---", 3)]) or {}
            info["cardData"] = metadata
            info["tags"] = list(metadata.get("tags") or [])
            info["pipeline_tag"] = metadata.get("pipeline_tag")
            info["library_name"] = metadata.get("library_name")
        return self._json(info)

    def _tree(self, repo: Repo, revision: str, folder: str, query: dict):
        commit = self._commit_or_404(repo, revision)
        prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
        recursive = query.get("recursive", "false").lower() in ("1", "true")
        entries, folders = [], set()
        for path in sorted(commit.files):
            if not path.startswith(prefix):
                continue
            relative = path[len(prefix) :]
            if "/" in relative and not recursive:
                folders.add(prefix + relative.split("/")[0])
                continue
            if recursive:
                parents = relative.split("/")[:-1]
                folders.update(prefix + "/".join(parents[: i + 1]) for i in range(len(parents)))
            content = commit.files[path]
            entry = {"type": "file", "path": path, "size": len(content), "oid": git_blob_id(content)}
            if path in commit.lfs_files:
                entry["lfs"] = {"oid": hashlib.sha256(content).hexdigest(), "size": len(content), "pointerSize": 134}
            entries.append(entry)
        if prefix and not entries and not folders:
            raise HubError(404, f"{folder} does not exist on {revision}", "EntryNotFound")
        entries += [
            {"type": "directory", "path": path, "oid": git_blob_id(path.encode())} for path in folders
        ]
        return self._json(sorted(entries, key=lambda entry: entry["path"]))

    def _preupload(self, repo: Repo, revision: str, payload: dict, auth):
        self.hub._writer(auth, repo=repo)
        commit = self._commit_or_404(repo, revision)
        files = []
        for item in payload["files"]:
            existing = commit.files.get(item["path"])
            lfs = uses_lfs(item["path"], int(item.get("size") or 0))
            oid = None
            if existing is not None:
                oid = hashlib.sha256(existing).hexdigest() if lfs else git_blob_id(existing)
            files.append(
                {"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
            )
        return self._json({"files": files, "commitOid": commit.oid})

    def _lfs(self, repo_id: str, operation: str, payload: dict, auth):
        """The LFS batch API (basic transfer) and its verify step."""
        repo = self.hub._visible_repo(repo_id, auth)
        self.hub._writer(auth, repo=repo)
        base = f"{self._base()}/{repo.repo_id}.git/info/lfs/objects"
        if operation == "batch":
            if payload.get("operation") != "upload":
                raise HubError(400, "The loopback Hub's LFS batch API only handles uploads")
            objects = []
            for item in payload.get("objects", []):
                oid, size = item["oid"], int(item["size"])
                stored = self.hub.lfs_objects.get(oid)
                entry = {"oid": oid, "size": size, "authenticated": True}
                if stored is None or len(stored) != size:  # already stored: no action, as on the Hub
                    entry["actions"] = {
                        "upload": {"href": f"{self._base()}/lfs-storage/{oid}", "expires_in": 3600},
                        "verify": {"href": f"{base}/verify", "header": {}},
                    }
                objects.append(entry)
            return (
                200,
                {"Content-Type": "application/vnd.git-lfs+json"},
                json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}).encode(),
            )
        if operation == "verify":
            stored = self.hub.lfs_objects.get(payload.get("oid"))
            if stored is None or len(stored) != payload.get("size"):
                raise HubError(404, f"LFS object {payload.get('oid')} was not uploaded (or has another size)")
            return self._json({})
        raise HubError(404, f"The loopback Hub does not implement the LFS {operation} endpoint")

    def _store_lfs_object(self, oid: str, body: bytes):
        """The storage an LFS upload action points at (on the Hub: S3, through a presigned URL)."""
        if self.hub.lfs_storage_status is not None:
            raise HubError(self.hub.lfs_storage_status, "The LFS storage refused the upload")
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, f"The uploaded content does not hash to {oid}")
        self.hub.lfs_objects[oid] = body
        return 200, {"ETag": f'"{hashlib.md5(body).hexdigest()}"'}, b""

    def _xet_write_token(self, repo: Repo, auth):
        """A short-lived Xet write token (in headers and body, as the Hub sends it) for the configured CAS."""
        self.hub._writer(auth, repo=repo)
        cas_url = self.hub.xet_cas_url or f"{self._base()}/xet-cas"
        expiry = int(time.time()) + 3600
        headers = {
            "Content-Type": "application/json",
            "X-Xet-Cas-Url": cas_url,
            "X-Xet-Access-Token": "xet_loopback_write_token",
            "X-Xet-Token-Expiration": str(expiry),
        }
        body = {"casUrl": cas_url, "accessToken": "xet_loopback_write_token", "exp": expiry}
        return 200, headers, json.dumps(body).encode()

    def _apply_commit(self, repo: Repo, revision: str, body: bytes, query: dict, auth):
        self.hub._writer(auth, repo=repo)
        if query.get("create_pr"):
            raise HubError(400, "The loopback Hub does not implement pull requests")
        head = self._commit_or_404(repo, revision)
        if revision not in repo.branches:
            raise HubError(400, f"Cannot commit to {revision}: not a branch")
        if repo.repo_id in self.hub.refuse_commits_to:
            raise HubError(403, "Commits to this repository are refused (storage quota exceeded)")
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The commit payload must start with a header line")
        header = lines[0]["value"]
        if header.get("parentCommit") and header["parentCommit"] != head.oid:
            raise HubError(412, "A commit has happened since the parent commit; rebase and retry")
        files, lfs_files = dict(head.files), set(head.lfs_files)
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, f"Unsupported encoding {value.get('encoding')!r}")
                files[value["path"]] = base64.b64decode(value["content"])
                lfs_files.discard(value["path"])
            elif key == "deletedFile":
                if value["path"] not in files:
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                del files[value["path"]]
                lfs_files.discard(value["path"])
            elif key == "deletedFolder":
                folder = value["path"].rstrip("/") + "/"
                files = {path: content for path, content in files.items() if not path.startswith(folder)}
                lfs_files = {path for path in lfs_files if path in files}
            elif key == "lfsFile":
                if value.get("algo", "sha256") != "sha256" or value.get("oid") not in self.hub.lfs_objects:
                    raise HubError(400, f"{value['path']}: its LFS object was never uploaded to the loopback Hub")
                files[value["path"]] = self.hub.lfs_objects[value["oid"]]
                lfs_files.add(value["path"])
            else:
                raise HubError(400, f"Unknown commit operation {key!r}")
        commit = self.hub._commit(
            repo, revision, header["summary"], header.get("description", ""), files, frozenset(lfs_files)
        )
        url = f"{self._base()}/{repo.repo_id}/commit/{commit.oid}"
        return self._json(
            {"success": True, "commitOid": commit.oid, "commitUrl": url, "pullRequestUrl": None}
        )

    def _branch(self, method: str, repo: Repo, branch: str, body: bytes, auth):
        self.hub._writer(auth, repo=repo)
        if method == "POST":
            if branch in repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            start = (json.loads(body) if body else {}).get("startingPoint") or "main"
            repo.branches[branch] = self._commit_or_404(repo, start).oid
            return self._json({})
        if method == "DELETE":
            if branch not in repo.branches or branch == "main":
                raise HubError(404 if branch != "main" else 403, f"Cannot delete branch {branch}")
            del repo.branches[branch]
            return self._json({})
        raise HubError(405, f"{method} is not allowed on branches")

    def _resolve(self, method: str, path: str, auth):
        repo_part, _, rest = path.partition("/resolve/")
        repo = self.hub._visible_repo(unquote(repo_part), auth)
        revision, _, filename = rest.partition("/")
        commit = self._commit_or_404(repo, unquote(revision))
        filename = unquote(filename)
        if filename not in commit.files:
            raise HubError(404, f"{filename} does not exist at {revision}", "EntryNotFound")
        content = commit.files[filename]
        headers = {
            "Content-Type": "application/octet-stream",
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{git_blob_id(content)}"',
        }
        if filename in commit.lfs_files:  # the Hub names the LFS object, not the pointer, in these headers
            headers["X-Linked-Etag"] = f'"{hashlib.sha256(content).hexdigest()}"'
            headers["X-Linked-Size"] = str(len(content))
        return 200, headers, content

    def _base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"


__all__ = ["GITATTRIBUTES", "LFS_PATTERNS", "Commit", "LoopbackHub", "Repo", "git_blob_id", "uses_lfs"]
