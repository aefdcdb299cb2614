"""Compatibility suite: the real OpenStack clients against the catalog.

scripts/test installs the pinned clients (requirements.txt) into a virtual
environment, starts the catalog under `wrangler dev` and passes its URL in
CATALOG_URL. Every test drives a real client: the `glance` CLI, openstacksdk,
or the `openstack` CLI.

The suite runs twice: against the `noauth` catalog with plain endpoints (as
the recordings were made), and with COMPAT_AUTH=keystone against the catalog
in `keystone` mode, where every client logs in to the real Keystone at
KEYSTONE_URL with a password and finds the catalog in Keystone's service
catalog, as it would find Glance.
"""

import hashlib
import os
import pty
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import helpers
from identity import Keystone

BIN = Path(sys.executable).parent
KEYSTONE_MODE = os.environ.get("COMPAT_AUTH") == "keystone"


def pytest_configure(config):
    if not os.environ.get("CATALOG_URL"):
        raise pytest.UsageError("CATALOG_URL is not set: run the compatibility suite with scripts/test")
    if KEYSTONE_MODE:
        for name in ("KEYSTONE_URL", "KEYSTONE_ADMIN_PASSWORD"):
            if not os.environ.get(name):
                raise pytest.UsageError(f"COMPAT_AUTH=keystone needs {name}: run the suite with scripts/test")
        keystone = Keystone(os.environ["KEYSTONE_URL"], os.environ["KEYSTONE_ADMIN_PASSWORD"])
        keystone.register_image_endpoint(os.environ["CATALOG_URL"].rstrip("/"))
        # Plain HTTP calls of the suite carry the admin's token too.
        helpers.TOKEN_SOURCE = keystone.admin


def keystone_login():
    """Password login options shared by both CLIs (the bootstrap admin)."""
    return {
        "auth-url": os.environ["KEYSTONE_URL"].rstrip("/") + "/v3",
        "username": "admin",
        "password": os.environ["KEYSTONE_ADMIN_PASSWORD"],
        "project-name": "admin",
        "user-domain-name": "Default",
        "project-domain-name": "Default",
        "region-name": "RegionOne",
    }


def login_args():
    return [arg for key, value in keystone_login().items() for arg in (f"--os-{key}", value)]


@pytest.fixture(scope="session")
def catalog_url():
    return os.environ["CATALOG_URL"].rstrip("/")


@pytest.fixture
def unique():
    """A name prefix unique to one test."""
    return f"compat-{uuid.uuid4().hex[:12]}"


class Cli:
    """Runs a client CLI and captures what a user would see."""

    def __init__(self, argv, env, closed_stdin):
        self.argv = argv
        self.env = env
        self.closed_stdin = closed_stdin

    def run(self, *args, check=True, timeout=300):
        # Both CLIs treat a non-tty stdin as image data to upload. glance is
        # run as `glance ... <&-` (closed stdin); openstack needs a stdin it
        # can call isatty() on, so it gets a pseudo-terminal, like a user.
        controller, terminal = pty.openpty()
        try:
            result = subprocess.run(
                [*self.argv, *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL if self.closed_stdin else terminal,
                preexec_fn=(lambda: os.close(0)) if self.closed_stdin else None,
            )
        finally:
            os.close(controller)
            os.close(terminal)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(self.argv + list(args))} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result


@pytest.fixture(scope="session")
def client_home(tmp_path_factory):
    """A clean HOME: glanceclient caches schemas in ~/.glanceclient."""
    return tmp_path_factory.mktemp("home")


def _env(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(home)
    return env


@pytest.fixture(scope="session")
def glance(catalog_url, client_home):
    """The glance CLI with a plain endpoint and token, as in the recordings;
    in keystone mode, logged in with a password."""
    if KEYSTONE_MODE:
        return Cli([str(BIN / "glance"), *login_args()], _env(client_home), closed_stdin=True)
    return Cli([str(BIN / "glance"), "--os-image-url", catalog_url, "--os-auth-token", "fake"], _env(client_home), closed_stdin=True)


@pytest.fixture(scope="session")
def openstack_cli(catalog_url, client_home):
    """The openstack CLI without Keystone, or with password auth."""
    if KEYSTONE_MODE:
        return Cli([str(BIN / "openstack"), "--os-auth-type", "password", "--os-identity-api-version", "3",
                    *login_args()], _env(client_home), closed_stdin=False)
    return Cli([str(BIN / "openstack"), "--os-auth-type", "none", "--os-endpoint", catalog_url], _env(client_home), closed_stdin=False)


@pytest.fixture(scope="session")
def sdk(catalog_url):
    """An openstacksdk connection with auth_type none, as in the recordings;
    in keystone mode, a password session."""
    import openstack

    if KEYSTONE_MODE:
        login = {key.replace("-", "_"): value for key, value in keystone_login().items()}
        region = login.pop("region_name")
        return openstack.connect(region_name=region, **login)

    return openstack.connect(auth_type="none", auth={"endpoint": catalog_url})


@pytest.fixture
def payload(tmp_path):
    """A 3 MiB random file and its hashes (the recordings upload 3 MiB)."""
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    return {
        "path": path,
        "data": data,
        "md5": hashlib.md5(data).hexdigest(),
        "sha512": hashlib.sha512(data).hexdigest(),
    }


@pytest.fixture(scope="session", autouse=True)
def _no_stray_clients_config(client_home):
    """Make sure no clouds.yaml of the machine's user leaks in."""
    config = Path(client_home) / ".config" / "openstack"
    if config.exists():
        shutil.rmtree(config)
