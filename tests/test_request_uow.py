"""The request's read transaction: committed when it only read, and never a 500 of its own when the
database went away under it (the API's sign-in check ends it in a `finally`)."""

from __future__ import annotations

from flask import g
from sqlalchemy.exc import OperationalError

from web.helpers import end_request_uow, request_uow


def test_a_read_only_request_commits_and_closes(app) -> None:
    with app.test_request_context("/"):
        uow = request_uow()
        calls: list[str] = []
        commit, close = uow.commit, uow.__exit__
        uow.commit = lambda: (calls.append("commit"), commit())[1]  # type: ignore[method-assign]
        uow.__exit__ = lambda *a: (calls.append("exit"), close(*a))[1]  # type: ignore[method-assign]
        end_request_uow()
        assert calls == ["commit", "exit"]
        assert "motcua_uow" not in g


def test_a_commit_that_cannot_reach_the_database_still_closes_and_raises_nothing(app, caplog) -> None:
    with app.test_request_context("/"):
        uow = request_uow()
        closed: list[bool] = []
        close = uow.__exit__

        def lost() -> None:
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

        uow.commit = lost  # type: ignore[method-assign]
        uow.__exit__ = lambda *a: (closed.append(True), close(*a))[1]  # type: ignore[method-assign]
        with caplog.at_level("WARNING"):
            end_request_uow()
        assert closed == [True]
        assert "could not commit" in caplog.text


def test_a_failed_request_rolls_back_without_committing(app) -> None:
    with app.test_request_context("/"):
        uow = request_uow()
        committed: list[bool] = []
        uow.commit = lambda: committed.append(True)  # type: ignore[method-assign]
        end_request_uow(RuntimeError("the view failed"))
        assert committed == []
