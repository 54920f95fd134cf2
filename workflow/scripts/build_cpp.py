"""Snakemake script for rule build_cpp: configure and build the C++ programs with CMake."""

import shutil
import sys
from pathlib import Path

from tvdeploy.cppbuild import BuildError, build


def main(smk) -> None:
    source_dir = Path(smk.input.cmakelists).parent
    declared = {"infer": Path(smk.output.infer), "bench": Path(smk.output.bench)}
    with open(smk.log[0], "w") as log:
        real_stderr, sys.stderr = sys.stderr, log
        try:
            # The build tree is the folder the rule's binaries are declared in.
            built = build(source_dir, Path(smk.output.infer).parent, jobs=smk.threads, log=log)
            for name, target in declared.items():
                if built[name].resolve() != target.resolve():
                    # The rule declares outputs outside the build dir: put copies there
                    # (the binaries' RUNPATH is absolute, so copies still find LibTorch).
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(built[name], target)
                    target.touch()
        except BuildError as exc:
            log.write(f"\nbuild_cpp failed: {exc}\n")
            raise
        finally:
            sys.stderr = real_stderr


main(snakemake)
