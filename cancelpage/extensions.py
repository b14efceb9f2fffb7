"""Unbound extension objects, bound to the app in create_app()."""

from flask import Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from cancelpage.i18n import Babel

# Named constraints: PostgreSQL can drop them by name and Alembic migrations stay stable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
htmx = Htmx()
babel = Babel()


class DashboardLoginManager(LoginManager):
    """Flask-Login for the dashboard only: other pages (the customer's) never touch the session,
    so their responses do not vary on Cookie. No remember-me cookies are issued."""

    def _update_remember_cookie(self, response: Response) -> Response:
        if request.blueprint != "admin":
            return response
        return super()._update_remember_cookie(response)  # type: ignore[no-any-return]


csrf = CSRFProtect()
login = DashboardLoginManager()
# Per-IP by default; customer routes add a link's digest, the link API its API key.
limiter = Limiter(key_func=get_remote_address)
migrate = Migrate()
