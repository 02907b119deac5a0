"""Sandbox images, built offline from the recipes in `images/` (no registry is ever asked).

A recipe is a shell script that fills an empty folder with a root file system; the folder is packed and
handed to `docker import` with labels the docker backend reads back:

- `assay.sandbox.recipe`: the recipe's name;
- `assay.sandbox.python`: the interpreter that runs the fork-server inside;
- `assay.sandbox.bind`: host folders to bind-mount read-only at run time (`host` mounts /usr).
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_TAG_PREFIX = "assay-sandbox"


@dataclass(frozen=True)
class Recipe:
    name: str
    help: str
    python: str = "/usr/bin/python3"
    bind: tuple[str, ...] = ()

    @property
    def tag(self) -> str:
        return f"{DEFAULT_TAG_PREFIX}:{self.name}"

    def script(self) -> Path:
        return Path(str(resources.files("assay_sandboxes.recipes").joinpath(f"{self.name}.sh")))


RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe("host", "an empty root; this machine's /usr is bind-mounted read-only (~0.1 s)", bind=("/usr",)),
        Recipe("bookworm", "a self-contained Debian 12 with Python 3, by debootstrap (~1-2 min, root)"),
    )
}
DEFAULT_RECIPE = "host"


class ImageBuildError(RuntimeError):
    """A recipe failed; the message carries its output."""


def build_image(client: Any, recipe_name: str = DEFAULT_RECIPE, tag: str | None = None) -> tuple[str, float]:
    """Build `recipe_name` into the daemon behind `client` (a docker.DockerClient); returns (tag, seconds)."""
    try:
        recipe = RECIPES[recipe_name]
    except KeyError:
        raise ImageBuildError(f"unknown recipe {recipe_name!r} (known: {', '.join(RECIPES)})") from None
    tag = tag or recipe.tag
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="assay-image-") as scratch:
        root = Path(scratch) / "root"
        root.mkdir()
        done = subprocess.run(["sh", str(recipe.script()), str(root)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ImageBuildError(
                f"recipe {recipe.name} ({recipe.script()}) failed with exit {done.returncode}:\n"
                f"{(done.stdout + done.stderr)[-4000:]}"
            )
        archive = Path(scratch) / "root.tar"
        with tarfile.open(archive, "w") as tar:
            for entry in sorted(root.iterdir()):
                tar.add(entry, arcname=entry.name)
        repository, _, version = tag.partition(":")
        changes = [
            f"LABEL assay.sandbox.recipe={recipe.name}",
            f"LABEL assay.sandbox.python={recipe.python}",
            f"LABEL assay.sandbox.bind={','.join(recipe.bind)}",
            f'CMD ["{recipe.python}"]',
        ]
        client.api.import_image_from_file(str(archive), repository=repository, tag=version or "latest", changes=changes)
    return tag, time.perf_counter() - started


def image_labels(client: Any, tag: str) -> dict[str, str] | None:
    """The image's labels, or None when the daemon has no such image."""
    import docker.errors  # type: ignore[import-untyped]

    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    return dict(image.labels or {})
