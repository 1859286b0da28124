"""Flask commands: `flask --app wsgi init | migrate | seed | worker | bundle`."""

from __future__ import annotations

import click
from flask import Flask

from app.core.bundles.components import DATABASES
from app.services import current_services


def register_commands(app: Flask) -> None:
    @app.cli.command("migrate")
    def migrate() -> None:
        """Run the database migrations to the latest revision."""
        current_services().db.upgrade()
        click.echo("database migrated")

    @app.cli.command("seed")
    @click.option("--force", is_flag=True, help="Seed even when models exist.")
    def seed(force: bool) -> None:
        """Register the demo models when the registry is empty."""
        _seed(force)

    @app.cli.command("init")
    def init() -> None:
        """Migrate, then seed the demo models on first start (an empty registry)."""
        current_services().db.upgrade()
        click.echo("database migrated")
        config = current_services().config
        if config.BUNDLE_MODELS is not None:  # a deployment bundle's first start
            from app.core.bundles.install import register_bundle_models

            added = register_bundle_models(current_services().registry, config.BUNDLE_MODELS)
            click.echo("bundle models registered: " + (", ".join(added) or "none new"))
        if config.SEED_DEMO_MODELS:
            _seed(False)

    @app.cli.command("worker")
    @click.option("--max-jobs", type=int, default=None, help="Exit after this many jobs.")
    def worker(max_jobs: int | None) -> None:
        """Run a training worker: claim queued jobs and train them until stopped."""
        from app.worker import Worker

        w = Worker.from_services(current_services())
        w.install_signal_handlers()
        w.run(max_jobs=max_jobs)

    register_bundle_command(app)


def register_bundle_command(app: Flask) -> None:
    @app.cli.command("bundle")
    @click.argument("models", nargs=-1)
    @click.option(
        "--with",
        "components",
        default=None,
        help="Comma-separated parts (default api,swagger,database,tests): api, swagger, ui, "
        "training, database, nginx, supervisor, docker, tests.",
    )
    @click.option(
        "--database",
        default=None,
        type=click.Choice(DATABASES),
        help="The database engine when 'database' is chosen [sqlite].",
    )
    @click.option(
        "--skops",
        "skops_file",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="Bundle a local .skops file instead of registered versions (no server needed).",
    )
    @click.option("--name", default=None, help="The model's name for --skops [the file's stem].")
    @click.option(
        "--schema",
        "schema_file",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="A JSON input schema for --skops (else derived from the estimator).",
    )
    @click.option("--out", required=True, type=click.Path(), help="A directory, or a FILE.zip.")
    def bundle(models, components, database, skops_file, name, schema_file, out) -> None:
        """Build a deployment bundle: NAME[@VERSION]... (or --skops FILE) -> --out DIR|FILE.zip."""
        from app.cli_bundle import run_bundle

        run_bundle(models, components, database, skops_file, name, schema_file, out)


def _seed(force: bool) -> None:
    from app.core.demo import seed_demo_models

    registry = current_services().registry
    if registry.count_models() and not force:
        click.echo("registry not empty: demo models not seeded")
        return
    click.echo("seeded: " + ", ".join(seed_demo_models(registry)))
