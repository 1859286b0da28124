"""Deployment bundles: chosen model versions and parts -> a folder that is this stack,
configured for them, with its own README, tests and manifest, and a deterministic zip.

    components  which parts, and which combinations are refused (and why)
    models      the models carried: artifact, schema, metrics, lineage, answered examples
    sources     the deployment files and code, read from the running mlstack tree, filtered
    pins        pyproject.toml with the dependencies pinned
    readme      the generated README.md
    archive     manifest.json and the byte-stable zip
    build       puts it all together
    store       built bundles under the state directory, with expiry
    install     a bundle's first start: its models into its registry
    scoring     the offline scorer (`make predict`)"""
