"""Per-statement reads, bindings and mutations with Python's real scoping."""

from __future__ import annotations

import pytest

from workbench.refactor.analysis import analyse_cell
from workbench.refactor.ipython_syntax import transform


def facts(code: str):
    stmts = analyse_cell(code, 0, star_names=lambda m: ["sqrt", "pi"] if m == "math" else [])
    reads, binds, maybe, mutates, deferred = [], set(), set(), set(), {}
    bound: set[str] = set()
    for s in stmts:
        reads += [n for n, _ in s.reads if n not in bound and n not in reads]
        binds |= s.binds
        maybe |= s.maybe_binds
        mutates |= s.mutates
        deferred.update(s.deferred)
        bound |= s.binds
    return reads, binds, maybe, mutates, deferred


@pytest.mark.parametrize(
    "code, reads, binds",
    [
        ("x = y + 1", ["y"], {"x"}),
        ("a, (b, *c) = pair", ["pair"], {"a", "b", "c"}),
        ("x: int = y", ["y"], {"x"}),
        ("x += 1", ["x"], {"x"}),  # augmented assignment uses and defines
        ("x = 1\ny = x", [], {"x", "y"}),  # defined before used: not an input
        ("y = x\nx = 1", ["x"], {"x", "y"}),  # used before defined: an input
        ("z = [x for x in data]", ["data"], {"z"}),  # comprehension variable is local
        ("z = {k: v for k, v in d.items() if v > t}", ["d", "t"], {"z"}),
        ("z = [y for x in xs for y in x]", ["xs"], {"z"}),
        ("if (n := len(xs)) > 1:\n    pass", ["len", "xs"], {"n"}),
        ("import numpy as np\nimport os.path", [], {"np", "os"}),
        ("from math import *\nr = sqrt(2)", [], {"sqrt", "pi", "r"}),  # star imports resolved
        ("del x", ["x"], set()),
        ("with open(p) as fh:\n    text = fh.read()", ["open", "p"], {"fh", "text"}),
        ("class A(Base):\n    k = K\n    def f(self):\n        return g", ["Base", "K"], {"A"}),
        ("f = lambda v: v * scale", [], {"f"}),  # a lambda reads when called
        ("def f(a, b=default):\n    return a", ["default"], {"f"}),
        ("try:\n    import cupy as xp\nexcept ImportError:\n    xp = np", ["ImportError", "np"], {"xp"}),
    ],
)
def test_reads_and_binds(code, reads, binds):
    got_reads, got_binds, _, _, _ = facts(code)
    assert got_reads == reads
    assert got_binds == binds


def test_loop_and_branch_bindings_are_maybe_and_still_seen_by_the_body():
    reads, binds, maybe, _, _ = facts("for i in range(3):\n    counter += i\nif c:\n    y = 1")
    assert "i" not in reads  # the loop target is bound inside the body
    assert "counter" in reads and "c" in reads
    assert {"i", "counter", "y"} <= maybe
    assert not binds & {"i", "y"}


@pytest.mark.parametrize(
    "code, mutated",
    [
        ('df["c"] = 1', "df"),
        ("df.drop(columns=['a'], inplace=True)", "df"),
        ("xs.append(1)", "xs"),
        ("obj.attr = 2", "obj"),
        ("obj.inner.items[0] = 3", "obj"),
        ("model.fit(X, y)", "model"),
        ("random.shuffle(deck)", "deck"),
        ("del cache['k']", "cache"),
    ],
)
def test_mutation_is_a_use_and_a_definition(code, mutated):
    reads, _, _, mutates, _ = facts(code)
    assert mutated in mutates
    assert mutated in reads


def test_functions_charge_the_globals_they_read_to_their_callers():
    code = (
        "def scaled(x):\n    return x * scale + offset()\n"
        "def nested():\n    def inner():\n        return hidden\n    return inner\n"
        "def local_only(a):\n    b = a\n    return [b for _ in range(2)]\n"
        "def writer():\n    global calls\n    calls += 1\n"
    )
    stmts = analyse_cell(code, 0)
    deferred = {k: v for s in stmts for k, v in s.deferred.items()}
    assert deferred["scaled"] == {"scale", "offset"}
    assert deferred["nested"] == {"hidden"}
    assert deferred["local_only"] == {"range"}
    assert deferred["writer"] == {"calls"}
    assert stmts[-1].deferred_writes == {"writer": {"calls"}}


def test_file_reads_and_writes_by_literal_and_fstring_path():
    code = (
        "df.to_csv('out/a.csv')\n"
        "b = pd.read_csv('out/a.csv')\n"
        "np.save(f'out/{name}.npy', arr)\n"
        "with open(f'out/{name}.txt', 'w') as fh:\n    fh.write('x')\n"
        "text = open('notes.txt').read()\n"
    )
    stmts = analyse_cell(code, 0)
    writes = [k for s in stmts for k, _ in s.file_writes]
    reads = [k for s in stmts for k, _ in s.file_reads]
    assert writes == ["out/a.csv", "out/{name}.npy", "out/{name}.txt"]
    assert reads == ["out/a.csv", "notes.txt"]


def test_aliasing_is_recorded():
    stmts = analyse_cell("a = b = Model()\nc = a", 0)
    assert ("a", "b") in stmts[0].aliases
    assert ("c", "a") in stmts[1].aliases


@pytest.mark.parametrize(
    "source, code, removed, requirements",
    [
        ("%%time\ntotal = values.sum()", "\ntotal = values.sum()", [], []),
        ("%timeit f(x)", "f(x)", [], []),
        ("%matplotlib inline\nprint(1)", "\nprint(1)", [(1, "%matplotlib inline")], []),
        ("!ls -l", "", [(1, "!ls -l")], []),
        ("if x:\n    !ls\n", "if x:\n    pass\n", [(2, "!ls")], []),
        ("%pip install -q xgboost==2.1 'lightgbm>=4'", "", [(1, "%pip install -q xgboost==2.1 'lightgbm>=4'")],
         ["xgboost==2.1", "lightgbm>=4"]),
        ("!pip install --upgrade shap", "", [(1, "!pip install --upgrade shap")], ["shap"]),
        ("files = !ls", "", [(1, "files = !ls")], []),
        ("%%bash\necho hi", "\n", [(1, "%%bash cell (1 lines)")], []),
    ],
)
def test_magics_become_python_or_are_left_out(source, code, removed, requirements):
    t = transform(source)
    assert t.code == code
    assert t.removed == removed
    assert t.requirements == requirements
    assert len(t.code.split("\n")) == len(source.split("\n")) or source.endswith("\n")


def test_capture_and_writefile_become_python_that_defines_and_writes():
    cap = transform("%%capture out\nprint('hi')")
    assert cap.code == "with capture_output() as out:\n    print('hi')"
    assert cap.imports == ["from IPython.utils.capture import capture_output"]
    assert "out" in facts(cap.code)[1]
    wf = transform("%%writefile conf/settings.txt\na=1\nb=2")
    assert wf.writes == [(1, "conf/settings.txt")]
    assert len(wf.code.split("\n")) == 3
    assert "open('conf/settings.txt', 'w')" in wf.code
    compile(wf.code, "cell", "exec")


@pytest.mark.parametrize(
    "code, mutated",
    [
        ("np.add(a, b, out=c)", "c"),
        ("np.add.at(acc, [0, 0], 1)", "acc"),
        ("np.copyto(dst, src)", "dst"),
        ("np.put(p, [1], [5])", "p"),
        ("np.fill_diagonal(m, 2)", "m"),
        ("setattr(obj, name, 3)", "obj"),
        ("cfg.model.depth += 1", "cfg"),
        ("pipe.named_steps['clf'].set_params(C=0.5)", "pipe"),
    ],
)
def test_writes_not_spelled_as_assignment_are_mutations(code, mutated):
    _, _, _, mutates, _ = facts(code)
    assert mutated in mutates


def test_function_summaries_say_which_parameters_self_and_globals_change():
    (f, cls) = analyse_cell(
        "def fill(d, rows, *, k=1):\n    alias = d\n    alias['b'] = 1\n    for r in rows:\n        r.append(k)\n"
        "    cache[k] = 1\n    history.append(k)\n    helper(d)\n    local = []\n    local.append(1)\n"
        "class Acc:\n    def push(self, x):\n        self.items.append(x)\n    def read(self):\n        return self.items",
        0)
    summary = f.summaries["fill"]
    assert summary.params == ["d", "rows"] and summary.every == {"d", "rows", "k"}
    assert summary.mutates == {"d", "rows", "cache", "history"}
    assert ("helper", [{"d"}], {}, set(), None) in summary.calls
    assert cls.summaries["Acc.push"].mutates == {"self"} and cls.summaries["Acc.read"].mutates == set()


def test_containers_and_loops_record_what_shares_objects():
    stmts = analyse_cell("combine = [train, test]\nfor ds in combine:\n    ds['x'] = 1\nfirst = rows[0]\n"
                         "for k, v in d.items():\n    pass\nclf = RF(random_state=rng)", 0)
    shares = [s for stmt in stmts for s in stmt.shares]
    assert shares == [("train", "combine", "combine[0]"), ("test", "combine", "combine[1]"),
                      ("ds", "combine", None), ("first", "rows", "rows[0]"), ("k", "d", None), ("v", "d", None),
                      ("rng", "clf", "clf.random_state")]
