#!/usr/bin/env python3
"""List `.unwrap()` / `.expect(` in library code outside test modules.

Library code must not unwrap anything a user supplies (docs/robustness.md). The few provably
infallible cases carry a comment containing `infallible:` on the same line or the line above, saying
why. Exit status 1 when an uncommented one is found. Run from the repository root; CI runs it.
"""
import pathlib
import re
import sys

PATTERN = re.compile(r"\.unwrap\(\)|\.expect\(")


def test_only(path: pathlib.Path) -> bool:
    # Modules declared under #[cfg(test)] in their own files.
    return path.name in {"tests.rs", "test_util.rs"} or "/tests/" in path.as_posix()


def library_lines(text: str):
    """Yield (line number, line) outside `#[cfg(test)]` items."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("#[cfg(test)]"):
            # Skip the attributed item: to the end of its brace block (or its `;`).
            depth = 0
            opened = False
            i += 1
            while i < len(lines):
                code = lines[i].split("//")[0]
                depth += code.count("{") - code.count("}")
                opened = opened or "{" in code
                if (opened and depth <= 0) or (not opened and code.rstrip().endswith(";")):
                    break
                i += 1
            i += 1
            continue
        yield i + 1, line
        i += 1


def main() -> int:
    bad = []
    for path in sorted(pathlib.Path("crates").glob("*/src/**/*.rs")):
        if test_only(path):
            continue
        lines = path.read_text().splitlines()
        for n, line in library_lines(path.read_text()):
            code = line.split("//")[0]
            if line.lstrip().startswith("//") or not PATTERN.search(code):
                continue
            prev = lines[n - 2] if n >= 2 else ""
            if "infallible:" in line or "infallible:" in prev:
                continue
            bad.append(f"{path}:{n}: {line.strip()}")
    for b in bad:
        print(b)
    if bad:
        print(f"{len(bad)} unwrap/expect in library code without an `infallible:` comment",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
