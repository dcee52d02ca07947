"""Package a run's model and move registry aliases, reporting through typed events."""

from __future__ import annotations

from pathlib import Path

from workbench.core.events import EventHandler, Message, PackageFinished, say


def package_model(target: str | Path, *, run_id: str | None = None, output: str | Path | None = None,
                  register: bool = True, name: str | None = None, on_event: EventHandler | None = None):
    """deploy.package.package (a PackageResult); a Message per step, one per warning (level
    warning), then PackageFinished (the folder, the registered version, the files written)."""
    from workbench.deploy.package import package

    result = package(Path(target), run_id=run_id, output=Path(output) if output else None, register=register,
                     progress=say(on_event), name=name)
    if on_event is not None:
        for note in result.warnings:
            on_event(Message(note, level="warning"))
        folder = Path(result.output)
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) \
            if folder.is_dir() else []
        on_event(PackageFinished(result.name, str(folder), result.version, result.flavor, files))
    return result


def promote_model(name: str, alias: str = "champion", root: Path | None = None, *, version: str | None = None,
                  force: bool = False, reason: str | None = None, rollback: bool = False):
    """deploy.registry.promote in the project of the working directory (or `root`): a PromoteResult."""
    from workbench.deploy.registry import promote
    from workbench.provenance.records import project_root

    return promote(name, alias, root or project_root(Path.cwd()), version=version, force=force, reason=reason,
                   rollback=rollback)
