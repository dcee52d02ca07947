"""IPython syntax is found the way IPython finds it (its token transformers), then rewritten to the
Python Workbench wants, line for line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workbench.core.errors import PlanError
from workbench.refactor.ipython_syntax import transform
from workbench.refactor.notebook import read_notebook
from workbench.refactor.planner import build_plan


@pytest.fixture
def plan_of(make_notebook):
    def plan(cells, **kw):
        return build_plan(read_notebook(make_notebook(cells, **kw)))

    return plan


FORMATTING = 'label = ("%s-%s"\n    % tuple(values))\nshown = "n=%d" \\\n    % len(values)'


def test_a_percent_continuation_line_is_python_not_a_magic(plan_of):
    t = transform(FORMATTING)
    assert (t.code, t.removed) == (FORMATTING, [])
    plan = plan_of([("values = ['a', 'b']", "task:a"), (FORMATTING, "task:b")])
    assert plan.task("b").inputs == {"values": "a"}
    assert plan.warnings == []


@pytest.mark.parametrize("source", [
    's = """\n%not a magic\n!nor a shell line\nwhat?\n"""',
    "doc = '''\n  %%time\n  !ls\n'''",
    "x = 10 \\\n    % 3",
    "ratio = (a\n    / b)",
    "print('why?')  # a question?",
])
def test_strings_comments_and_continuations_are_left_alone(source):
    t = transform(source)
    assert (t.code, t.removed, t.magic) == (source, [], None)


@pytest.mark.parametrize("source, code, removed", [
    ("x = !ls", "", [(1, "x = !ls")]),
    ("if ok:\n    files = !ls -l\n", "if ok:\n    pass\n", [(2, "files = !ls -l")]),
    ("obj?", "", [(1, "obj?")]),
    ("df.head??", "", [(1, "df.head??")]),
    ("?obj", "", [(1, "?obj")]),
    ("%timeit?", "", [(1, "%timeit?")]),
    ("!!ls", "", [(1, "!!ls")]),
    ("!ls \\\n  -l\ny = 2", "\n\ny = 2", [(1, "!ls    -l")]),
    ("out = %who_ls", "", [(1, "out = %who_ls")]),
])
def test_shell_help_and_magic_assignments_are_left_out_with_where(source, code, removed):
    t = transform(source)
    assert (t.code, t.removed) == (code, removed)
    assert len(t.code.split("\n")) == len(source.split("\n"))


@pytest.mark.parametrize("source, code", [
    ("x = %time f()", "x = f()"),
    ("%timeit -n 10 -r 3 f(x)", "f(x)"),
    ("%prun -l 5 g()", "g()"),
    ("/f a b", "f(a, b)"),
    (",f a b", 'f("a", "b")'),
    (";f a b", 'f("a b")'),
])
def test_magics_that_mean_python_become_that_python(source, code):
    t = transform(source)
    assert (t.code, t.removed) == (code, [])


def test_a_cell_magic_after_blank_lines_and_ipython_syntax_inside_its_body():
    t = transform("\n%%time\n!ls\nz = 1")
    assert t.magic == "time"
    assert (t.code, t.removed) == ("\n\n\nz = 1", [(3, "!ls")])
    cap = transform("%%capture out\n%pip install shap\nprint(1)")
    assert cap.code == "with capture_output() as out:\n\n    print(1)"
    assert (cap.removed, cap.requirements) == ([(2, "%pip install shap")], ["shap"])
    assert transform("%%time?").removed == [(1, "%%time?")]


def test_a_syntax_error_after_a_continued_shell_line_names_the_cell_line(plan_of):
    with pytest.raises(PlanError) as err:
        plan_of([("x = 1", "task:a"), ("!ls \\\n  -l\nb = (", "task:b")])
    assert err.value.location.cell == 1 and err.value.location.line == 3


def test_where_ipython_finds_syntax_is_where_we_rewrite():
    """Against IPython's own `transform_cell`: the lines it turns into get_ipython() calls are the
    lines we rewrite or leave out, and only those."""
    from IPython.core.inputtransformer2 import TransformerManager

    cells = [FORMATTING, "a = 1\n%matplotlib inline\nb = !ls\nif a:\n    !echo hi\nc = a?",
             's = """\n!x\n"""\n%who', "x = [1,\n  2]\n%time y = sum(x)"]
    for cell in cells:
        ipython = TransformerManager().transform_cell(cell).split("\n")
        ours = transform(cell)
        ipy_lines = {i + 1 for i, line in enumerate(ipython) if "get_ipython()" in line}
        changed = {i + 1 for i, (a, b) in enumerate(zip(cell.split("\n"), ours.code.split("\n"))) if a != b}
        assert ipy_lines == changed, cell


def test_plain_cells_run_no_ipython_code_and_magics_do_not_import_ipythons_shell():
    """`workbench plan` must not pay for IPython's shell (150-220 ms): plain cells run none of
    IPython's code, and magics use its input transformers loaded on their own; once IPython is
    imported (a kernel) its own module is used, and IPython itself is unharmed."""
    code = "\n".join([
        "import sys",
        "from workbench.refactor import ipython_syntax as s",
        "s.transform('x = 1 % 2\\ny = [a for a in b if a != 3]\\nz = f(\"%s!\" % x)')",
        "s.transform('%%time\\nx = 1')",
        "assert not s._loaded and 'IPython' not in sys.modules",
        "assert s.transform('%matplotlib inline\\n!ls').removed == [(1, '%matplotlib inline'), (2, '!ls')]",
        "assert s._loaded and not any(m.startswith('IPython') for m in sys.modules), 'IPython imported'",
        "import IPython.core.inputtransformer2 as real",
        "assert s._transformers() is real and s.transform('x = !ls').removed == [(1, 'x = !ls')]",
        "from IPython.utils.capture import capture_output",
    ])
    subprocess.run([sys.executable, "-c", code], check=True)
