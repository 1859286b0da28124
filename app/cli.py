"""Flask commands: `flask --app wsgi init | migrate | seed | token | worker`."""
from __future__ import annotations

import click
from flask import Flask

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
        if current_services().config.SEED_DEMO_MODELS:
            _seed(False)

    @app.cli.command("worker")
    @click.option("--max-jobs", type=int, default=None, help="Exit after this many jobs.")
    def worker(max_jobs: int | None) -> None:
        """Run a training worker: claim queued jobs and train them until stopped."""
        from app.worker import Worker

        w = Worker.from_services(current_services())
        w.install_signal_handlers()
        w.run(max_jobs=max_jobs)


def _seed(force: bool) -> None:
    from app.core.demo import seed_demo_models

    registry = current_services().registry
    if registry.count_models() and not force:
        click.echo("registry not empty: demo models not seeded")
        return
    click.echo("seeded: " + ", ".join(seed_demo_models(registry)))
