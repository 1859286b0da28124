"""`flask --app wsgi bundle`: a deployment bundle from registered versions or a local
.skops file, written as a folder or a zip."""

from __future__ import annotations

import json
from pathlib import Path

import click

from app.core.errors import ServiceError
from app.services import current_services


def run_bundle(refs, components, database, skops_file, name, schema_file, out) -> None:
    from app.core.bundles.build import build
    from app.core.bundles.components import resolve
    from app.core.bundles.models import from_file, from_registry
    from app.core.bundles.sources import SourceTree

    config = current_services().config
    parts = (
        [c.strip() for c in components.split(",") if c.strip()] if components is not None else None
    )
    try:
        choice = resolve(parts, database)
        if skops_file:
            if refs:
                raise click.UsageError("give registered models or --skops, not both")
            schema = json.loads(Path(schema_file).read_text()) if schema_file else None
            models = [
                from_file(
                    name or Path(skops_file).stem.lower(),
                    Path(skops_file).read_bytes(),
                    "skops",
                    schema,
                )
            ]
        else:
            if not refs:
                raise click.UsageError(
                    "name at least one model (NAME or NAME@VERSION), or use --skops"
                )
            models = from_registry(current_services().registry, list(refs))
        bundle = build(models, choice, SourceTree(config.MLSTACK_HOME))
    except ServiceError as exc:
        detail = "".join(f"\n  {k}: {v}" for k, v in exc.errors.items())
        raise click.ClickException(exc.message + detail) from None
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"--schema is not valid JSON: {exc}") from None
    target = Path(out)
    if target.suffix == ".zip":
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(bundle.archive)
    else:
        if target.exists() and any(target.iterdir()):
            raise click.ClickException(f"{target} is not empty: choose a new directory")
        bundle.write_dir(target)
    click.echo(
        f"bundle {bundle.name}: {len(bundle.files)} files, components "
        f"{', '.join(choice.as_list())} -> {target}"
    )
