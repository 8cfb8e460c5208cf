"""Builds mlflow_bridge._core with CMake (the pattern of pybind11's cmake_example).

Metadata, dependencies and entry points are in pyproject.toml. Two environment variables are for
scripts/wheel.sh: MLFLOW_BRIDGE_BUILD_DIR (the CMake build folder) and MLFLOW_BRIDGE_CMAKE_ARGS (more
CMake arguments, e.g. static dependencies and a core library compiled once for every Python).
"""

import os
import shlex
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
        subprocess.run(configure, check=True)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "_core", "-j", str(os.cpu_count() or 2)], check=True)


setup(ext_modules=[CMakeExtension("mlflow_bridge._core")], cmdclass={"build_ext": CMakeBuild})
