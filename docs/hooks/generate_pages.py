"""MkDocs hook: generate the registry's pages during the build (see ``losskit.docgen``).

The generated pages (one per loss with its figure, the catalog, the advisor's rules and the
conformance table) are handed to MkDocs as in-memory files, so they are never written into
``docs/`` and always describe the code being built. The per-loss pages are added to the
navigation, one section per task, right after the catalog.
"""

from __future__ import annotations

import os

# Keras picks its backend when first imported (the conformance table imports it); JAX is the
# one installed with the docs/test extras. Matplotlib must not look for a display.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("MPLBACKEND", "Agg")

from mkdocs.structure.files import File  # noqa: E402

import losskit  # noqa: E402
from losskit import docgen  # noqa: E402


def on_config(config):
    sections = [
        {docgen.TASK_TITLES[task]: [docgen.loss_page_path(loss) for loss in losskit.catalog(task)]}
        for task in losskit.TASKS
    ]
    nav = list(config.nav or [])
    position = next((i + 1 for i, entry in enumerate(nav) if "catalog.md" in dict(entry).values()), len(nav))
    nav.insert(position, {"Losses": sections})
    config.nav = nav
    return config


def on_files(files, config):
    for path, content in docgen.generated_pages().items():
        existing = files.get_file_from_path(path)
        if existing is not None:  # a stale copy written by `python -m losskit.docgen --out docs`
            files.remove(existing)
        files.append(File.generated(config, path, content=content))
    return files
