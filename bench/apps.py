"""The WSGI apps the benchmarks serve beside the project's web, each with the
Procfile's gunicorn settings (``web_command``):

- ``bare()``: what any service that queues a create must do, and nothing
  else: parse the JSON body, validate it with a marshmallow schema of the
  project's fields, send a Dramatiq message to a Redis broker, answer 202;
- ``json_only()``: parse the body and answer 202;
- ``pymongo_app()``: a synchronous peer: validate, insert the product
  document with pymongo, answer 201.

Each reads its servers from the settings (``REDIS_URL``, ``MONGODB_URI``),
as the project's processes do, and answers ``GET /health`` for
``bench.stack.Stack.wait_until_serving``."""

from __future__ import annotations

import os
import uuid

import dramatiq
import falcon
import pycountry
from dramatiq.brokers.redis import RedisBroker
from marshmallow import Schema, ValidationError, fields, validate
from pymongo import MongoClient, WriteConcern
from pymongo.errors import DuplicateKeyError

from bench.stack import procfile
from infra.redisclient import connect_redis
from infra.settings import Settings

#: How the Procfile's web names the project's app to gunicorn.
PROJECT_APP = "'web.wsgi:application()'"


def web_command(target: str) -> str:
    """The Procfile's web command line serving ``target`` (``module:factory()``)
    in place of the project's app: the same config file, worker class,
    workers, threads and limits."""
    command = procfile()["web"]
    if PROJECT_APP not in command:
        raise RuntimeError(f"the Procfile's web no longer serves {PROJECT_APP}: {command}")
    return command.replace(PROJECT_APP, f"'{target}'")


class ProductSchema(Schema):
    """The fields of the project's create, with marshmallow's own fields
    and validators."""

    sku = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    category = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    price_cents = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    currency = fields.String(
        required=True, validate=validate.OneOf(sorted(c.alpha_3 for c in pycountry.currencies))
    )
    stock = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0))


class Health:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


def validated(req: falcon.Request, schema: Schema) -> dict:
    try:
        return schema.load(req.get_media())
    except ValidationError as invalid:
        raise falcon.HTTPUnprocessableEntity(description=str(invalid.messages)) from None


def settings() -> Settings:
    return Settings.from_env(os.environ)


def app_with(products: object) -> falcon.App:
    app = falcon.App()
    app.add_route("/health", Health())
    app.add_route("/products", products)
    return app


class QueueCreate:
    def __init__(self, actor: dramatiq.Actor):
        self._actor = actor
        self._schema = ProductSchema()

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        product = validated(req, self._schema)
        product_id = str(uuid.uuid4())
        message = self._actor.send(product_id=product_id, **product)
        resp.status = falcon.HTTP_202
        resp.media = {"command_id": message.message_id, "status": "accepted", "product_id": product_id}


def create_product(**product) -> None:
    """Never run: nothing consumes the queue in the benchmark."""


def bare() -> falcon.App:
    # Dramatiq's own Redis broker, default middleware, on a client made by
    # connect_redis: it makes no client of its own.
    broker = RedisBroker(client=connect_redis(settings()), namespace="bench-bare")
    actor = dramatiq.actor(create_product, broker=broker, queue_name="commands")
    return app_with(QueueCreate(actor))


class EchoCreate:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = req.get_media()
        resp.status = falcon.HTTP_202
        resp.media = {"status": "accepted", "sku": body.get("sku") if isinstance(body, dict) else None}


def json_only() -> falcon.App:
    return app_with(EchoCreate())


class InsertCreate:
    def __init__(self, collection):
        self._collection = collection
        self._schema = ProductSchema()

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        product = validated(req, self._schema)
        product["_id"] = str(uuid.uuid4())
        try:
            self._collection.insert_one(product)
        except DuplicateKeyError:
            raise falcon.HTTPConflict(description="a product has this sku") from None
        resp.status = falcon.HTTP_201
        resp.location = f"/products/{product['_id']}"
        resp.media = product


def pymongo_app() -> falcon.App:
    """Products in the ``products`` collection of the settings' database
    (whoever runs it makes its unique index on ``sku``), written as the
    project writes its events: acknowledged once journaled."""
    given = settings()
    client: MongoClient = MongoClient(given.mongodb_uri, appname="bench-peer")
    db = client[given.mongodb_database]
    return app_with(InsertCreate(db.get_collection("products", write_concern=WriteConcern(j=True))))
