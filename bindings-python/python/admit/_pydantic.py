"""pydantic support for :class:`admit.Principal` (imported by pydantic, through
``Principal.__get_pydantic_core_schema__``, only when a model uses the type).

A principal is made by a decision, never from input: as a field it accepts a
``Principal`` object and nothing else, and it serializes as ``Principal.to_dict()``
(``id``, ``authenticator``, ``kind``, ``roles``, ``scopes``, ``claims``). The JSON
schema (OpenAPI) is that dict's shape.
"""

from __future__ import annotations

from typing import Any, Dict


def _shape() -> Any:
    from pydantic_core import core_schema as cs

    def field(schema: Any) -> Any:
        return cs.typed_dict_field(schema, required=True)

    return cs.typed_dict_schema(
        {
            "id": field(cs.str_schema()),
            "authenticator": field(cs.str_schema()),
            "kind": field(cs.str_schema()),
            "roles": field(cs.list_schema(cs.str_schema())),
            "scopes": field(cs.list_schema(cs.str_schema())),
            "claims": field(cs.nullable_schema(cs.dict_schema(cs.str_schema(), cs.any_schema()))),
        },
        ref="admit.Principal",
    )


def _from_input(value: Any) -> Any:
    raise ValueError("an admit.Principal comes from a decision, not from input")


def _to_dict(principal: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = principal.to_dict()
    return out


def principal_core_schema(cls: Any, source: Any, handler: Any) -> Any:
    """The core schema of ``cls`` (``admit.Principal``)."""
    from pydantic_core import core_schema as cs

    shape = _shape()
    return cs.json_or_python_schema(
        # From JSON there is no Principal to make; the shape is what the schema shows.
        json_schema=cs.chain_schema([shape, cs.no_info_plain_validator_function(_from_input)]),
        python_schema=cs.is_instance_schema(cls),
        serialization=cs.plain_serializer_function_ser_schema(_to_dict, return_schema=shape, when_used="always"),
    )
