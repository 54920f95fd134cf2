"""Snakemake script for rule build_cpp: configure and build one C++ program with CMake."""

import shutil
import sys
from pathlib import Path

from tvdeploy.build.cpp import BuildError, build


def main(smk) -> None:
    source_dir = Path(smk.input.cmakelists).parent
    program = smk.wildcards.program
    target = Path(smk.output[0])
    with open(smk.log[0], "w") as log:
        real_stderr, sys.stderr = sys.stderr, log
        try:
            # One CMake tree per program, so two build jobs never share one.
            built = build(source_dir, smk.params.build_dir, jobs=smk.threads, log=log, targets=[program])[program]
            if built.resolve() != target.resolve():
                # The binaries' RUNPATH is absolute, so the copy still finds LibTorch.
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(built, target)
                target.touch()
        except BuildError as exc:
            log.write(f"\nbuild_cpp failed: {exc}\n")
            raise
        finally:
            sys.stderr = real_stderr


main(snakemake)
