"""Units of activity data and factors, checked and converted with pint (never by hand-written factors).

Magnitudes are Decimals (``non_int_type=Decimal``) so stored values keep their precision. Tonnes of
carbon, CO2 and CO2e are masses (``tC``, ``tCO2``, ``tCO2e``); the carbon → CO2 ratio 44/12 is part of
the combustion formula (GB/T 32150-2015), not of the units.
"""
from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

import pint

from cmsflow.core.errors import ValidationError

# What an emission source's activity data may be measured in, by accounting method.
METHOD_DIMENSIONS = {
    "combustion": ("[mass]", "[length] ** 3", "[energy]"),  # fuel: t, m³ (gas), or already as heat
    "process": ("[mass]",),  # material / product, e.g. clinker t
    "electricity": ("[energy]",), "exported_electricity": ("[energy]",),
    "heat": ("[energy]",), "exported_heat": ("[energy]",),
}


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    ureg = pint.UnitRegistry(non_int_type=Decimal)
    for name in ("tC", "tCO2", "tCO2e", "tCH4", "tN2O"):
        ureg.define(f"{name} = metric_ton")
    ureg.define("tce = 29.3076 * gigajoule")  # tonne of coal equivalent (GB/T 2589)
    return ureg


def quantity(value, unit: str):
    """``value`` (Decimal-able) in ``unit``; raises ValidationError naming the unit when pint cannot parse it."""
    try:
        return registry().Quantity(Decimal(str(value)), unit or "dimensionless")
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError, ValueError,
            TypeError, AssertionError) as exc:
        raise ValidationError(f"无法识别的单位「{unit}」", code="invalid_unit",
                              details={"fields": {"unit": f"无法识别的单位「{unit}」"}}) from exc


def check_unit(unit: str, method: str) -> None:
    """Refuse a unit whose dimension does not fit the method (e.g. MWh for a fuel in tonnes is fine only
    as heat; kg for electricity is not). Raises ValidationError ``unit_mismatch``."""
    q = quantity(1, unit)
    allowed = METHOD_DIMENSIONS[method]
    if not any(q.check(dim) for dim in allowed):
        raise ValidationError(f"单位「{unit}」不适用于此排放源（应为{'、'.join(allowed)}）", code="unit_mismatch",
                              details={"fields": {"unit": "单位与排放源的活动数据类型不符"}})


def convert(value, unit: str, target: str) -> Decimal:
    """``value unit`` expressed in ``target``; ValidationError when the dimensions differ."""
    try:
        return Decimal(quantity(value, unit).to(target).magnitude)
    except pint.errors.DimensionalityError as exc:
        raise ValidationError(f"「{unit}」不能换算为「{target}」", code="unit_mismatch") from exc
