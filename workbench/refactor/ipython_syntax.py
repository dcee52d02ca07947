"""IPython syntax -> plain Python, line for line.

A pipeline task is a Python file a human owns, so IPython syntax must become either the Python it
means (`%%time` runs its body, `%%capture out` defines `out`, `%%writefile` writes a file) or be
left out with a warning (`%matplotlib`, `!ls`, `%%bash`). Line numbers are kept (removed lines
become blank or `pass`) so that every later error points at the line the user sees in the notebook.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

# Cell magics whose body is Python that should simply run.
PYTHON_BODY_CELL_MAGICS = {"time", "timeit", "prun", "debug", "python", "python3", "memit"}
# Line magics whose argument is a Python statement that should simply run.
PYTHON_ARG_LINE_MAGICS = {"time", "timeit", "prun", "memit"}
INSTALLERS = {"pip", "conda", "mamba", "uv"}

_ASSIGN_MAGIC = re.compile(r"^(\s*)([A-Za-z_][\w, ]*)=\s*([%!].*)$")


@dataclass
class Transformed:
    code: str  # Python, with the same number of lines as the cell (for line numbers)
    removed: list[tuple[int, str]] = field(default_factory=list)  # (line, text) left out
    requirements: list[str] = field(default_factory=list)
    writes: list[tuple[int, str]] = field(default_factory=list)  # (line, path) of %%writefile
    magic: str | None = None  # the cell magic, if any
    imports: list[str] = field(default_factory=list)  # imports the Python form needs


def _requirements(command: str) -> list[str]:
    """Package specs from `pip install ...`-like commands (flags and their values skipped)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if "install" not in words:
        return []
    reqs, skip_next = [], False
    for word in words[words.index("install") + 1 :]:
        if skip_next:
            skip_next = False
            continue
        if word.startswith("-"):
            skip_next = word in ("-r", "--requirement", "-c", "--constraint", "-i", "--index-url",
                                 "-e", "--editable", "-t", "--target", "-c", "--channel")
            continue
        if word in ("&&", ";", "|"):
            break
        reqs.append(word)
    return reqs


def _installer(text: str) -> bool:
    words = text.split()
    if not words:
        return False
    head = words[0]
    if head in ("python", "python3") and len(words) > 2 and words[1] == "-m":
        head = words[2]
    return head in INSTALLERS and "install" in words


def _line_magic(line: str) -> tuple[str, str, str] | None:
    """Split a line that is IPython syntax into (indent, kind, rest); None for plain Python."""
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    if stripped.startswith("!"):
        return indent, "!", stripped[1:]
    if stripped.startswith("%") and not stripped.startswith("%%"):
        return indent, "%", stripped[1:]
    if stripped.endswith("?") and not stripped.startswith("#") and re.match(r"^[\w.]+\?{1,2}$", stripped):
        return indent, "?", stripped
    m = _ASSIGN_MAGIC.match(line)
    if m and not m.group(3).startswith("%%"):
        return m.group(1), "=" + m.group(3)[0], line.strip()
    return None


def _replace(indent: str) -> str:
    # An indented removed line may be the only statement of a block.
    return indent + "pass" if indent else ""


def transform(source: str) -> Transformed:
    lines = source.split("\n")
    out = Transformed(code="")
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        name, _, args = first[2:].partition(" ")
        args = args.strip()
        body = lines[1:]
        out.magic = name
        if name in PYTHON_BODY_CELL_MAGICS:
            lines = [""] + body
        elif name == "capture":
            target = next((w for w in args.split() if not w.startswith("-")), None)
            header = f"with capture_output() as {target}:" if target else "with capture_output():"
            inner = [("    " + line) if line.strip() else line for line in body]
            if not any(line.strip() for line in inner):
                inner.append("    pass")
            lines = [header] + inner
            out.imports.append("from IPython.utils.capture import capture_output")
            out.code = "\n".join(lines)
            return out
        elif name == "writefile":
            path = shlex.split(args)[-1] if args else ""
            mode = "a" if "-a" in args.split() else "w"
            text = "\n".join(body)
            if not text.endswith("\n"):
                text += "\n"
            out.writes.append((1, path))
            code = f"with open({path!r}, {mode!r}) as _writefile:\n    _writefile.write({text!r})"
            out.code = code + "\n" * max(0, len(lines) - 2)
            return out
        else:
            out.removed.append((1, f"%%{name} cell ({len(body)} lines)"))
            if name in ("bash", "sh", "script", "system") and any(_installer(x) for x in body):
                for line in body:
                    if _installer(line.strip()):
                        out.requirements.extend(_requirements(line.strip()))
            out.code = "\n" * (len(lines) - 1)
            return out
    result = []
    for number, line in enumerate(lines, start=1):
        magic = _line_magic(line)
        if magic is None:
            result.append(line)
            continue
        indent, kind, rest = magic
        if kind == "%":
            name, _, arg = rest.partition(" ")
            if name in PYTHON_ARG_LINE_MAGICS and arg.strip():
                result.append(indent + arg.strip())
                continue
            if name in INSTALLERS and _installer(rest):
                out.requirements.extend(_requirements(rest))
        elif kind == "!" and _installer(rest):
            out.requirements.extend(_requirements(rest))
        out.removed.append((number, line.strip()))
        result.append(_replace(indent))
    out.code = "\n".join(result)
    return out
