"""Describe one Python interpreter's PyTorch for python/CMakeLists.txt.

Run as `PYTHON torch_flags.py OUT.cmake`.  Writes CMake set() commands with
what the dlcoll.torch extension needs to be compiled against this torch:
include directories, defines (C++ ABI and pybind11 ABI tags, which must match
torch's own so the extension's classes and torch's share one pybind11
registry), libraries, the C++ standard torch's headers need, and the module's
file name.  Exits 1 (writing nothing) when torch or torch.distributed is not
usable from this interpreter.
"""
import os
import re
import sys
import sysconfig


def main(out_path):
    try:
        import torch
        import torch.distributed as dist
        from torch.utils import cpp_extension
    except Exception as exc:  # any import failure means "no usable torch here"
        print(f"no usable torch: {exc}", file=sys.stderr)
        return 1
    if not dist.is_available():
        print("torch.distributed is not available", file=sys.stderr)
        return 1

    version = torch.__version__.split("+")[0]
    tag = re.sub(r"[^0-9A-Za-z]", "_", version)
    torch_dir = os.path.dirname(torch.__file__)
    includes = list(cpp_extension.include_paths())
    includes.append(sysconfig.get_paths()["include"])
    try:  # a pip-installed pybind11 (some torch builds use an external one)
        import pybind11
        includes.append(pybind11.get_include())
    except ImportError:
        pass
    includes.append("/usr/include")
    if not any(os.path.exists(os.path.join(d, "pybind11", "pybind11.h")) for d in includes):
        print("pybind11 headers not found (Debian: apt-get install pybind11-dev)", file=sys.stderr)
        return 1
    includes.remove("/usr/include")  # only searched for pybind11; never -isystem it

    defines = [f"TORCH_EXTENSION_NAME=_ext_{tag}", "TORCH_API_INCLUDE_EXTENSION_H"]
    defines.append(f"_GLIBCXX_USE_CXX11_ABI={int(bool(torch._C._GLIBCXX_USE_CXX11_ABI))}")
    # pybind11 < 3 keys its registry by these; torch records the values it used.
    for attr, macro in (("_PYBIND11_COMPILER_TYPE", "PYBIND11_COMPILER_TYPE"),
                        ("_PYBIND11_STDLIB", "PYBIND11_STDLIB"),
                        ("_PYBIND11_BUILD_ABI", "PYBIND11_BUILD_ABI")):
        value = getattr(torch._C, attr, None)
        if value:
            defines.append(f'{macro}="{value}"')

    # torch's own extension builder knows the C++ standard its headers need.
    with open(cpp_extension.__file__, encoding="utf-8") as f:
        std = 20 if "-std=c++20" in f.read() else 17

    lib_dirs = list(cpp_extension.library_paths())
    libs = ["c10", "torch", "torch_cpu", "torch_python"]

    def cmake_list(items):
        return ";".join(str(i).replace(";", "\\;") for i in items)

    with open(out_path, "w", encoding="utf-8") as out:
        out.write(f'set(TORCH_VERSION_STRING "{version}")\n')
        out.write(f'set(TORCH_TAG "{tag}")\n')
        out.write(f'set(TORCH_DIR "{torch_dir}")\n')
        out.write(f'set(TORCH_INCLUDES "{cmake_list(includes)}")\n')
        out.write("set(TORCH_DEFINES [==[" + cmake_list(defines) + "]==])\n")
        out.write(f'set(TORCH_LIB_DIRS "{cmake_list(lib_dirs)}")\n')
        out.write(f'set(TORCH_LIBS "{cmake_list(libs)}")\n')
        out.write(f'set(TORCH_CXX_STANDARD {std})\n')
        out.write(f'set(TORCH_EXT_SUFFIX "{sysconfig.get_config_var("EXT_SUFFIX")}")\n')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
