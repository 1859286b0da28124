"""The files a bundle is made of, read from the mlstack tree that is running
(MLSTACK_HOME: the checkout natively, /opt/mlstack in the image) and filtered or
parameterised for the chosen parts. One source of truth: the very supervisord.conf,
nginx.conf, entrypoint, gunicorn settings, logging.conf, Dockerfile and compose file
the stack and its tests run; nothing here is a second copy of them."""

from __future__ import annotations

import re
from pathlib import Path

from app.core.bundles.components import Choice
from app.core.errors import Unavailable

# the mlstack code copied into every bundle (installable with `pip install .`)
CODE_ROOTS = ("app",)
CODE_FILES = ("wsgi.py", "logging.conf", "conf/gunicorn.conf.py", "conf/run-dev.sh")
SKIPPED_PARTS = ("__pycache__", ".pytest_cache")
SKIPPED_SUFFIXES = (".pyc", ".pyo")

# which deployment files come with which component
COMPONENT_FILES = {
    "supervisor": (
        "supervisord.conf",
        "conf/entrypoint.sh",
        "conf/stack.sh",
        "conf/supervisor_order.py",
        "conf/logrotate.sh",
    ),
    "nginx": ("nginx.conf",),
    "docker": ("Dockerfile", "docker-compose.yml", ".dockerignore", "conf/mlstack.env.example"),
}
EXECUTABLE = ("conf/entrypoint.sh", "conf/stack.sh", "conf/run-dev.sh", "conf/logrotate.sh")


class SourceTree:
    """An mlstack tree on disk: the deployment files and the code to ship."""

    def __init__(self, home: Path):
        self.home = Path(home)

    def read(self, rel: str) -> bytes:
        path = self.home / rel
        try:
            return path.read_bytes()
        except OSError:
            raise Unavailable(
                f"bundles need mlstack's deployment files, and {path} is missing: "
                "set MLSTACK_HOME to an mlstack checkout"
            ) from None

    def text(self, rel: str) -> str:
        return self.read(rel).decode("utf-8")

    def code_files(self) -> list[str]:
        out = list(CODE_FILES)
        for root in CODE_ROOTS:
            for path in sorted((self.home / root).rglob("*")):
                rel = path.relative_to(self.home).as_posix()
                if (
                    path.is_file()
                    and not any(p in SKIPPED_PARTS or p.startswith(".") for p in rel.split("/"))
                    and not rel.endswith(SKIPPED_SUFFIXES)
                ):
                    out.append(rel)
        return out

    def deployment_files(self, choice: Choice) -> dict[str, bytes]:
        """Every deployment file of the chosen components, filtered for them."""
        files: dict[str, bytes] = {}
        for component, paths in COMPONENT_FILES.items():
            if choice.has(component):
                for rel in paths:
                    files[rel] = self.read(rel)
        if "supervisord.conf" in files:
            files["supervisord.conf"] = supervisord_for(
                self.text("supervisord.conf"), choice
            ).encode()
        if "Dockerfile" in files:
            files["Dockerfile"] = dockerfile_for(self.text("Dockerfile"), choice).encode()
        return files

    def code(self, choice: Choice) -> dict[str, bytes]:
        files = {rel: self.read(rel) for rel in self.code_files()}
        if not choice.has("training"):
            files["conf/run-dev.sh"] = run_dev_without_worker(self.text("conf/run-dev.sh")).encode()
        return files


def drop_sections(conf: str, sections: list[str]) -> str:
    """An ini text without the named `[section]`s (each up to the next section)."""
    parts = re.split(r"(?m)^(?=\[)", conf)
    for name in sections:
        if not any(p.startswith(f"[{name}]") for p in parts):
            raise Unavailable(f"supervisord.conf has no [{name}] section to leave out")
    kept = [p for p in parts if not any(p.startswith(f"[{n}]") for n in sections)]
    return "".join(kept).rstrip("\n") + "\n"


def supervisord_for(conf: str, choice: Choice) -> str:
    drop = []
    if not choice.has("training"):
        drop.append("program:worker")
    if not choice.has("nginx"):
        drop.append("program:nginx")
    return drop_sections(conf, drop) if drop else conf


def drop_lines(text: str, patterns: list[str], what: str) -> str:
    """`text` without the lines matching each pattern; every pattern must match, so a
    change in the source file fails the bundle tests instead of shipping it unfiltered."""
    lines = text.splitlines(keepends=True)
    for pattern in patterns:
        regex = re.compile(pattern)
        if not any(regex.search(line) for line in lines):
            raise Unavailable(f"{what} no longer has a line matching {pattern!r}")
        lines = [line for line in lines if not regex.search(line)]
    return "".join(lines)


def run_dev_without_worker(script: str) -> str:
    return drop_lines(
        script,
        [r"^flask --app wsgi worker", r"^worker=\$!", r"^trap .*\$worker"],
        "conf/run-dev.sh",
    )


def env_lines(choice: Choice) -> dict[str, str]:
    """The settings that switch the app's parts to the bundle's choice."""
    return {
        "BUNDLE_MODELS": "models",
        "SEED_DEMO_MODELS": "false",
        "SWAGGER_ENABLED": str(choice.has("swagger")).lower(),
        "TRAINING_ENABLED": str(choice.has("training")).lower(),
        "UI_ENABLED": str(choice.has("ui")).lower(),
    }


def dockerfile_for(dockerfile: str, choice: Choice) -> str:
    env = " \\\n    ".join(f"{k}={v}" for k, v in env_lines(choice).items())
    return dockerfile.rstrip("\n") + (
        "\n\n# This bundle: its own models (registered on first start, no demo models) and parts.\n"
        f"ENV {env}\n"
    )


def makefile_install_rule(makefile: str) -> str:
    """The repository Makefile's variables and install rule (how mlstack installs itself)."""
    blocks = makefile.split("\n\n")
    header = next((b for b in blocks if "VENV ?=" in b), None)
    rule = next((b for b in blocks if b.startswith("$(BIN)/.installed:")), None)
    if header is None or rule is None:
        raise Unavailable(
            "the Makefile no longer has its VENV variables and $(BIN)/.installed rule"
        )
    header = "\n".join(line for line in header.splitlines() if not line.startswith(("#", ".PHONY")))
    return header + "\n\n" + rule.rstrip("\n") + "\n"
