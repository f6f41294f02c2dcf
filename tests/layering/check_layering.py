#!/usr/bin/env python3
"""Checks src/ against the layering in docs/architecture.md (the one place it is written):

1. every module folder in src/ is in the module table, and every module in the table exists;
2. a module includes ("module/header.h") only itself and the modules its row allows;
3. a header that includes ORT, FFmpeg, gRPC/protobuf, OpenCV or libjpeg headers (or another such
   header of this project) is listed in the module-internal headers table, with its reason;
4. a listed module-internal header is included only from the modules its row names (tests/ may
   include anything), and a listed header that no longer includes such headers is reported, so
   that the table stays true;
5. a file in src/ over MAX_LINES lines says why at its top: a comment line starting with
   "// Why" or naming its length ("long by nature", "one file of") in its first 15 lines.

Usage: check_layering.py --src SRC_DIR --doc docs/architecture.md   (exit 1 on any violation)
"""
import argparse
import re
import sys
from pathlib import Path

# Third-party headers that public headers must not include (architecture.md decision: public
# headers expose no ORT, FFmpeg, gRPC, OpenCV or libjpeg types). Generated proto/*.pb.h headers
# expose protobuf and gRPC types, so they count too.
FOREIGN = re.compile(
    r'^(onnxruntime|libav|libsw|grpc|grpcpp/|google/protobuf/|opencv2/|jpeglib\.h|turbojpeg'
    r'|proto/.*\.pb\.h$)')
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.MULTILINE)
SOURCE_SUFFIXES = {'.h', '.cpp', '.in'}
MAX_LINES = 500
LENGTH_REASON = re.compile(r'^//.*(Why|long by nature|one file of)', re.MULTILINE)


def table_rows(doc: str, name: str) -> list[list[str]]:
    """The body rows of the markdown table between <!-- NAME:begin --> and <!-- NAME:end -->."""
    match = re.search(rf'<!-- {name}:begin -->(.*?)<!-- {name}:end -->', doc, re.DOTALL)
    if not match:
        sys.exit(f'check_layering: no "<!-- {name}:begin/end -->" table in the architecture doc')
    rows = []
    for line in match.group(1).strip().splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if set(''.join(cells)) <= set('-: '):  # the header separator
            continue
        rows.append(cells)
    return rows[1:]  # without the header row


def names(cell: str) -> set[str]:
    """`a`, `b` -> {a, b}; a dash or empty cell is the empty set."""
    return set(re.findall(r'`([^`]+)`', cell))


def module_of(path: Path, src: Path) -> str:
    return path.relative_to(src).parts[0]


def includes(path: Path) -> list[tuple[str, str]]:
    text = path.read_text(errors='replace')
    return [(m.group(1), m.group(2)) for m in INCLUDE.finditer(text)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--src', required=True, type=Path)
    parser.add_argument('--doc', required=True, type=Path)
    args = parser.parse_args()
    doc = args.doc.read_text()
    src = args.src.resolve()

    allowed = {row[0].strip('`'): names(row[2]) for row in table_rows(doc, 'modules')}
    internal = {row[0].strip('`'): names(row[1]) for row in table_rows(doc, 'internal-headers')}

    errors = []
    folders = {p.name for p in src.iterdir() if p.is_dir()}
    for missing in sorted(folders - allowed.keys()):
        errors.append(f'src/{missing}/ is not in the module table of {args.doc}')
    for gone in sorted(allowed.keys() - folders):
        errors.append(f'the module table of {args.doc} lists `{gone}`, which src/ does not have')
    for module, deps in allowed.items():
        for dep in sorted(deps - allowed.keys()):
            errors.append(f'module `{module}` may include unknown module `{dep}`')

    files = sorted(p for p in src.rglob('*') if p.suffix in SOURCE_SUFFIXES and p.is_file())
    own = {str(p.relative_to(src)) for p in files}
    graph = {str(p.relative_to(src)): includes(p) for p in files}

    # Rule 2: module edges.
    for rel, incs in graph.items():
        module = rel.split('/')[0]
        for kind, target in incs:
            if kind != '"' or '/' not in target:
                continue
            dep = target.split('/')[0]
            if dep != module and dep in allowed and dep not in allowed.get(module, set()):
                errors.append(f'src/{rel} includes "{target}": `{module}` may not include '
                              f'`{dep}` (allowed: {", ".join(sorted(allowed.get(module, ()))) or "none"})')

    # Rule 3: which headers expose foreign types, directly or through another of ours.
    def foreign_of(rel: str, seen=()) -> list[str]:
        found = []
        for _, target in graph.get(rel, []):
            if FOREIGN.match(target):
                found.append(target)
            elif target in own and target.endswith('.h') and target not in seen:
                found += [f'{target} -> {t}' for t in foreign_of(target, seen + (rel,))]
        return found

    for rel in sorted(r for r in own if r.endswith('.h')):
        exposed = foreign_of(rel)
        if exposed and rel not in internal:
            errors.append(f'src/{rel} includes {exposed[0]}: public headers must not; move it to '
                          f'the .cpp, or list the header as module-internal (with the reason) in '
                          f'{args.doc}')
        if not exposed and rel in internal:
            errors.append(f'src/{rel} is listed as module-internal but includes no foreign header '
                          f'any more: drop its row from {args.doc}')
    for header in sorted(internal.keys() - own):
        errors.append(f'{args.doc} lists module-internal header {header}, which src/ does not have')

    # Rule 4: module-internal headers stay inside the modules named.
    for rel, incs in graph.items():
        module = rel.split('/')[0]
        for kind, target in incs:
            if target in internal:
                users = internal[target] | {target.split('/')[0]}
                if module not in users:
                    errors.append(f'src/{rel} includes module-internal {target} (only for '
                                  f'{", ".join(sorted(users))})')

    # Rule 5: long files give their reason at the top.
    for path in files:
        text = path.read_text()
        lines = text.count('\n')
        head = '\n'.join(text.splitlines()[:15])
        if lines > MAX_LINES and not LENGTH_REASON.search(head):
            errors.append(f'src/{path.relative_to(src)} has {lines} lines (over {MAX_LINES}): split '
                          f'it by concern, or say why it is one file in a comment at its top')

    for error in errors:
        print(f'layering: {error}')
    if not errors:
        print(f'layering: {len(files)} files in {len(allowed)} modules follow {args.doc}')
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
