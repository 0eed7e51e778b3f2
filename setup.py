"""The wheel's build step: copy the front-end files the pages use from node_modules into the package.

Everything else is declared in pyproject.toml. An editable install (`make setup`) serves the files
from node_modules directly and copies nothing; a wheel (`pip install .`) carries them in
web/vendor_assets/, so a production host needs neither npm nor the checkout.
"""

from __future__ import annotations

import os
import runpy
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithAssets(build_py):
    """build_py, then the vendor files listed in web/vendor_files.py copied into the build."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        manifest = runpy.run_path(str(ROOT / "web" / "vendor_files.py"))
        source = Path(os.environ.get("MOTCUA_NODE_MODULES") or ROOT / "node_modules")
        target = Path(self.build_lib) / "web" / "vendor_assets"
        missing = [name for name in manifest["FILES"] if not (source / name).is_file()]
        if missing:
            raise SystemExit(
                f"front-end files missing under {source}: {', '.join(missing)}; "
                "run `npm ci` in the checkout before building the wheel"
            )
        shutil.rmtree(target, ignore_errors=True)
        for name in manifest["FILES"]:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, target / name)
        for name in manifest["DIRECTORIES"]:
            shutil.copytree(source / name, target / name, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithAssets})
