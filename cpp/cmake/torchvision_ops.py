"""What cpp/CMakeLists.txt compiles into the programs for loading torchvision's operators: the
installed torchvision's operator library and version, and the shared libpython that library's
dependency libtorch_python.so needs. Prints NAME=value lines (empty values where not found).
Imports neither torch nor torchvision: it only locates files."""

import importlib.util
import re
import sys
import sysconfig
from pathlib import Path

OPS_LIBRARY = "_C_stable.so"
VERSION_FILE = "version.py"


def torchvision_ops() -> tuple[str, str]:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return "", ""
    package = Path(next(iter(spec.submodule_search_locations)))
    library = package / OPS_LIBRARY
    version = re.search(r"__version__\s*=\s*['\"]([^'\"]+)['\"]", (package / VERSION_FILE).read_text())
    if not library.is_file() or version is None:
        return "", ""
    return str(library.resolve()), version.group(1)


def python_library() -> str:
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return ""
    library = Path(sysconfig.get_config_var("LIBDIR")) / sysconfig.get_config_var("LDLIBRARY")
    return str(library.resolve()) if library.is_file() else ""


def main() -> None:
    library, version = torchvision_ops()
    print(f"TORCHVISION_OPS_LIBRARY={library}")
    print(f"TORCHVISION_VERSION={version}")
    print(f"PYTHON_LIBRARY={python_library()}")
    print(f"PYTHON_EXECUTABLE={sys.executable}")


if __name__ == "__main__":
    main()
