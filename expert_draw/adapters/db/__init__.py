"""Database adapter: SQLModel tables, repositories, the engine and Alembic migrations."""
