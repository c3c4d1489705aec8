"""Constrained field types that the recipe and policy schemas share (pydantic).

Durations accept `30s`, `10m`, `2h` or a number of seconds; sizes `1MB`, `512k` or bytes
(see agentctl.units); numbers are strict (`"3"` is not 3, `true` is not 1).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, StrictFloat, StrictInt

from agentctl.units import parse_size, to_seconds

Duration = Annotated[float | None, BeforeValidator(to_seconds)]
ByteSize = Annotated[int, BeforeValidator(parse_size)]
PosInt = Annotated[StrictInt, Field(gt=0)]
PosFloat = Annotated[StrictFloat, Field(gt=0)]
NonNegFloat = Annotated[StrictFloat, Field(ge=0)]
