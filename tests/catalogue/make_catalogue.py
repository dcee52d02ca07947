"""Writes the catalogue notebooks: one small notebook per everyday pattern the planner must get
right (tests/test_catalogue.py plans, exports, runs each task in a fresh process and verifies).

Run: .venv/bin/python tests/catalogue/make_catalogue.py (the .ipynb files are committed).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from helpers import write_notebook  # noqa: E402

MD = "markdown"


def md(text: str) -> dict:
    return {"cell_type": MD, "source": text}


NOTEBOOKS = {
    "mutating_functions": [
        md("# Notebook functions and methods that change what they are given\n\n"
           "`add_both(df)` changes df (through `add_col`), `acc.push(x)` changes acc (through "
           "`self._store`), `record(v)` fills the globals `history` and `cache`."),
        ("import pandas as pd", "imports"),
        ("history = []\ncache = {}\n\n\n"
         "def add_col(d):\n    d[\"b\"] = d[\"a\"] * 2\n\n\n"
         "def add_both(d):\n    add_col(d)\n    d[\"c\"] = 1\n\n\n"
         "def record(value):\n    history.append(value)\n    cache[len(history)] = value\n\n\n"
         "class Accumulator:\n    def __init__(self):\n        self.items = []\n\n"
         "    def push(self, x):\n        self._store(x)\n\n"
         "    def _store(self, x):\n        self.items.append(x)", "functions"),
        ("df = pd.DataFrame({\"a\": [1, 2, 3]})\nacc = Accumulator()", "task:load"),
        ("add_both(df)\nacc.push(5)\nrecord(int(df[\"b\"].sum()))", "task:change"),
        ("total = int(df[\"b\"].sum() + df[\"c\"].sum())\nitems = list(acc.items)\nseen = list(history)\n"
         "cached = dict(cache)", "task:report"),
    ],
    "container_aliases": [
        md("# Aliases through containers and loops (the Kaggle Titanic `combine` idiom)"),
        ("import pandas as pd", "imports"),
        ("train = pd.DataFrame({\"a\": [1, 2]})\ntest = pd.DataFrame({\"a\": [3, 4]})\n"
         "combine = [train, test]\nrows = [[1], [2]]\nd = {\"x\": [1], \"y\": [2]}", "task:load"),
        ("for dataset in combine:\n    dataset[\"x\"] = dataset[\"a\"] * 10\n"
         "first = rows[0]\nfirst.append(9)\nfor k, v in d.items():\n    v.append(k)", "task:features"),
        ("train[\"y\"] = 1", "task:more"),
        ("tr = int(train[\"x\"].sum() + train[\"y\"].sum())\nte = int(test[\"x\"].sum())\n"
         "n_rows = sum(len(r) for r in rows)\nd_sizes = {k: len(v) for k, v in d.items()}\n"
         "n_cols = [len(c.columns) for c in combine]", "task:report"),
    ],
    "library_writes": [
        md("# Writes not spelled as assignment\n\n`out=`, `ufunc.at`, `np.copyto`, `np.put`, "
           "`np.fill_diagonal`, `setattr`, `cfg.model.depth += 1`, `named_steps[...].set_params`, "
           "and a random generator handed to library calls and to an estimator."),
        ("from types import SimpleNamespace\n\nimport numpy as np\nfrom sklearn.ensemble import RandomForestClassifier\n"
         "from sklearn.linear_model import LogisticRegression\nfrom sklearn.model_selection import train_test_split\n"
         "from sklearn.pipeline import Pipeline\nfrom sklearn.preprocessing import StandardScaler",
         "imports"),
        ("a = np.arange(4.0)\nb = np.ones(4)\nc = np.zeros(4)\nacc = np.zeros(3)\ndst = np.zeros(2)\n"
         "m = np.zeros((3, 3))\np = np.zeros(5)\nobj = SimpleNamespace(k=0)\nattribute = \"k\"\n"
         "cfg = SimpleNamespace(model=SimpleNamespace(depth=1))\n"
         "pipe = Pipeline([(\"scale\", StandardScaler()), (\"clf\", LogisticRegression())])\n"
         "rng = np.random.RandomState(0)\nX = np.arange(40.0).reshape(20, 2)\ny = np.array([0, 1] * 10)",
         "task:make"),
        ("np.add(a, b, out=c)\nnp.add.at(acc, [0, 0, 2], 1)\nnp.copyto(dst, np.array([7.0, 8.0]))\n"
         "np.put(p, [1, 3], [5, 6])\nnp.fill_diagonal(m, 2)\nsetattr(obj, attribute, 3)\ncfg.model.depth += 1\n"
         "pipe.named_steps[\"clf\"].set_params(C=0.5)\n"
         "X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=rng)", "task:write"),
        ("forest = RandomForestClassifier(n_estimators=3, random_state=rng)\nforest.fit(X_tr, y_tr)", "task:fit"),
        ("sums = [float(c.sum()), float(acc.sum()), float(dst.sum()), float(p.sum()), float(m.trace())]\n"
         "k = obj.k\ndepth = cfg.model.depth\nC = pipe.named_steps[\"clf\"].C\ndraw = float(rng.rand())\n"
         "pred = forest.predict(X_te).tolist()", "task:report"),
    ],
    "process_state": [
        md("# Process and library state set in one task, relied on in the next"),
        ("import logging\nimport os\nimport sys\nimport warnings\n\nimport matplotlib\n"
         "import matplotlib.pyplot as plt\nimport numpy as np\nimport pandas as pd", "imports"),
        ("os.environ[\"WORKBENCH_CATALOGUE_MODE\"] = \"fast\"\nsys.path.insert(0, os.path.abspath(\"catalogue_lib\"))\n"
         "pd.set_option(\"display.max_rows\", 7)\nnp.set_printoptions(precision=3)\n"
         "warnings.filterwarnings(\"ignore\", category=DeprecationWarning)\nplt.style.use(\"classic\")\n"
         "plt.rcParams[\"lines.linewidth\"] = 3.5\nmatplotlib.rcParams.update({\"axes.titlesize\": 9})\n"
         "logging.basicConfig(level=logging.INFO, force=True)\n"
         "data = pd.DataFrame({\"a\": [1, 2, 3]})\nos.environ[\"N_ROWS\"] = str(len(data))\nos.chdir(\"data\")",
         "task:setup"),
        ("import catalogue_helper\n\nmode = os.environ[\"WORKBENCH_CATALOGUE_MODE\"]\nn_rows = int(os.environ[\"N_ROWS\"])\n"
         "max_rows = pd.get_option(\"display.max_rows\")\nprecision = np.get_printoptions()[\"precision\"]\n"
         "linewidth = plt.rcParams[\"lines.linewidth\"]\ntitlesize = matplotlib.rcParams[\"axes.titlesize\"]\n"
         "level = logging.getLogger().level\nhere = os.path.basename(os.getcwd())\nhelper = catalogue_helper.VALUE",
         "task:use"),
    ],
    "pyplot_figure": [
        md("# pyplot's current figure across tasks\n\nWith the Agg backend figures persist across "
           "cells (the inline backend closes them at the end of every cell)."),
        ("import matplotlib\nimport numpy as np\n\nmatplotlib.use(\"Agg\")\nimport matplotlib.pyplot as plt  # noqa: E402", "imports"),
        ("x = np.linspace(0, 1, 5)\nplt.figure(figsize=(3, 2))\nplt.plot(x, x ** 2)", "task:draw"),
        ("plt.title(\"squares\")\nplt.savefig(\"catalogue_figure.png\")\nn_lines = len(plt.gca().lines)\n"
         "title = plt.gca().get_title()\nplt.close()", "task:finish"),
    ],
    "local_function": [
        md("# A function defined inside a task, reading an import and an earlier task's value"),
        ("import math", "imports"),
        ("base = 10", "task:setup"),
        ("def scaled(v):\n    return math.sqrt(v) * base\n\n\nresult = scaled(16)", "task:compute"),
        ("again = scaled(4)", "task:other"),
    ],
    "unsaveable_values": [
        md("# Values that cannot be products: a connection, a lock, an HTTP session\n\n"
           "Each is made again where it is used, by the statement that made it."),
        ("import sqlite3\nimport threading\n\nimport requests", "imports"),
        ("conn = sqlite3.connect(\"catalogue.sqlite\")\nconn.execute(\"DROP TABLE IF EXISTS t\")\n"
         "conn.execute(\"CREATE TABLE t (x INTEGER)\")\n"
         "conn.executemany(\"INSERT INTO t VALUES (?)\", [(1,), (2,), (3,)])\nconn.commit()\n"
         "lock = threading.Lock()\nsession = requests.Session()", "task:connect"),
        ("total = conn.execute(\"SELECT SUM(x) FROM t\").fetchone()[0]\nwith lock:\n    doubled = total * 2\n"
         "agent = session.headers[\"User-Agent\"].split(\"/\")[0]\nconn.close()", "task:query"),
    ],
    "maybe_bound": [
        md("# Names bound only inside a loop, a branch or a try, read after it"),
        ("for i in range(3):\n    last = i * 2\nif last > 2:\n    flag = \"big\"\nelse:\n    flag = \"small\"\n"
         "label = f\"{flag}-{last}\"\ntry:\n    parsed = int(\"7\")\nexcept ValueError:\n    pass", "task:a"),
        ("total = last + parsed + len(label) + i", "task:b"),
    ],
    "ipython_syntax": [
        md("# IPython syntax, read as IPython reads it\n\n"
           "A `%` that starts a continuation line is Python's formatting operator, a `!` inside a "
           "string is text; magics, shell escapes and help are what IPython would take them for."),
        ("%matplotlib inline\nimport numpy as np", "imports"),
        ("values = (3, 4)\nlabel = (\"%d apples and %d pears\"\n"
         "    % tuple(values))\nnote = \"\"\"\n!not a shell line\n%not a magic\n\"\"\"", "task:text"),
        ("%%time\nsquares = np.arange(5) ** 2\n!echo this line is left out", "task:compute"),
        ("%%capture shown\nprint(label)\ntotal = int(squares.sum()) + len(note)", "task:report"),
        ("np.mean?\nfinal = total * 2", "task:final"),
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        write_notebook(HERE / f"{name}.ipynb", cells)


if __name__ == "__main__":
    main()
