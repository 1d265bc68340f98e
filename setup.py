"""The build's one dynamic part: the optional C extension ``config_reloader.cpu._cpuid``.

Everything else is declared in pyproject.toml. The extension is ``optional``: without a C compiler
or the Python headers the build goes on and the ``cpu`` package uses its ctypes backends instead.
``CONFIG_RELOADER_PURE=1`` leaves it out on purpose, for a pure-Python (``py3-none-any``) wheel,
e.g. one built on an amd64 host for an arm64 image.
"""

import os

from setuptools import Extension, setup

ext_modules = (
    []
    if os.environ.get("CONFIG_RELOADER_PURE") == "1"
    else [Extension("config_reloader.cpu._cpuid", ["src/config_reloader/cpu/_cpuid.c"], optional=True)]
)

setup(ext_modules=ext_modules)
