"""A git revision's files in a temporary folder, for `costlens diff TARGET --rev REV`.

Only read-only plumbing touches the repository (`rev-parse`, `ls-files`, `archive`): no
checkout, worktree or stash, so the working tree and the index stay exactly as they were. The
revision's side is analyzed in a worker process (a fresh interpreter), where `Tree.reading`
makes the model's code come from the revision: a module the working tree would provide, through
sys.path or an editable install, is read from the revision's files instead.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Iterator, Sequence

from ..errors import CostlensError

if TYPE_CHECKING:
    from ..tracing.load import LoadedModel


@dataclass(frozen=True)
class Tree:
    """A revision extracted to `root`. `folder` is where the working directory's counterpart
    lies in it (TARGET paths are relative to it); `work_root` is the working repository and
    `tracked` its tracked Python files (paths relative to it, with /), the modules that must
    come from the revision."""

    revision: str
    commit: str
    root: str
    folder: str
    work_root: str
    tracked: frozenset[str]

    @property
    def label(self) -> str:
        return f"{self.revision} ({self.commit[:10]})"

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """In this process, until the end of the block: the working directory is the
        revision's counterpart of it (a model reading a file by relative path reads the
        revision's), and imports of tracked files come from the revision."""
        if not os.path.isdir(self.folder):
            raise CostlensError(f"the working directory's folder "
                                f"{_relative(self.folder, self.root)} does not exist at "
                                f"{self.label}")
        finder = _FromRevision(self)
        previous = os.getcwd()
        os.chdir(self.folder)
        sys.meta_path.insert(0, finder)
        try:
            yield
        finally:
            sys.meta_path.remove(finder)
            os.chdir(previous)

    def target_text(self, text: str) -> str:
        """The TARGET as `load` reads it from `folder`: refused when its file is outside the
        repository or missing at the revision; an absolute path in the working repository
        names its counterpart in the revision."""
        from ..tracing.load import parse_target
        from ..tracing.serialized import is_saved_model

        stripped = text.strip()
        if is_saved_model(stripped):
            location = stripped
        else:
            target = parse_target(stripped)
            if not target.is_file:
                return text  # a module: check_loaded says where it came from
            location = target.location
        if Path(location).is_absolute():  # its counterpart in the revision
            inside = _relative(location, self.work_root)
            path = Path(self.root, inside or location)
            stripped = str(path) + stripped[len(location):]
        else:
            path = Path(self.folder, location)
        if _relative(str(path), self.root) is None:
            raise CostlensError(f"{location} is outside the repository at {self.work_root}: "
                                "--rev reads the TARGET from the repository's files at the "
                                "revision")
        if not path.is_file():
            raise CostlensError(f"{location} does not exist at that revision")
        return stripped

    def check_loaded(self, loaded: LoadedModel) -> None:
        """A TARGET named by module must have been imported from the revision's files, not
        from somewhere it is installed, or the diff would compare the model with itself."""
        target = loaded.target
        if not target.factory or target.is_file:
            return
        module = sys.modules.get(target.location)
        path = getattr(module, "__file__", None) if module is not None else None
        if path is None or _relative(path, self.root) is None:
            raise CostlensError(f"{target.location} was imported from {path}, not from the "
                                f"repository at {self.label}: name the TARGET by its file, "
                                "path/to/file.py:factory")


class _FromRevision(importlib.abc.MetaPathFinder):
    """Finds a module where the other finders would, then, when that is a tracked file of the
    working repository, its counterpart in the revision: so an editable install or a sys.path
    entry of the working tree serves the revision's code. A tracked module the revision lacks
    is missing, as it is at that revision; untracked files (a virtual environment inside the
    repository, say) and costlens itself are left where they are."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == "costlens" or fullname.startswith("costlens."):
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        if spec is None or not spec.has_location or spec.origin is None:
            return spec
        inside = _relative(spec.origin, self.tree.work_root)
        if inside is None or inside not in self.tree.tracked:
            return spec
        moved = Path(self.tree.root, inside)
        if not moved.is_file():
            raise ModuleNotFoundError(f"No module named {fullname!r} at {self.tree.label}",
                                      name=fullname)
        locations = None
        if spec.submodule_search_locations is not None:
            locations = [self._moved(item) for item in spec.submodule_search_locations]
        return importlib.util.spec_from_file_location(fullname, moved,
                                                      submodule_search_locations=locations)

    def _moved(self, folder: str) -> str:
        inside = _relative(folder, self.tree.work_root)
        return folder if inside is None else str(Path(self.tree.root, inside))


def _relative(path: str, root: str) -> str | None:
    """`path` relative to the folder `root` (both resolved), with /; None when outside it."""
    try:
        return Path(os.path.realpath(path)).relative_to(os.path.realpath(root)).as_posix()
    except ValueError:
        return None


@contextlib.contextmanager
def checked_out(revision: str) -> Iterator[Tree]:
    """REV's files in a temporary folder, removed when the block ends."""
    here = Path.cwd()
    work_root = _git(here, "rev-parse", "--show-toplevel",
                     failure=f"--rev: {here} is not in a git repository").strip()
    commit = _git(here, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}",
                  failure=f"--rev {revision}: no such commit in the repository at "
                          f"{work_root}").strip()
    folder = _relative(str(here), work_root) or "."
    listed = _git(here, "ls-files", "-z", "--full-name", "--", ":/*.py",
                  failure=f"--rev: cannot list the files of the repository at {work_root}")
    tracked = frozenset(name for name in listed.split("\0") if name)
    with tempfile.TemporaryDirectory(prefix="costlens-rev-") as root:
        _extract(work_root, commit, revision, Path(root))
        yield Tree(revision, commit, root, str(Path(root, folder)), work_root, tracked)


def _extract(work_root: str, commit: str, revision: str, into: Path) -> None:
    """`git archive COMMIT | tar -x`, the archive read as it streams."""
    process = subprocess.Popen(["git", "archive", "--format=tar", commit], cwd=work_root,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    failed: tarfile.TarError | OSError | None = None
    try:
        with tarfile.open(fileobj=process.stdout, mode="r|") as archive:
            # a tree git made, not an arbitrary archive: its links are kept as they are
            archive.extractall(into, **({"filter": "tar"} if hasattr(tarfile, "tar_filter")
                                        else {}))
    except (tarfile.TarError, OSError) as error:
        failed = error
    finally:
        process.stdout.close()  # git stops, should extraction have failed half way
        message = process.stderr.read().decode(errors="replace").strip()
        process.stderr.close()
        code = process.wait()
    if code:
        raise CostlensError(f"--rev {revision}: git archive failed: "
                            f"{message.splitlines()[0] if message else f'exit {code}'}")
    if failed is not None:
        raise CostlensError(f"--rev {revision}: cannot extract its files: {failed}")


def _git(folder: Path, *arguments: str, failure: str) -> str:
    try:
        run = subprocess.run(["git", *arguments], cwd=folder, capture_output=True, text=True)
    except FileNotFoundError:
        raise CostlensError("--rev needs git, and git is not on PATH") from None
    if run.returncode:
        said = run.stderr.strip().splitlines()
        if said and "not a git repository" not in said[-1]:  # not what `failure` says
            raise CostlensError(f"--rev: git {arguments[0]} failed: {said[-1]}")
        raise CostlensError(failure)
    return run.stdout
