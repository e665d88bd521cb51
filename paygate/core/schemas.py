"""Request bodies as pydantic models: unknown fields and wrong types are rejected, naming the field.

pydantic (v2) is used rather than hand-written checks because it reports the exact
location of every problem and will give the OpenAPI document its schemas.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..infra.errors import BadRequest

# An order's notes: at most NOTES pairs, keys of at most NOTE_KEY characters, string values of at most NOTE_VALUE
# (Stripe's metadata allows 50 / 40 / 500; the 15 pairs are Razorpay's notes'), so that no order carries megabytes.
NOTES, NOTE_KEY, NOTE_VALUE = 15, 40, 500
NoteValue = Annotated[str, Field(max_length=NOTE_VALUE)] | int | float | bool | None
# Metadata on orders (their notes, under Stripe's name), payments and refunds: at most METADATA_KEYS pairs, keys of 1
# to METADATA_KEY characters without square brackets (lists filter with metadata[key]=value), string values of at
# most METADATA_VALUE characters (Stripe's limits, but 20 pairs rather than 50). An empty value means no such key.
METADATA_KEYS, METADATA_KEY, METADATA_VALUE = 20, 40, 500
MetadataKey = Annotated[str, Field(min_length=1, max_length=METADATA_KEY, pattern=r"^[^\[\]]+$")]
MetadataValue = Annotated[str, Field(max_length=METADATA_VALUE)]
METADATA_RULES = (f"keys of 1 to {METADATA_KEY} characters without [ or ], string values of at most {METADATA_VALUE} "
                  f"characters")
Model = TypeVar("Model", bound=BaseModel)


def _metadata_schema(schema: dict) -> None:
    """Every key matches the pattern, in JSON Schema's words (pydantic writes patternProperties, which would leave
    keys that do not match it free)."""
    ((pattern, values),) = schema.pop("patternProperties").items()
    schema["propertyNames"] = {**schema.get("propertyNames", {}), "pattern": pattern}
    schema["additionalProperties"] = values


def metadata_field() -> Any:
    """Metadata as a create takes it: at most METADATA_KEYS pairs; none by default."""
    return Field(default_factory=dict, max_length=METADATA_KEYS, json_schema_extra=_metadata_schema,
                 description=f"at most {METADATA_KEYS} pairs, {METADATA_RULES}; a key with an empty value is left out")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class OrderCreate(Body):
    amount: int
    currency: str
    receipt: str | None = Field(default=None, max_length=40)
    notes: dict[Annotated[str, Field(max_length=NOTE_KEY)], NoteValue] = Field(
        default_factory=dict, max_length=NOTES,
        description=f"at most {NOTES} pairs; keys of at most {NOTE_KEY} characters; values strings of at most "
                    f"{NOTE_VALUE} characters, numbers, booleans or null")
    metadata: dict[MetadataKey, MetadataValue] = metadata_field()
    capture_method: Literal["automatic", "manual"] = "automatic"


class CardDetails(Body):
    number: str
    expiry_month: int | str
    expiry_year: int | str
    cvv: str
    name: str | None = Field(default=None, max_length=100)


class PaymentCreate(Body):
    order_id: str = Field(max_length=64)
    method: Literal["card", "upi"]
    card: CardDetails | None = None
    vpa: str | None = None
    amount: int | None = None
    currency: str | None = None
    metadata: dict[MetadataKey, MetadataValue] = metadata_field()


class CheckoutPaymentCreate(PaymentCreate):
    """The hosted page's payment: the public key instead of the secret, and no amount, currency or metadata to
    choose (the shopper's browser must not write what the merchant reconciles by)."""

    key: str = Field(max_length=255)
    amount: None = None
    currency: None = None
    metadata: None = None


class CaptureRequest(Body):
    amount: int | None = None


class CancelRequest(Body):
    """No fields: the payment is named by the path."""


TYPE_WORDS = {
    "int_type": "an integer", "string_type": "a string", "dict_type": "an object", "bool_type": "a boolean",
    "model_type": "an object", "float_type": "a number",
}


UNION_MEMBERS = ("int", "str", "constrained-str", "float", "bool", "none", "CardDetails")


def _field(loc: tuple) -> str:
    # Union members add their type name to the location (e.g. "int", "str"); they are not fields. A key that
    # breaks a rule is named by its object alone: the key itself may be long.
    if "[key]" in loc:
        loc = loc[:loc.index("[key]") - 1]
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and p in UNION_MEMBERS))


def _describe(error: dict, field: str) -> str:
    kind = error["type"]
    if "[key]" in error["loc"] and kind == "string_too_long":
        return f"{field} keys must be at most {error['ctx']['max_length']} characters"
    if "[key]" in error["loc"] and kind == "string_too_short":
        return f"{field} keys must not be empty"
    if "[key]" in error["loc"] and kind == "string_pattern_mismatch":
        return f"{field} keys must not contain [ or ]"
    if kind == "too_long" and field == "metadata":
        return f"{field} may have at most {error['ctx']['max_length']} keys"
    if kind == "extra_forbidden":
        return f"{field} is not a recognised field"
    if kind == "missing":
        return f"{field} is required"
    if kind == "literal_error":
        return f"{field} must be one of {error['ctx']['expected']}".replace("'", "")
    if kind in TYPE_WORDS:
        return f"{field} must be {TYPE_WORDS[kind]}"
    if kind == "string_too_long":
        return f"{field} must be at most {error['ctx']['max_length']} characters"
    if kind == "too_long":
        return f"{field} may have at most {error['ctx']['max_length']} entries"
    return f"{field}: {error['msg']}"


def _check_storable(value, field: str) -> None:
    """Postgres cannot store NUL characters, lone surrogates or NaN; refuse them here, naming the field."""
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRequest(f"{field} must be a finite number", field=field)
    if isinstance(value, str):
        if "\x00" in value:
            raise BadRequest(f"{field} must not contain NUL characters", field=field)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(f"{field} must be valid Unicode text", field=field) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key, field or "body")
            _check_storable(item, f"{field}.{key}" if field else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_storable(item, f"{field}.{index}")


# Arrays and objects inside one another, and in all: paygate's bodies have at most 3, both ways. json.loads
# recurses once a level, and some thousands of levels exhaust the stack (RecursionError) before any field is
# checked; so both are bounded, and found without parsing, before parsing work can grow with them.
MAX_DEPTH = 64
MAX_CONTAINERS = 1000
_KEEP_BRACKETS = bytes.maketrans(b"{}", b"[]"), bytes(set(range(256)) - set(b"[]{}"))


def _check_nesting(raw: bytes) -> None:
    """Refuse a body with more than MAX_CONTAINERS arrays and objects, or nesting them more than MAX_DEPTH deep.

    Brackets inside strings do not count. Linear, in C-speed bytes methods (no regular expression that could
    backtrack): escapes go first, so every remaining quote starts or ends a string.
    """
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(unescaped.split(b'"')[::2]).translate(*_KEEP_BRACKETS)  # { } as [ ]
    opened = brackets.count(b"[")
    if opened * 2 != len(brackets):  # in JSON, brackets outside strings pair up
        raise BadRequest("request body must be valid JSON")
    too_deep = BadRequest(f"request body nests arrays and objects more than {MAX_DEPTH} deep")
    if opened > MAX_CONTAINERS:
        raise too_deep if b"[" * (MAX_DEPTH + 1) in brackets else BadRequest(
            f"request body has more than {MAX_CONTAINERS} arrays and objects")
    for _ in range(MAX_DEPTH):  # each pass takes away the innermost level
        brackets = brackets.replace(b"[]", b"")
    if b"[]" in brackets:
        raise too_deep
    if brackets:  # closed before opened
        raise BadRequest("request body must be valid JSON")


def parse(model: type[Model], raw: bytes) -> Model:
    """Decode a JSON object body into ``model``; the first problem becomes a 400 naming its field."""
    try:
        # UTF-8 only (RFC 8259): json.loads would also take UTF-16 and UTF-32, whose bytes the nesting check
        # cannot read (a 0x22 byte there need not be a quote).
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("request body must be UTF-8 encoded JSON") from None
    _check_nesting(raw)
    try:
        data = json.loads(text or "{}")
    except (ValueError, RecursionError):
        raise BadRequest("request body must be valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    _check_storable(data, "")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # A union (int | str, CardDetails | None) reports one error per member; the first is the useful one.
        error = errors[0]
        field = _field(error["loc"])
        raise BadRequest(_describe(error, field), field=field) from None


class RefundCreate(Body):
    amount: int | None = None
    reason: str | None = Field(default=None, max_length=255)
    metadata: dict[MetadataKey, MetadataValue] = metadata_field()


class MetadataUpdate(Body):
    """PATCH of an order, payment or refund: its metadata only."""

    metadata: dict[MetadataKey, MetadataValue] = Field(
        json_schema_extra=_metadata_schema,
        description=f"the keys to set ({METADATA_RULES}); a key set to an empty string is removed; keys not given "
                    f"are kept. The result holds at most {METADATA_KEYS} keys")


class EndpointUpdate(Body):
    webhook_url: str | None = Field(default=None, max_length=2048)
    webhook_enabled: bool | None = None


TIME = "ISO 8601; naive times are UTC; a UTC offset beyond ±15:59 is refused"


class RecoverRequest(Body):
    since: str = Field(description=f"failed deliveries created at or after this time ({TIME})")
    until: str | None = Field(default=None, description=f"and at or before this time ({TIME})")


class SignIn(Body):
    api_key: str = Field(min_length=1, max_length=255)
    api_secret: str = Field(min_length=1, max_length=255)


class RotateApiSecret(Body):
    """The dashboard's rotation of the API secret."""

    grace: int = Field(default=0, ge=0, le=30 * 86400,
                       description="seconds the current secret keeps working beside the new one (0: refused now)")


ENDPOINT_EVENTS = "event types (see GET /api/v1/webhook_endpoints' description), or [\"*\"] for every event"


class WebhookEndpointCreate(Body):
    url: str = Field(min_length=1, max_length=2048, description="https URL (http allowed on loopback under dev)")
    enabled_events: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=100,
                                                                       description=ENDPOINT_EVENTS)
    description: str | None = Field(default=None, max_length=500)
    disabled: bool = False


class WebhookEndpointUpdate(Body):
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    enabled_events: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, min_length=1,
                                                                              max_length=100)
    description: str | None = Field(default=None, max_length=500)
    disabled: bool | None = Field(default=None, description="true stops deliveries to it; false enables it again "
                                                            "(also after paygate disabled it for a 410 Gone)")
