"""Unbound extension objects, bound to the app in create_app()."""

from flask_babel import Babel
from flask_mail import Mail
from flask_sqlalchemy import SQLAlchemy
from htmx_flask import Htmx
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
mail = Mail()
htmx = Htmx()
babel = Babel()
