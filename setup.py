"""Builds mlflow_bridge._core and the native model server with CMake (the pattern of pybind11's cmake_example).

Metadata, dependencies and entry points are in pyproject.toml. Two environment variables are for
scripts/wheel.sh: MLFLOW_BRIDGE_BUILD_DIR (the CMake build folder) and MLFLOW_BRIDGE_CMAKE_ARGS (more
CMake arguments, e.g. static dependencies and a core library compiled once for every Python).

The server binary (mlflow-bridge-serve) and its worker program (serve_worker.py) go together into
mlflow_bridge/serve/ (decision 0009): the binary finds the worker next to itself. -DMLFLOW_BRIDGE_BUILD_SERVE=OFF
in MLFLOW_BRIDGE_CMAKE_ARGS leaves the server out.
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pybind11
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_type = os.environ.get("MLFLOW_BRIDGE_BUILD_TYPE", "Release")
        build_dir = Path(os.environ.get("MLFLOW_BRIDGE_BUILD_DIR") or Path(self.build_temp) / ext.name).resolve()
        build_dir.mkdir(parents=True, exist_ok=True)
        configure = [
            "cmake",
            "-S",
            str(ROOT),
            "-B",
            str(build_dir),
            "-G",
            "Ninja",
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out_dir}{os.sep}",
            f"-DCMAKE_BUILD_TYPE={build_type}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            "-DMLFLOW_BRIDGE_BUILD_PYTHON=ON",
            "-DMLFLOW_BRIDGE_BUILD_TESTS=OFF",
            *shlex.split(os.environ.get("MLFLOW_BRIDGE_CMAKE_ARGS", "")),
        ]
        serve = "-DMLFLOW_BRIDGE_BUILD_SERVE=OFF" not in configure
        subprocess.run(configure, check=True)
        targets = ["_core", "mlflow-bridge-serve"] if serve else ["_core"]
        subprocess.run(["cmake", "--build", str(build_dir), "--target", *targets, "-j", str(os.cpu_count() or 2)], check=True)
        if serve:
            serve_dir = out_dir / "serve"
            serve_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(build_dir / "mlflow-bridge-serve", serve_dir / "mlflow-bridge-serve")
            shutil.copy2(ROOT / "python" / "mlflow_bridge" / "serve_worker.py", serve_dir / "serve_worker.py")


setup(ext_modules=[CMakeExtension("mlflow_bridge._core")], cmdclass={"build_ext": CMakeBuild})
