"""T/CECA-G maturity scoring: the configurable scheme (Table A.1 by default), the quantitative score
(Table A.2), the composite I = a1 × S_qual + a2 × S_quant (formula (2)) and the star rating (Table 22).

The scheme is ``cmsflow/carbon/data/maturity_scheme.yaml`` unless config ``MATURITY_SCHEME`` names
another file of the same shape; it is checked on load (points of items add up to their indicator,
indicators to 100, bands and stars well-formed), and a broken scheme stops start-up with its reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import yaml

from cmsflow.core.errors import ValidationError

DEFAULT_SCHEME = Path(__file__).parent / "data" / "maturity_scheme.yaml"


class SchemeError(Exception):
    """The scoring scheme file is inconsistent; the message says where."""


@dataclass(frozen=True)
class Item:
    code: str
    text: str
    points: Decimal
    parent: str  # second-level indicator code


@dataclass
class Scheme:
    code: str
    title: str
    raw: dict

    @property
    def indicators(self) -> list[dict]:
        return self.raw["qualitative"]["indicators"]

    def items(self) -> dict[str, Item]:
        return {it["code"]: Item(it["code"], it["text"], Decimal(str(it["points"])), child["code"])
                for ind in self.indicators for child in ind["children"] for it in child["items"]}

    @property
    def weights(self) -> tuple[Decimal, Decimal]:
        w = self.raw["weights"]
        return Decimal(str(w["qualitative"])), Decimal(str(w["quantitative"]))


def _check(raw: dict) -> None:
    _check_points(raw)
    for method in raw["quantitative"]["methods"].values():
        if method["bands"][-1]["max_ratio"] is not None:
            raise SchemeError("定量评分档位的最后一档必须不设上限（max_ratio: null）")
    mins = [s["min"] for s in raw["stars"]]
    if mins != sorted(mins, reverse=True) or mins[-1] != 0:
        raise SchemeError("星级档位须按最低分从高到低排列，最后一档最低分为 0")


def _check_points(raw: dict) -> None:
    total = Decimal(0)
    codes = set()
    for ind in raw["qualitative"]["indicators"]:
        children = sum(Decimal(str(c["points"])) for c in ind["children"])
        if children != Decimal(str(ind["points"])):
            raise SchemeError(f"{ind['code']}: 二级指标分值之和 {children} ≠ {ind['points']}")
        for child in ind["children"]:
            items = sum(Decimal(str(i["points"])) for i in child["items"])
            if items != Decimal(str(child["points"])):
                raise SchemeError(f"{child['code']}: 评分项分值之和 {items} ≠ {child['points']}")
            for code in [child["code"], *(i["code"] for i in child["items"])]:
                if code in codes:
                    raise SchemeError(f"代码重复：{code}")
                codes.add(code)
        total += Decimal(str(ind["points"]))
    if total != 100:
        raise SchemeError(f"定性评价总分为 {total}，应为 100")


@lru_cache(maxsize=4)
def load_scheme(path: str | None = None) -> Scheme:
    """The scheme at ``path`` (default: the Table A.1 scheme); raises SchemeError naming what is wrong."""
    raw = yaml.safe_load(Path(path or DEFAULT_SCHEME).read_text(encoding="utf-8"))
    try:
        _check(raw)
    except (KeyError, TypeError) as exc:
        raise SchemeError(f"评分方案格式错误：缺少 {exc}") from exc
    return Scheme(raw["code"], raw["title"], raw)


def qualitative_total(scheme: Scheme, scores: dict[str, Decimal]) -> Decimal:
    """S_qual = Σ item scores; ValidationError for an unknown item or a score outside 0…item points."""
    items = scheme.items()
    bad = {}
    for code, score in scores.items():
        if code not in items:
            bad[code] = "未知的评分项"
        elif not Decimal(0) <= Decimal(score) <= items[code].points:
            bad[code] = f"得分须在 0–{items[code].points} 之间"
    if bad:
        raise ValidationError("评分无效：" + "；".join(f"{k} {v}" for k, v in bad.items()), code="invalid_scores",
                              details={"fields": bad})
    return sum((Decimal(v) for v in scores.values()), Decimal(0))


def quantitative_score(scheme: Scheme, intensity: Decimal, *, advanced: Decimal | None = None,
                       best_previous: Decimal | None = None) -> tuple[Decimal, str, Decimal]:
    """Table A.2: ratio C / V against the industry advanced value when set, else C / best previous year.

    Returns (score, method key, ratio). Raises ValidationError when neither reference is given or a
    reference is not positive.
    """
    method, reference = ("industry_advanced", advanced) if advanced is not None else ("historical", best_previous)
    if reference is None or Decimal(reference) <= 0:
        raise ValidationError("定量评价需要行业先进值或历史最优年度强度（大于 0）", code="reference_required",
                              details={"fields": {"industry_advanced": "必填其一", "best_previous": "必填其一"}})
    ratio = Decimal(intensity) / Decimal(reference)
    for band in scheme.raw["quantitative"]["methods"][method]["bands"]:
        if band["max_ratio"] is None or ratio <= Decimal(str(band["max_ratio"])):
            return Decimal(str(band["score"])), method, ratio
    raise AssertionError("unreachable: the last band has no upper limit")


def composite(scheme: Scheme, s_qual: Decimal, s_quant: Decimal) -> Decimal:
    """I = a1 × S_qual + a2 × S_quant (formula (2)), to 2 decimal places."""
    a1, a2 = scheme.weights
    return (a1 * Decimal(s_qual) + a2 * Decimal(s_quant)).quantize(Decimal("0.01"))


def rating(scheme: Scheme, score: Decimal) -> dict:
    """The star band of Table 22 for a composite score: ``{"rating", "label", "min"}``."""
    for band in scheme.raw["stars"]:
        if Decimal(score) >= Decimal(str(band["min"])):
            return band
    return scheme.raw["stars"][-1]
