"""assignment, notes, canned replies, labels, search (issue 7)

Revision ID: 0006_team
Revises: 0005_bots

Full-text search over message text: on PostgreSQL a GIN index on ``to_tsvector('russian', text)`` (the
query uses the same expression, so the planner picks the index); on SQLite an FTS5 table with external
content (``message``) kept in sync by triggers. Each is created only on its own database.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import inbox.models.base

revision: str = "0006_team"
down_revision: str | None = "0005_bots"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite_fts(table: str, columns: list[str], tokenize: str = "unicode61 remove_diacritics 2") -> list[str]:
    """An FTS5 index over ``table`` (external content, rowid = id) kept in sync by three triggers."""
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    fts = f"{table}_fts"
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table}', content_rowid='id', "
        f"tokenize='{tokenize}')",
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {cols} ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


SQLITE_FTS = {
    "message": ["text"],
    "customer": ["name", "email", "phone"],
    "identity": ["display", "username"],
}
PG_FTS = [
    "CREATE INDEX ix_message_text_fts ON message USING gin (to_tsvector('russian', coalesce(text, '')))",
    # inbox.team.search.CUSTOMER_DOC_PG must stay the same expression, or the planner cannot use the index
    "CREATE INDEX ix_customer_fts ON customer USING gin (to_tsvector('simple', "
    "coalesce(name, '') || ' ' || coalesce(email, '') || ' ' || translate(coalesce(phone, ''), '+', '')))",
    "CREATE INDEX ix_identity_fts ON identity USING gin (to_tsvector('simple', "
    "coalesce(display, '') || ' ' || coalesce(username, '')))",
]


def upgrade() -> None:
    op.create_table(
        "label",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("color", sa.String(length=16), nullable=False),
        sa.Column("created_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label")),
        sa.UniqueConstraint("name", name=op.f("uq_label_name")),
    )
    op.create_table(
        "team_setting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_team_setting")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=120), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["manager.id"], name=op.f("fk_audit_log_actor_id_manager")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_time", ["created_at", "id"], unique=False)

    op.create_table(
        "canned_reply",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shortcut", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["manager.id"], name=op.f("fk_canned_reply_owner_id_manager")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_reply")),
        sa.UniqueConstraint("owner_id", "shortcut", name=op.f("uq_canned_reply_owner_id_shortcut")),
    )
    with op.batch_alter_table("canned_reply", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_canned_reply_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "customer_label",
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("label_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_customer_label_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["label_id"], ["label.id"], name=op.f("fk_customer_label_label_id_label"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("customer_id", "label_id", name=op.f("pk_customer_label")),
    )
    with op.batch_alter_table("customer_label", schema=None) as batch_op:
        batch_op.create_index("ix_customer_label_label", ["label_id", "customer_id"], unique=False)

    op.create_table(
        "manager_presence",
        sa.Column("manager_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("away", sa.Boolean(), nullable=False),
        sa.Column("last_seen_at", inbox.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["manager_id"], ["manager.id"], name=op.f("fk_manager_presence_manager_id_manager")
        ),
        sa.PrimaryKeyConstraint("manager_id", name=op.f("pk_manager_presence")),
    )
    op.create_table(
        "thread_label",
        sa.Column("thread_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("label_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["label_id"], ["label.id"], name=op.f("fk_thread_label_label_id_label"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["thread.id"], name=op.f("fk_thread_label_thread_id_thread"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("thread_id", "label_id", name=op.f("pk_thread_label")),
    )
    with op.batch_alter_table("thread_label", schema=None) as batch_op:
        batch_op.create_index("ix_thread_label_label", ["label_id", "thread_id"], unique=False)

    op.create_table(
        "notification",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("manager_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("thread_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("dedup_key", sa.String(length=64), nullable=True),
        sa.Column("read_at", inbox.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["manager.id"], name=op.f("fk_notification_actor_id_manager")),
        sa.ForeignKeyConstraint(
            ["manager_id"], ["manager.id"], name=op.f("fk_notification_manager_id_manager")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name=op.f("fk_notification_message_id_message")
        ),
        sa.ForeignKeyConstraint(["thread_id"], ["thread.id"], name=op.f("fk_notification_thread_id_thread")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint(
            "manager_id", "kind", "dedup_key", name=op.f("uq_notification_manager_id_kind_dedup_key")
        ),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index("ix_notification_inbox", ["manager_id", "read_at", "id"], unique=False)

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index("ix_message_created_at", ["created_at", "id"], unique=False)

    with op.batch_alter_table("thread", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("snoozed_until", inbox.models.base.UTCDateTime(timezone=True), nullable=True)
        )

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table, columns in SQLITE_FTS.items():
            for statement in _sqlite_fts(table, columns):
                op.execute(statement)
    elif dialect == "postgresql":
        for statement in PG_FTS:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in SQLITE_FTS:
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {table}_fts")
    elif dialect == "postgresql":
        for name in ("ix_message_text_fts", "ix_customer_fts", "ix_identity_fts"):
            op.execute(f"DROP INDEX IF EXISTS {name}")
    with op.batch_alter_table("thread", schema=None) as batch_op:
        batch_op.drop_column("snoozed_until")

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_created_at")

    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_inbox")

    op.drop_table("notification")
    with op.batch_alter_table("thread_label", schema=None) as batch_op:
        batch_op.drop_index("ix_thread_label_label")

    op.drop_table("thread_label")
    op.drop_table("manager_presence")
    with op.batch_alter_table("customer_label", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_label_label")

    op.drop_table("customer_label")
    with op.batch_alter_table("canned_reply", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_canned_reply_owner_id"))

    op.drop_table("canned_reply")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_time")

    op.drop_table("audit_log")
    op.drop_table("team_setting")
    op.drop_table("label")
