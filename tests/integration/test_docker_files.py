"""The Docker files, checked statically (no Docker engine runs here): the compose file
validates, and the Dockerfile uses the same entrypoint, config files and ports as the
native runner that the other integration tests exercise."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import need_binary
from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration


def dockerfile() -> dict[str, list[str]]:
    """instruction -> its arguments, in order (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.setdefault(word.upper(), []).append(rest.strip())
    return out


def docker_env(df) -> dict[str, str]:
    env = {}
    for args in df["ENV"]:
        for key, value in re.findall(r'(\w+)=("[^"]*"|\S+)', args):
            env[key] = value.strip('"')
    return env


def port_mapping(port) -> tuple[str, str, str]:
    """(host address, host port, container port) of a `docker-compose config` port."""
    if isinstance(port, dict):
        return port.get("host_ip", "0.0.0.0"), str(port["published"]), str(port["target"])
    host_ip, published, target = port.split("/")[0].split(":")
    return host_ip, published, target


def compose_config(env_extra: dict) -> subprocess.CompletedProcess:
    if shutil.which("docker-compose") is None:
        need_binary("docker-compose")
    env = {k: v for k, v in os.environ.items() if k not in ("API_TOKEN", "PG_PASSWORD")}
    env.update(env_extra)
    return subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_docker_compose_config_validates():
    out = compose_config({"API_TOKEN": "t0ken"})
    assert out.returncode == 0, out.stderr
    config = yaml.safe_load(out.stdout)
    app = config["services"]["app"]
    # the host's 5000 (every address) -> nginx's 5001 by default
    assert [port_mapping(p) for p in app["ports"]] == [("0.0.0.0", "5000", "5001")]
    assert app["environment"]["API_TOKEN"] == "t0ken"
    assert app["environment"]["MLSTACK_ENV"] == "production"
    assert app["restart"] in ("unless-stopped", "always")
    assert "healthcheck" in app
    mounts = {v.split(":")[1] if isinstance(v, str) else v["target"] for v in app["volumes"]}
    df_env = docker_env(dockerfile())
    var = df_env["MLSTACK_VAR"]
    # the database cluster, models and logs each in a named volume, where the
    # entrypoint puts them (its defaults under MLSTACK_VAR)
    assert {f"{var}/pgdata", f"{var}/models", f"{var}/log", var} <= mounts


def test_docker_compose_host_port_and_address_come_from_the_environment():
    out = compose_config(
        {"API_TOKEN": "t0ken", "MLSTACK_PORT": "5123", "MLSTACK_BIND": "127.0.0.1"}
    )
    assert out.returncode == 0, out.stderr
    (port,) = yaml.safe_load(out.stdout)["services"]["app"]["ports"]
    assert port_mapping(port) == ("127.0.0.1", "5123", "5001")


def test_docker_compose_refuses_to_run_without_a_token():
    out = compose_config({})
    assert out.returncode != 0
    assert "API_TOKEN" in out.stderr


def test_dockerfile_runs_what_the_native_runner_runs():
    df = dockerfile()
    env = docker_env(df)
    home = env["MLSTACK_HOME"]
    assert df["WORKDIR"][-1] == home
    assert ". ." in df["COPY"]  # the whole checkout, as natively

    # exec form, the same script conf/stack.sh execs
    entrypoint = json.loads(df["ENTRYPOINT"][-1])
    assert entrypoint == [f"{home}/conf/entrypoint.sh"]
    runner = (ROOT / "conf" / "stack.sh").read_text()
    assert 'exec "$ROOT/conf/entrypoint.sh"' in runner
    assert os.access(ROOT / "conf" / "entrypoint.sh", os.X_OK)
    assert os.access(ROOT / "conf" / "stack.sh", os.X_OK)

    # the entrypoint starts the top-level supervisord.conf, whose programs use the
    # top-level nginx.conf and conf/gunicorn.conf.py, in the container and natively
    entry = (ROOT / "conf" / "entrypoint.sh").read_text()
    assert 'exec "$SUPERVISORD" -c "$MLSTACK_HOME/supervisord.conf"' in entry
    sup = (ROOT / "supervisord.conf").read_text()
    assert "-c %(ENV_MLSTACK_HOME)s/nginx.conf" in sup
    assert "-c %(ENV_MLSTACK_HOME)s/conf/gunicorn.conf.py wsgi:app" in sup
    # supervisorctl in the container reads what the entrypoint writes for it
    assert (
        f"ln -s {env['MLSTACK_VAR']}/run/supervisorctl.conf {env['MLSTACK_BIN'].rsplit('/', 1)[0]}"
        "/etc/supervisord.conf"
    ) in " ".join(df["RUN"])

    # the binaries the entrypoint is pointed at exist where the Dockerfile installs them
    assert env["PG_BIN"] == "/usr/lib/postgresql/15/bin" and "postgresql-15" in " ".join(df["RUN"])
    assert env["NGINX_BIN"] == "/usr/sbin/nginx" and "nginx" in " ".join(df["RUN"])
    assert env["MLSTACK_ENV"] == "production"

    # ports: EXPOSE = nginx's listen; nginx's upstream = gunicorn's default bind
    nginx = (ROOT / "nginx.conf").read_text()
    assert df["EXPOSE"] == ["5001"]
    assert re.findall(r"^\s*listen\s+(\d+)", nginx, re.M) == ["5001"]
    assert re.search(r"server 127\.0\.0\.1:5000;", nginx)
    gconf = (ROOT / "conf" / "gunicorn.conf.py").read_text()
    assert "f\"127.0.0.1:{_int('PORT', 5000)}\"" in gconf
    assert "GUNICORN_BIND=127.0.0.1:5000" in entry  # a PORT meant for `make run` cannot move it

    # the health check probes readiness through nginx
    health = df["HEALTHCHECK"][-1]
    assert "http://127.0.0.1:5001/api/v1/health/ready" in health


def test_nginx_body_limit_matches_the_apps(monkeypatch):
    from app.config import Config

    for var in ("MAX_UPLOAD_MB", "MAX_DATASET_MB"):
        monkeypatch.delenv(var, raising=False)
    nginx = (ROOT / "nginx.conf").read_text()
    mb = int(re.search(r"client_max_body_size\s+(\d+)m;", nginx).group(1))
    assert mb * 1024 * 1024 == Config().MAX_CONTENT_LENGTH
