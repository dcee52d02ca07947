"""The `Dockerfile` of `workbench package`, built and run: the churn sample's model served over HTTP.

These machines have no Docker engine and no image registry, so the image is built with Debian's
podman on a base image made here: `debootstrap` of a minimal bookworm with python3 and its venv
module, imported as `localhost/...` and passed as the Dockerfile's `BASE_IMAGE` build argument (the
default, a public Python image, is what users build on). The base image is made once per machine
and reused (`podman image exists`); the built image keeps one stable tag, so podman's layer cache
keeps the slow `pip install` layer while the model's requirements do not change.

Then the container runs (the host's network, a free port in `PORT`), and its `POST /invocations`
must answer for raw rows exactly what the packaged model answers in-process, and what the run's
own estimator answers after the notebook's feature function.

Setup: `make container-deps` (a dependency of `make test`) installs podman, runc and debootstrap
and writes the containers.conf setting that podman needs here. A podman that is missing is a skip
that says so; one that is installed but misconfigured is a failure naming the fix.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from harness import ROOT, workbench

pytestmark = [pytest.mark.slow, pytest.mark.container]

# Bump the suffix when the recipe below changes: machines then make the new base once.
BASE = "localhost/workbench-test-base:bookworm-python3-1"
IMAGE = "localhost/workbench-test-churn:latest"
SUITE = "bookworm"
PACKAGES = "python3,python3-venv,python3-pip"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
RAW = ["tenure_months", "monthly_charges", "calls"]
FEATURES = ["tenure_months", "monthly_charges", "calls", "calls_per_month", "is_new"]
SETUP = "run `make container-deps` (apt-get install podman runc debootstrap, and the containers.conf setting)"


def _add_features(df):
    """The notebook's function, restated: the test's own reference, independent of the package code."""
    out = df.copy()
    out["calls_per_month"] = out["calls"] / out["tenure_months"].clip(lower=1)
    out["is_new"] = (out["tenure_months"] < 6).astype(int)
    return out


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root,
                          check=True, capture_output=True, text=True).stdout.strip()


def podman(*args: str, timeout: int = 120, check: bool = False, **kwargs) -> subprocess.CompletedProcess:
    """podman with the runtime that works here: runc (crun refuses cgroups in hybrid mode)."""
    runtime = ["--runtime", "runc"] if shutil.which("runc") else []
    proc = subprocess.run(["podman", *runtime, *args], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


# --- the base image, made once per machine ---------------------------------------------------------

def debian_mirror() -> str:
    """The Debian mirror apt uses here (a machine may have no other route), else deb.debian.org."""
    if os.environ.get("WORKBENCH_DEBIAN_MIRROR"):
        return os.environ["WORKBENCH_DEBIAN_MIRROR"]
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for source in sources:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for line in source.read_text().splitlines():
                words = line.split()
                if words[:1] == ["URIs:"]:
                    urls = words[1:]
                elif words[:1] == ["deb"]:
                    urls = [w for w in words[1:] if "://" in w][:1]
                else:
                    continue
                for url in urls:
                    if "security" not in url and url.startswith(("http://", "https://")):
                        return url
    return "http://deb.debian.org/debian"


def _trust_host_cas(rootfs: Path) -> list[str]:
    """The machine's own certificate authorities, also in the image: where HTTPS goes through an
    intercepting proxy (as here), pip inside the build fails without them. Returns the ENV changes
    that point pip and Python at the system bundle (a venv's pip otherwise uses its own certifi)."""
    local = Path("/usr/local/share/ca-certificates")
    extra = sorted(local.glob("*.crt")) if local.is_dir() else []
    if extra:
        dest = rootfs / "usr/local/share/ca-certificates"
        dest.mkdir(parents=True, exist_ok=True)
        for cert in extra:
            shutil.copy2(cert, dest / cert.name)
        subprocess.run(["chroot", str(rootfs), "update-ca-certificates"], check=True, capture_output=True,
                       timeout=120)
    return [f"ENV {name}={CA_BUNDLE}" for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")]


def make_base_image() -> None:
    """debootstrap a minimal bookworm with python3 and venv, and import it as BASE (about 1-2 min)."""
    debootstrap = shutil.which("debootstrap") or next(
        (p for p in ("/usr/sbin/debootstrap", "/sbin/debootstrap") if Path(p).exists()), None)
    if debootstrap is None:
        pytest.fail(f"debootstrap not found: it makes the test's base image; {SETUP}", pytrace=False)
    if os.geteuid() != 0:
        pytest.skip(f"making the base image {BASE} needs root (debootstrap); make it once as root, or run as root")
    scratch = Path(tempfile.mkdtemp(prefix="workbench-base-", dir="/var/tmp"))
    try:
        rootfs = scratch / "rootfs"
        proc = subprocess.run([debootstrap, "--variant=minbase", f"--include={PACKAGES}", SUITE, str(rootfs),
                               debian_mirror()], capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise AssertionError(f"debootstrap failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
        changes = [arg for change in _trust_host_cas(rootfs) for arg in ("--change", change)]
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            podman("import", "-q", *changes, "-", BASE, stdin=tar.stdout, timeout=600, check=True)
        finally:
            tar.stdout.close()
            tar.wait()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def ensure_base_image() -> None:
    """BASE, made if this machine has none yet (under a lock: parallel sessions make it once)."""
    if podman("image", "exists", BASE).returncode == 0:
        return
    with open(Path(tempfile.gettempdir()) / "workbench-container-base.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if podman("image", "exists", BASE).returncode != 0:
            make_base_image()


@pytest.fixture(scope="module")
def base_image() -> str:
    """BASE, after checking that podman can run a container at all on this machine."""
    if shutil.which("podman") is None:
        pytest.skip(f"podman is not installed, so the container cannot be built: {SETUP}")
    ensure_base_image()
    probe = podman("run", "--rm", "--network=host", BASE, "python3", "-c", "import venv")
    if probe.returncode != 0:
        if "rlimit" in probe.stderr:  # "error setting rlimits for ready process: ... operation not permitted"
            pytest.fail("podman cannot run containers here until /etc/containers/containers.conf has "
                        f"`[containers]` `default_ulimits = []`: {SETUP}\n{probe.stderr[-1500:]}", pytrace=False)
        pytest.skip(f"podman is installed but cannot run a container on this machine: {probe.stderr[-800:]}")
    return BASE


# --- the package and its image ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> dict:
    """The churn sample run and packaged by the CLI in a scratch git project (not the repo's pipelines/)."""
    root = tmp_path_factory.mktemp("container")
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("output"))
    _git(root, "init", "-q")
    _git(root, "add", "notebooks")
    _git(root, "commit", "-q", "-m", "notebooks")
    workbench("run", "notebooks/churn.ipynb", "--no-track", cwd=root, check=True)
    workbench("package", "notebooks/churn.ipynb", "--no-register", cwd=root, check=True)
    return {"root": root, "out": root / "pipelines" / "churn" / "package"}


@pytest.fixture(scope="module")
def image(base_image, packaged):
    """The package's Dockerfile built as is, on the local base (`--build-arg BASE_IMAGE`).

    Tagged twice: this run's own tag (removed at the end; a concurrent run cannot take it away) and
    IMAGE, which holds podman's layer cache for the next run. The image IMAGE named before, once no
    tag is left on it, is removed: its own top layers only, the shared ones stay cached."""
    mine = f"{IMAGE.rsplit(':', 1)[0]}:run-{os.getpid()}"
    previous = podman("image", "inspect", "--format", "{{.Id}}", IMAGE).stdout.strip()
    podman("build", "--isolation=chroot", "--layers", "--build-arg", f"BASE_IMAGE={base_image}", "-t", mine,
           "-t", IMAGE, str(packaged["out"]), timeout=1200, check=True)
    current = podman("image", "inspect", "--format", "{{.Id}}", IMAGE).stdout.strip()
    if previous and previous != current and \
            podman("image", "inspect", "--format", "{{len .RepoTags}}", previous).stdout.strip() == "0":
        podman("rmi", previous)
    yield mine
    podman("rmi", mine)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture(scope="module")
def server(image):
    """The image run as users run it (its own CMD), on the host's network at a free PORT."""
    port = _free_port()
    name = f"workbench-test-churn-{os.getpid()}-{port}"
    podman("run", "-d", "--rm", "--network=host", "-e", f"PORT={port}", "--name", name, image, check=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{url}/ping", timeout=5) as response:
                    if response.status == 200:
                        break
            if time.monotonic() > deadline or podman("container", "exists", name).returncode != 0:
                logs = podman("logs", name)
                raise AssertionError(f"the container did not answer /ping in 120 s\n{logs.stdout[-3000:]}"
                                     f"\n{logs.stderr[-3000:]}")
            time.sleep(0.5)
        yield {"url": url, "name": name}
    finally:
        stopped = time.monotonic()
        podman("stop", "-t", "10", name)
        podman("rm", "-f", "--ignore", name)
    # the image's CMD passes SIGTERM on: a stop must not wait for the kill timeout
    assert time.monotonic() - stopped < 8, "podman stop waited for SIGKILL: the server ignored SIGTERM"


def test_the_container_scores_raw_rows_as_the_model_does_in_process(packaged, server):
    import mlflow.pyfunc
    import numpy as np

    from workbench.runtime import load

    root, out = packaged["root"], packaged["out"]
    rows = load(root / "pipelines" / "churn" / "products" / "load" / "raw")[RAW].head(50)
    in_process = np.asarray(mlflow.pyfunc.load_model(str(out / "model")).predict(rows))
    clf = load(root / "pipelines" / "churn" / "products" / "train" / "clf")
    reference = clf.predict_proba(_add_features(rows)[FEATURES])

    status, answer = _post(f"{server['url']}/invocations", {"dataframe_split": rows.to_dict(orient="split")})
    assert status == 200, answer
    served = np.asarray(answer["predictions"])
    assert served.shape == (50, 2)
    np.testing.assert_allclose(served, in_process, rtol=1e-12, atol=0)
    np.testing.assert_allclose(served, reference, rtol=1e-12, atol=0)


def test_the_container_refuses_rows_without_a_model_input(server):
    status, answer = _post(f"{server['url']}/invocations",
                           {"dataframe_split": {"columns": ["tenure_months", "monthly_charges"], "data": [[3, 70.5]]}})
    assert status == 400 and "calls" in answer.get("message", ""), answer
