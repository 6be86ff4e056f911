"""Build glue that pyproject.toml cannot express: generated gRPC stubs and Cython kernels.

The top-level folders of the repository are mapped onto one import namespace, ``shoal.*``
(``sched`` alone would shadow the standard library's ``sched`` module):

    proto/            -> shoal.proto      (object-model helpers: quantities, kinds, selectors)
    proto/shoal/v1/   -> shoal.v1         (the .proto files and the stubs generated from them)
    control/ sched/ native/ node/ benchmarks/ -> shoal.control, shoal.sched, ...

Set SHOAL_CYTHON_DEBUG=1 to build the kernels with bounds checking and wraparound back on.
"""

from __future__ import annotations

import glob
import os
import sys

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
PARTS = ("control", "sched", "native", "node", "benchmarks")


def generate_grpc_stubs() -> None:
    """Run protoc (from grpcio-tools) over proto/shoal/v1/*.proto, next to the sources.

    Runs every time setup.py runs (wheel, sdist, editable): the stubs must match the protobuf
    runtime of the environment that builds them, so they are never committed.
    """
    from grpc_tools import protoc  # type: ignore[import-untyped]
    import grpc_tools

    protos = sorted(glob.glob(os.path.join(HERE, "proto", "shoal", "v1", "*.proto")))
    if not protos:
        return
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{os.path.join(HERE, 'proto')}",
        f"-I{include}",
        f"--python_out={os.path.join(HERE, 'proto')}",
        f"--pyi_out={os.path.join(HERE, 'proto')}",
        f"--grpc_python_out={os.path.join(HERE, 'proto')}",
        *protos,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed on proto/shoal/v1/*.proto")


def cython_extensions() -> list[Extension]:
    import numpy

    sources = sorted(glob.glob(os.path.join("native", "*.pyx")))
    if not sources:
        return []
    from Cython.Build import cythonize

    debug = os.environ.get("SHOAL_CYTHON_DEBUG") == "1"
    directives = {
        "language_level": "3",
        "boundscheck": debug,
        "wraparound": debug,
        "cdivision": True,
        "initializedcheck": debug,
    }
    extensions = [
        Extension(
            "shoal.native." + os.path.splitext(os.path.basename(src))[0],
            [src],
            include_dirs=[numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=["-O3"],
        )
        for src in sources
    ]
    return cythonize(extensions, compiler_directives=directives, quiet=True)


generate_grpc_stubs()

package_dir = {"shoal.proto": "proto", "shoal.v1": "proto/shoal/v1"}
packages = ["shoal.proto", "shoal.v1"]
for part in PARTS:
    for dirpath, _dirnames, filenames in os.walk(os.path.join(HERE, part)):
        if "__init__.py" in filenames:
            rel = os.path.relpath(dirpath, HERE)
            name = "shoal." + rel.replace(os.sep, ".")
            packages.append(name)
            package_dir[name] = rel
for dirpath, _dirnames, filenames in os.walk(os.path.join(HERE, "proto")):
    rel = os.path.relpath(dirpath, HERE)
    if "__init__.py" in filenames and rel not in ("proto", os.path.join("proto", "shoal", "v1")):
        name = "shoal.proto." + os.path.relpath(dirpath, os.path.join(HERE, "proto")).replace(os.sep, ".")
        packages.append(name)
        package_dir[name] = rel

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={"shoal.v1": ["*.proto", "*.pyi"], "shoal.native": ["*.pyx", "*.pxd", "*.pxi", "*.h"]},
    ext_modules=cython_extensions(),
    entry_points={
        "console_scripts": ["shoal = shoal.control.cli:main"],
        # Each part offers its own subcommands; the `shoal` root command finds them here.
        "shoal.commands": [
            "server = shoal.control.commands:register_server",
            "up = shoal.control.commands:register_up",
            "down = shoal.control.commands:register_down",
            "place = shoal.sched.commands:register_place",
            "scheduler = shoal.sched.commands:register_scheduler",
            "explain = shoal.sched.commands:register_explain",
            "bench = shoal.benchmarks.bench.commands:register",
            "agent = shoal.node.commands:register_agent",
            "image = shoal.node.commands:register_image",
            "apply = shoal.control.cli_verbs.apply:register_apply",
            "create = shoal.control.cli_verbs.apply:register_create",
            "replace = shoal.control.cli_verbs.apply:register_replace",
            "delete = shoal.control.cli_verbs.delete:register",
            "get = shoal.control.cli_verbs.get:register",
            "describe = shoal.control.cli_verbs.describe:register",
            "scale = shoal.control.cli_verbs.scale:register",
            "label = shoal.control.cli_verbs.label:register_label",
            "annotate = shoal.control.cli_verbs.label:register_annotate",
            "events = shoal.control.cli_verbs.events:register",
            "version = shoal.control.cli_verbs.version:register",
            "config = shoal.control.cli_verbs.config:register",
            "logs = shoal.control.cli_verbs.logs:register",
            "exec = shoal.control.cli_verbs.exec:register",
            "top = shoal.control.cli_verbs.top:register",
            "rollout = shoal.control.controllers.rollout_command:register",
            "set = shoal.control.cli_verbs.set_image:register",
            "cordon = shoal.control.cli_verbs.cordon:register_cordon",
            "uncordon = shoal.control.cli_verbs.cordon:register_uncordon",
            "drain = shoal.control.cli_verbs.drain:register",
        ],
    },
)
