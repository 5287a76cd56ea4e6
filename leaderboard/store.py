"""The leaderboard store: SQLite by default, PostgreSQL by URL.

    Store("board.sqlite") | Store("sqlite:///abs/path.sqlite") | Store("postgresql://user@host/db")

Tables: `schema_version` (one row), `submissions` (the whole document as JSON
plus indexed columns for ranking, duplicate checks and seed groups: `dataset_id`, `seed`) and `task_results`
(one row per submission and task). The schema is brought up to date by numbered
migrations when a store is opened; a store written by a newer dcbench is refused.
All SQL is written with `?` placeholders and translated to the driver's style,
so the same statements run on both databases.

Concurrent writers are safe: every write is one transaction that takes the
write lock first (SQLite `BEGIN IMMEDIATE`, a PostgreSQL table lock), the
duplicate rule is checked inside it, and unique indexes on the model and
evaluation ids back the rule, so two submits of one run cannot both land.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterator

from dcbench.errors import ConfigError, DataError
from dcbench.leaderboard import rules
from dcbench.leaderboard.submission import number_or_none, validate_document
from dcbench.tiers import TIERS

SOURCES = ("dcbench", "dclm-reference")
COLUMNS = ("id", "name", "tier", "track", "core", "extended", "mmlu", "toy", "created", "source", "model_id",
           "eval_id", "suite", "version", "epochs", "dataset_id", "seed")


def _backfill_groups(store: "Store") -> None:
    """Schema 5: the dataset id and training seed of entries stored before, read from their documents."""
    for row in store._query("SELECT id, doc FROM submissions"):
        try:
            doc = json.loads(row["doc"])
        except ValueError:
            continue
        store._execute("UPDATE submissions SET dataset_id = ?, seed = ? WHERE id = ?",
                       (*_group_values(doc if isinstance(doc, dict) else {}), row["id"]))


def _group_values(doc: dict[str, Any]) -> tuple[str | None, int | None]:
    """(dataset id, training seed) of a document: runs of one dataset at one tier are seeds of one entry."""
    dataset = (doc.get("chain") or {}).get("dataset")
    model = doc.get("model") if isinstance(doc.get("model"), dict) else {}
    seed = model.get("seed")
    if seed is None:  # entries from before `model.seed`: the seed their tier record trained with
        seed = (model.get("tier_record") or {}).get("seed")
    return (str(dataset) if dataset else None,
            seed if isinstance(seed, int) and not isinstance(seed, bool) else None)


# (version, steps): each brings the schema from version-1 to version; a step is SQL or a function.
MIGRATIONS: list[tuple[int, list[str | Callable[["Store"], None]]]] = [
    (1, [
        "CREATE TABLE submissions (id TEXT PRIMARY KEY, name TEXT NOT NULL, tier TEXT NOT NULL, "
        "track TEXT NOT NULL, core DOUBLE PRECISION, extended DOUBLE PRECISION, mmlu DOUBLE PRECISION, "
        "toy DOUBLE PRECISION, created TEXT NOT NULL, "
        "source TEXT NOT NULL, model_id TEXT, eval_id TEXT, doc TEXT NOT NULL)",
        "CREATE INDEX submissions_tier ON submissions (tier)",
        "CREATE TABLE task_results (submission_id TEXT NOT NULL REFERENCES submissions (id), "
        "task TEXT NOT NULL, accuracy DOUBLE PRECISION, PRIMARY KEY (submission_id, task))",
    ]),
    (2, [
        "ALTER TABLE submissions ADD COLUMN suite TEXT",
        "ALTER TABLE submissions ADD COLUMN version TEXT",
        "CREATE INDEX submissions_model ON submissions (model_id)",
        "CREATE INDEX submissions_eval ON submissions (eval_id)",
    ]),
    (3, [  # passes over the training data (NULL where a run did not record them)
        "ALTER TABLE submissions ADD COLUMN epochs DOUBLE PRECISION",
    ]),
    (4, [  # the duplicate rule, enforced by the database (NULLs never collide)
        "CREATE UNIQUE INDEX submissions_model_unique ON submissions (model_id)",
        "CREATE UNIQUE INDEX submissions_eval_unique ON submissions (eval_id)",
    ]),
    (5, [  # seeds as an axis: the leaderboard groups the runs of one dataset at one tier
        "ALTER TABLE submissions ADD COLUMN dataset_id TEXT",
        "ALTER TABLE submissions ADD COLUMN seed INTEGER",
        "CREATE INDEX submissions_dataset ON submissions (dataset_id)",
        _backfill_groups,
    ]),
]
BUSY_TIMEOUT_S = 60  # how long a SQLite writer waits for another writer's lock
SCHEMA_VERSION = MIGRATIONS[-1][0]


def rank_key(tier: str) -> str:
    """The aggregate a tier is ranked by: TOY for the CPU tiers, CORE otherwise."""
    t = TIERS.get(tier)
    return "toy" if t is not None and t.eval_suite == "toy" else "core"


class Store:
    """A leaderboard database; see the module docstring."""

    def __init__(self, url: str | Path = "leaderboard.sqlite"):
        url = str(url)
        self.url = url
        if url.startswith(("postgresql://", "postgres://")):
            try:
                import psycopg
            except ImportError as e:
                raise ConfigError(f"{url.split('@')[-1]}: a PostgreSQL store needs the psycopg driver; "
                                  f"`pip install 'psycopg[binary]'`, or use a SQLite file path") from e
            self.dialect = "postgresql"
            self._conn = psycopg.connect(url)
            self._conn.autocommit = True  # transactions are explicit (BEGIN ... COMMIT)
        elif url.startswith("sqlite://") or "://" not in url:
            # SQLAlchemy's convention: sqlite:///relative.db, sqlite:////absolute/path.db
            path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url
            if url.startswith("sqlite://") and not url.startswith("sqlite:///"):
                raise ConfigError(f"store URL {url!r}: write sqlite:///relative.db or sqlite:////absolute.db")
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.dialect = "sqlite"
            self._conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)  # explicit transactions
            self._conn.execute("PRAGMA foreign_keys = ON")
        else:
            raise ConfigError(f"store URL {url!r}: use a file path, sqlite:///path or postgresql://...")
        self._migrate()

    # -------------------------------------------------------------- SQL plumbing

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.dialect == "postgresql" else statement

    def _execute(self, statement: str, params: tuple = ()) -> Any:
        cur = self._conn.cursor()
        cur.execute(self._sql(statement), params)
        return cur

    def _query(self, statement: str, params: tuple = ()) -> list[dict[str, Any]]:
        cur = self._execute(statement, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    @contextlib.contextmanager
    def transaction(self, lock: str | None = "submissions") -> Iterator[None]:
        """BEGIN ... COMMIT, or ROLLBACK when the body raises. The write lock is taken at BEGIN
        (SQLite: the database; PostgreSQL: table `lock`), so reads inside see no concurrent write."""
        self._execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
        try:
            if self.dialect == "postgresql" and lock:
                self._execute(f"LOCK TABLE {lock} IN SHARE ROW EXCLUSIVE MODE")
            yield
        except BaseException:
            self._execute("ROLLBACK")
            raise
        self._execute("COMMIT")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -------------------------------------------------------------- schema

    def schema_version(self) -> int:
        try:
            rows = self._query("SELECT version FROM schema_version")
        except Exception:
            if self.dialect == "postgresql":
                self._conn.rollback()
            return 0
        return int(rows[0]["version"]) if rows else 0

    def _migrate(self) -> None:
        seen = self.schema_version()
        self._refuse_newer(seen)
        if seen == SCHEMA_VERSION:
            return
        with self.transaction(lock=None):  # idempotent: another process may be migrating too
            self._execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            if self.dialect == "postgresql":
                self._execute("LOCK TABLE schema_version IN EXCLUSIVE MODE")
            rows = self._query("SELECT version FROM schema_version")
            if not rows:
                self._execute("INSERT INTO schema_version (version) VALUES (0)")
            current = int(rows[0]["version"]) if rows else 0
            self._refuse_newer(current)
            for version, statements in MIGRATIONS:
                if version <= current:
                    continue
                for s in statements:
                    s(self) if callable(s) else self._apply(s)
                self._execute("UPDATE schema_version SET version = ?", (version,))

    def _apply(self, statement: str) -> None:
        try:
            self._execute(statement)
        except Exception as e:
            if not _is_integrity_error(e):
                raise
            column = "model_id" if "model" in statement else "eval_id"
            ids = "see the submissions table" if self.dialect != "sqlite" else ", ".join(r["id"] for r in self._query(
                f"SELECT id FROM submissions WHERE {column} IN (SELECT {column} FROM submissions "
                f"GROUP BY {column} HAVING COUNT(*) > 1) ORDER BY {column}, id"))  # PostgreSQL: the transaction failed
            raise DataError(f"{self.url}: entries share a {column} (stored concurrently by an older dcbench): "
                            f"{ids}; delete all but one of each, e.g. "
                            f"`sqlite3 STORE \"DELETE FROM task_results WHERE submission_id = 'ID'; DELETE FROM "
                            f"submissions WHERE id = 'ID'\"`, then run the command again") from e

    def _refuse_newer(self, current: int) -> None:
        if current > SCHEMA_VERSION:
            raise DataError(f"{self.url}: leaderboard schema {current} is newer than this dcbench knows "
                            f"({SCHEMA_VERSION}); upgrade dcbench")

    # -------------------------------------------------------------- writing

    def add(self, submission: dict[str, Any], *, force_reference: bool = False) -> str:
        """Check the rules and insert; raises DataError listing every rejection. Returns the id.

        `force_reference=True` is for published DCLM results: source "dclm-reference", and only the
        id and duplicate rules apply."""
        doc = validate_document(submission)
        if force_reference:
            doc = {**doc, "source": "dclm-reference"}
        elif doc.get("source", "dcbench") != "dcbench":
            raise DataError(f"source {doc.get('source')!r} is for imported reference results; "
                            f"add those with `dcbench leaderboard import-dclm`")
        with self.transaction():  # the rules (duplicate among them) see no concurrent insert
            rejections = rules.check(doc, self, reference=force_reference)
            if rejections:
                raise DataError(rules.format_rejections(rejections))
            try:
                self._insert(doc)
            except Exception as e:
                if not _is_integrity_error(e):
                    raise
                raise DataError(f"duplicate: {doc['id']} is already on the leaderboard ({e}); "
                                f"submit a new run instead of resubmitting") from e
            self._insert_tasks(doc)
        return doc["id"]

    def _insert(self, doc: dict[str, Any]) -> None:
        ev = doc.get("eval") or {}
        aggs = ev.get("aggregates") or {}
        chain = doc.get("chain") or {}
        values = (doc["id"], str(doc["name"]), str(doc["tier"]), str(doc["track"]),
                  number_or_none(aggs.get("CORE")), number_or_none(aggs.get("EXTENDED")),
                  number_or_none(aggs.get("MMLU")), number_or_none(aggs.get("TOY")),
                  str(doc.get("created") or ""), doc.get("source", "dcbench"), chain.get("model"), chain.get("eval"),
                  ev.get("suite"), ev.get("version"), number_or_none((doc.get("model") or {}).get("epochs")),
                  *_group_values(doc), json.dumps(doc, sort_keys=True, ensure_ascii=False))
        cols = (*COLUMNS, "doc")
        self._execute(f"INSERT INTO submissions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)

    def _insert_tasks(self, doc: dict[str, Any]) -> None:
        for task, acc in sorted(((doc.get("eval") or {}).get("tasks") or {}).items()):
            self._execute("INSERT INTO task_results (submission_id, task, accuracy) VALUES (?, ?, ?)",
                          (doc["id"], task, number_or_none(acc)))

    def remove(self, submission_id: str) -> bool:
        with self.transaction():
            self._execute("DELETE FROM task_results WHERE submission_id = ?", (submission_id,))
            cur = self._execute("DELETE FROM submissions WHERE id = ?", (submission_id,))
        return cur.rowcount > 0

    # -------------------------------------------------------------- reading

    def find_duplicates(self, sub_id: str | None, model_id: str | None, eval_id: str | None) -> list[dict[str, Any]]:
        cols = ", ".join(COLUMNS)
        return self._query(f"SELECT {cols} FROM submissions WHERE id = ? OR model_id = ? OR eval_id = ? ORDER BY id",
                           (sub_id, model_id, eval_id))

    def get(self, submission_id: str) -> dict[str, Any] | None:
        """The whole submission document, or None."""
        rows = self._query("SELECT doc FROM submissions WHERE id = ?", (submission_id,))
        return json.loads(rows[0]["doc"]) if rows else None

    def tasks(self, submission_id: str) -> dict[str, float | None]:
        rows = self._query("SELECT task, accuracy FROM task_results WHERE submission_id = ? ORDER BY task",
                           (submission_id,))
        return {r["task"]: r["accuracy"] for r in rows}

    def list(self, tier: str | None = None, source: str | None = None) -> list[dict[str, Any]]:
        """Rows (the indexed columns plus `rank` and `score`), each tier ranked by CORE (TOY for toy
        tiers), best first; rows without a score last. Tiers in name order when `tier` is None."""
        where, params = [], []
        if tier is not None:
            where.append("LOWER(tier) = LOWER(?)")
            params.append(tier)
        if source is not None:
            where.append("source = ?")
            params.append(source)
        sql = f"SELECT {', '.join(COLUMNS)} FROM submissions" + (f" WHERE {' AND '.join(where)}" if where else "")
        rows = self._query(sql, tuple(params))
        by_tier: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            r["rank_by"] = rank_key(r["tier"])
            r["score"] = r[r["rank_by"]]
            by_tier.setdefault(r["tier"], []).append(r)
        out = []
        for t in sorted(by_tier, key=tier_order):
            group = sorted(by_tier[t], key=lambda r: (r["score"] is None, -(r["score"] or 0.0), r["name"], r["id"]))
            for i, r in enumerate(group, 1):
                r["rank"] = i if r["score"] is not None else None
            out.extend(group)
        return out

    def __len__(self) -> int:
        return int(self._query("SELECT COUNT(*) AS n FROM submissions")[0]["n"])


def _is_integrity_error(e: Exception) -> bool:
    """A constraint violation, from sqlite3 or psycopg (both name their class IntegrityError)."""
    return "IntegrityError" in {c.__name__ for c in type(e).__mro__}


def tier_order(tier: str) -> tuple:
    """Sort key: the tier table's order, then unknown tiers by name."""
    names = list(TIERS)
    return (0, names.index(tier)) if tier in TIERS else (1, tier)
