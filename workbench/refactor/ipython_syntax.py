"""IPython syntax -> plain Python, line for line.

A pipeline task is a Python file a human owns, so IPython syntax must become either the Python it
means (`%%time` runs its body, `%%capture out` defines `out`, `%%writefile` writes a file) or be
left out with a warning (`%matplotlib`, `!ls`, `%%bash`). Line numbers are kept (removed lines
become blank or `pass`) so that every later error points at the line the user sees in the notebook.

What is IPython syntax is decided the way IPython decides it: by IPython's own input transformers
(`IPython.core.inputtransformer2`), which tokenize the cell, so a `% tuple(values)` continuation
line of a multi-line expression, or a line starting with `!` inside a triple-quoted string, is plain
Python. We find each construct with IPython's token transformers, in IPython's order (earliest
first, re-tokenizing after each), and rewrite it ourselves, keeping the number of lines.

Importing `IPython.core.inputtransformer2` the ordinary way costs 150-220 ms: IPython's package
`__init__` loads the whole interactive shell, and most notebooks have a `%matplotlib inline`. The
module itself needs only the standard library and `IPython.utils.tokenutil`, so when IPython is not
imported yet (`workbench plan`), `_transformers()` loads those two files of the installed IPython
as private modules (a few ms), leaving `sys.modules["IPython..."]` alone; inside a kernel, where
IPython is imported, it is IPython's module itself. And IPython's code runs only for a cell that
could hold IPython syntax at all: a line starting with one of IPython's escapes, an `= %`/`= !`
assignment or a line ending in `?` (`_MAYBE_IPYTHON`, a necessary condition for any of IPython's
token transformers to match). Cell magics are a first-line test, as in IPython.
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass, field
from types import ModuleType

# Cell magics whose body is Python that should simply run.
PYTHON_BODY_CELL_MAGICS = {"time", "timeit", "prun", "debug", "python", "python3", "memit"}
# Line magics whose argument is a Python statement that should simply run.
PYTHON_ARG_LINE_MAGICS = {"time", "timeit", "prun", "memit"}
INSTALLERS = {"pip", "conda", "mamba", "uv"}
# Options of the magics above that take a value (`%timeit -n 10 -r 3 f(x)`).
_VALUE_OPTIONS = {
    "timeit": {"-n", "-r", "-p"},
    "prun": {"-l", "-s", "-T", "-D"},
    "memit": {"-r", "-t", "-i"},
    "time": set(),
}

# A necessary condition for IPython's token transformers (EscapedCommand: an escape first on a
# logical line; MagicAssign/SystemAssign: `= %name` / `= !cmd`; HelpEnd: `?` last on a line).
_MAYBE_IPYTHON = re.compile(r"^[ \t\f]*[!?%,;/]|=[\s\\]*[%!]|\?[ \t\r]*$", re.MULTILINE)
_CELL_MAGIC_HELP = re.compile(r"%%\w+\?")


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


def _statement(magic: str, arg: str) -> str:
    """The Python statement of `%time STMT`-like magics: their options left out."""
    words = arg.strip().split(" ")
    takes_value = _VALUE_OPTIONS.get(magic, set())
    i = 0
    while i < len(words) and (words[i].startswith("-") or not words[i]):
        word = words[i]
        i += 1
        if word[:2] in takes_value and len(word) == 2:
            i += 1  # `-n 10`; `-n10` is one word
    return " ".join(words[i:]).strip()


def _replace(indent: str) -> str:
    # An indented removed line may be the only statement of a block.
    return indent + "pass" if indent else ""


def _cell_magic_line(lines: list[str]) -> int | None:
    """The index of the cell magic's line, as IPython finds it: the first non-blank line (IPython
    drops leading blank lines and the common indentation first), starting with `%%`."""
    for i, line in enumerate(lines):
        if line.strip():
            stripped = line.lstrip()
            if stripped.startswith("%%") and not _CELL_MAGIC_HELP.match(stripped):
                return i
            return None
    return None


def transform(source: str) -> Transformed:
    lines = source.split("\n")
    out = Transformed(code="")
    at = _cell_magic_line(lines)
    if at is None:
        out.code = _transform_lines(source, out, offset=0)
        return out
    number = at + 1
    name, _, args = lines[at].strip()[2:].partition(" ")
    args = args.strip()
    body = lines[at + 1 :]
    head = [""] * at
    out.magic = name
    if name in PYTHON_BODY_CELL_MAGICS:
        # IPython runs the body as a cell, IPython syntax included
        out.code = "\n".join(head + [""]) + "\n" + _transform_lines("\n".join(body), out, offset=number)
        return out
    if name == "capture":
        target = next((w for w in args.split() if not w.startswith("-")), None)
        header = f"with capture_output() as {target}:" if target else "with capture_output():"
        inner = _transform_lines("\n".join(body), out, offset=number).split("\n")
        inner = [("    " + line) if line.strip() else line for line in inner]
        if not any(line.strip() for line in inner):
            inner.append("    pass")
        out.imports.append("from IPython.utils.capture import capture_output")
        out.code = "\n".join(head + [header] + inner)
        return out
    if name == "writefile":
        path = shlex.split(args)[-1] if args else ""
        mode = "a" if "-a" in args.split() or "--append" in args.split() else "w"
        text = "\n".join(body)
        if not text.endswith("\n"):
            text += "\n"
        out.writes.append((number, path))
        code = f"with open({path!r}, {mode!r}) as _writefile:\n    _writefile.write({text!r})"
        out.code = "\n" * at + code + "\n" * max(0, len(body) - 1)
        return out
    out.removed.append((number, f"%%{name} cell ({len(body)} lines)"))
    if name in ("bash", "sh", "script", "system"):
        for line in body:
            if _installer(line.strip()):
                out.requirements.extend(_requirements(line.strip()))
    out.code = "\n" * (len(lines) - 1)
    return out


_IMPORT_TOKENUTIL = "from IPython.utils import tokenutil\n"
_loaded: list[ModuleType] = []


def _transformers() -> ModuleType:
    """IPython's `inputtransformer2` module, without importing IPython's shell when it is not."""
    module = sys.modules.get("IPython.core.inputtransformer2")
    if module is not None:
        return module
    if not _loaded:
        _loaded.append(_load_transformers())
    return _loaded[0]


def _load_transformers() -> ModuleType:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("IPython")  # finds the package without running its __init__
    root = Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None
    try:
        source = (root / "core" / "inputtransformer2.py").read_text(encoding="utf-8")
        tokenutil_path = root / "utils" / "tokenutil.py"
        tokenutil_source = tokenutil_path.read_text(encoding="utf-8")
    except (OSError, TypeError):
        source = tokenutil_source = ""
    if source.count(_IMPORT_TOKENUTIL) != 1 or "import IPython" in tokenutil_source \
            or "from IPython" in tokenutil_source:
        # another IPython than the one this was written against: the ordinary import
        from IPython.core import inputtransformer2

        return inputtransformer2
    tokenutil = ModuleType("workbench_ipython_tokenutil")
    tokenutil.__file__ = str(tokenutil_path)
    exec(compile(tokenutil_source, str(tokenutil_path), "exec"), tokenutil.__dict__)  # noqa: S102
    module = ModuleType("workbench_ipython_inputtransformer2")
    module.__file__ = str(root / "core" / "inputtransformer2.py")
    module.tokenutil = tokenutil
    code = compile(source.replace(_IMPORT_TOKENUTIL, "\n"), module.__file__, "exec")  # same line numbers
    exec(code, module.__dict__)  # noqa: S102
    return module


def _transform_lines(source: str, out: Transformed, offset: int) -> str:
    """Rewrite the IPython syntax of a cell (or a cell magic's body) that IPython finds; keep the
    line count. `offset` is the number of the cell line above `source`'s first line."""
    if not _MAYBE_IPYTHON.search(source):
        return source
    it2 = _transformers()
    lines = [line + "\n" for line in source.split("\n")]
    transformers = it2.TransformerManager().token_transformers
    for _ in range(it2.TRANSFORM_LOOP_LIMIT):
        tokens = it2.make_tokens_by_line(lines)
        found = [t for t in (cls.find(tokens) for cls in transformers) if t]
        for candidate in sorted(found, key=it2.TokenTransformBase.sortby):
            try:
                candidate.transform(list(lines))  # IPython's own check that it applies
            except SyntaxError:
                continue
            lines = _rewrite(it2, candidate, lines, out, offset)
            break
        else:
            break
    return "".join(lines)[:-1]


def _rewrite(it2, found, lines: list[str], out: Transformed, offset: int) -> list[str]:
    """Replace the construct IPython `found` with our Python, as many lines as it spans."""
    start, col = found.start_line, found.start_col
    number = offset + start + 1
    if isinstance(found, it2.HelpEnd):
        end = found.q_line
        text = "".join(lines[start : end + 1])[col:].strip()
    else:
        end = it2.find_end_of_continued_line(lines, start)
        text = it2.assemble_continued_line(lines, (start, col), end)
    first = lines[start]
    prefix = first[:col]  # the indentation, or `x = ` of an assignment
    indent = first[: len(first) - len(first.lstrip())]
    shown = (prefix + text).strip()
    python = None  # the Python this construct means, if we keep it
    if isinstance(found, (it2.MagicAssign, it2.SystemAssign)):
        name, _, arg = text[1:].partition(" ")
        if isinstance(found, it2.MagicAssign) and name == "time" and _statement(name, arg):
            python = prefix + _statement(name, arg)  # `x = %time f()` is `x = f()`
    elif isinstance(found, it2.EscapedCommand):
        escape = text[:2] if text[:2] in it2.ESCAPE_DOUBLES else text[:1]
        content = text[len(escape):]
        if escape == "%":
            name, _, arg = content.partition(" ")
            if name in PYTHON_ARG_LINE_MAGICS and _statement(name, arg):
                python = indent + _statement(name, arg)
            elif name in INSTALLERS and _installer(content):
                out.requirements.extend(_requirements(content))
        elif escape in ("!", "!!"):
            if _installer(content):
                out.requirements.extend(_requirements(content))
        elif escape in (",", ";", "/"):
            python = indent + it2.tr[escape](content)  # auto-call: `/f a b` is `f(a, b)`
    if python is None:
        out.removed.append((number, shown))
        python = _replace(indent)
    return lines[:start] + [python + "\n"] + ["\n"] * (end - start) + lines[end + 1 :]
