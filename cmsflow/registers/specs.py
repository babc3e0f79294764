"""What each register holds: fields, types, choices and rules. Pages, API, import/export and search
are generated from these specs (one definition per register, no per-register boilerplate)."""
from __future__ import annotations

from dataclasses import dataclass, field

from cmsflow.registers import models as m


@dataclass
class FieldSpec:
    name: str
    label: str
    label_en: str
    type: str = "text"  # text | longtext | choice | date | int | decimal | bool | user | department
    required: bool = False
    choices: dict[str, str] | None = None
    min: int | None = None
    max: int | None = None
    filter: bool = False
    in_list: bool = False

    @property
    def column(self) -> str:
        return f"{self.name}_id" if self.type in ("user", "department") else self.name


@dataclass
class RegisterSpec:
    name: str
    title: str
    title_en: str
    model: type
    fields: list[FieldSpec]
    title_field: str
    default_clauses: list[str] = field(default_factory=list)
    derived: dict = field(default_factory=dict)  # name -> (label, fn(record) -> JSON-safe value)

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)


def risk_rating(row) -> str:
    """Likelihood × impact (1–25) with its band: ≥15 high 高, ≥8 medium 中, else low 低."""
    score = (row.likelihood or 0) * (row.impact or 0)
    band = "高" if score >= 15 else "中" if score >= 8 else "低"
    return f"{score}（{band}）"


def F(name, label, label_en, type="text", **kw) -> FieldSpec:  # noqa: A002 - mirrors the spec vocabulary
    return FieldSpec(name, label, label_en, type, **kw)


DEPT = F("department", "责任部门", "Department", "department", filter=True, in_list=True)
KIND_IE = {"internal": "内部", "external": "外部"}
FREQ = {"continuous": "连续", "daily": "每日", "monthly": "每月", "quarterly": "每季度", "semiannual": "每半年",
        "annual": "每年"}
# DB14/T 2970-2024 §6.3.2 a)–c): when the baseline must be adjusted.
BASELINE_ADJUSTMENT_REASONS = {
    "boundary_or_structure": "物理边界、能源结构、产品结构、原材料、工艺及设备设施发生明显变化",
    "sources_changed": "直接排放和间接排放源发生明显变化",
    "other": "其他情况",
}

SPECS: dict[str, RegisterSpec] = {s.name: s for s in [
    RegisterSpec("context_issue", "内外部问题", "Context issues", m.ContextIssue, [
        F("title", "问题", "Issue", required=True, in_list=True),
        F("kind", "内部/外部", "Internal/external", "choice", required=True, choices=KIND_IE, filter=True,
          in_list=True),
        F("category", "类别", "Category", "choice", required=True, filter=True, in_list=True, choices={
            "policy_law": "政策法规", "market": "市场", "technology": "技术", "natural": "自然环境",
            "resources": "资源能源", "organisation": "组织管理", "other": "其他"}),
        F("description", "描述", "Description", "longtext"),
        F("effect", "影响", "Effect", "choice", choices={"positive": "有利", "negative": "不利"}, in_list=True),
        F("review_date", "评审日期", "Review date", "date", in_list=True),
        DEPT], "title", ["DB44T1944:4.1"]),
    RegisterSpec("interested_party", "相关方及其需求", "Interested parties", m.InterestedParty, [
        F("name", "相关方", "Interested party", required=True, in_list=True),
        F("party_type", "类型", "Type", "choice", required=True, filter=True, in_list=True, choices={
            "government": "政府主管部门", "customer": "客户", "supplier": "供应商", "employee": "员工",
            "investor": "投资方", "community": "社区公众", "verifier": "核查机构", "other": "其他"}),
        F("requirements", "需求和期望", "Needs and expectations", "longtext", required=True),
        F("addressed", "纳入体系", "Addressed by the CEMS", "bool", filter=True, in_list=True),
        F("how_addressed", "应对方式", "How addressed", "longtext"),
        DEPT, F("review_date", "评审日期", "Review date", "date")], "name", ["DB44T1944:4.2"]),
    RegisterSpec("risk", "风险和机遇", "Risks and opportunities", m.Risk, [
        F("title", "风险/机遇", "Risk / opportunity", required=True, in_list=True),
        F("kind", "类型", "Kind", "choice", required=True, filter=True, in_list=True,
          choices={"risk": "风险", "opportunity": "机遇"}),
        F("category", "类别（DB44/T 1944 A.2.1）", "Category", "choice", required=True, filter=True, in_list=True,
          choices={"strategic": "战略", "operational": "运营", "financial": "财务", "market": "市场",
                   "legal": "法律"}),
        F("description", "描述", "Description", "longtext"),
        F("likelihood", "可能性（1–5）", "Likelihood (1–5)", "int", required=True, min=1, max=5, in_list=True),
        F("impact", "影响程度（1–5）", "Impact (1–5)", "int", required=True, min=1, max=5, in_list=True),
        F("treatment_action", "应对措施", "Treatment action", "longtext"),
        F("owner", "负责人", "Owner", "user", in_list=True),
        F("due_date", "完成期限", "Due date", "date", in_list=True),
        F("effectiveness_review", "有效性评价", "Effectiveness review", "longtext"),
        F("status", "状态", "Status", "choice", required=True, filter=True, in_list=True,
          choices={"open": "待处理", "in_progress": "实施中", "closed": "已关闭"}),
        DEPT], "title", ["DB44T1944:6.1"], derived={"rating": ("风险值（可能性×影响）", risk_rating)}),
    RegisterSpec("compliance_obligation", "合规义务", "Compliance obligations", m.ComplianceObligation, [
        F("title", "法律法规/标准/要求", "Law, regulation or requirement", required=True, in_list=True),
        F("obligation_type", "类型", "Type", "choice", required=True, filter=True, in_list=True, choices={
            "law": "法律", "regulation": "行政法规", "local_regulation": "地方性法规", "rule": "部门规章",
            "standard": "标准", "permit": "许可", "contract": "合同", "other": "其他"}),
        F("issuing_body", "发布机关", "Issuing body", in_list=True),
        F("article", "条文", "Article", in_list=True),
        F("requirement", "要求", "Requirement", "longtext", required=True),
        F("applicability", "适用性", "Applicability", "longtext"),
        F("department", "责任部门", "Department", "department", required=True, filter=True, in_list=True),
        F("evaluation_frequency", "评价频次", "Evaluation frequency", "choice", required=True, choices=FREQ,
          in_list=True),
        F("effective_date", "施行日期", "Effective date", "date")], "title", ["TCECAG:10.1.3"]),
    RegisterSpec("emission_source", "温室气体排放源", "GHG emission sources", m.EmissionSource, [
        F("name", "排放源", "Emission source", required=True, in_list=True),
        F("facility", "设施", "Facility", required=True, filter=True, in_list=True),
        F("source_category", "排放类别", "Source category", "choice", required=True, filter=True, in_list=True,
          choices={"fossil_fuel": "化石燃料燃烧", "process": "工业生产过程", "purchased_electricity": "外购电力",
                   "purchased_heat": "外购热力", "other": "其他"}),
        F("gases", "温室气体", "Gases", in_list=True),
        F("fuel_or_material", "燃料/物料", "Fuel or material"),
        F("monitoring_method", "监测方法", "Monitoring method", "longtext"),
        F("monitoring_frequency", "监测频次", "Monitoring frequency", "choice", choices=FREQ),
        F("instrument", "计量器具编号", "Instrument code"),
        F("key_source", "重点排放源", "Key source", "bool", filter=True, in_list=True),
        DEPT], "name", ["DB44T1944:6.2.2"]),
    RegisterSpec("instrument", "监测计量器具", "Measuring instruments", m.Instrument, [
        F("code", "器具编号", "Code", required=True, in_list=True),
        F("name", "名称", "Name", required=True, in_list=True),
        F("model", "型号规格", "Model"), F("location", "安装位置", "Location"),
        F("measured_quantity", "计量参数", "Measured quantity", in_list=True),
        F("accuracy_class", "准确度等级", "Accuracy class"), DEPT,
        F("calibration_interval_months", "检定/校准周期（月）", "Calibration interval (months)", "int", min=1, max=120),
        F("last_calibrated", "上次检定/校准", "Last calibrated", "date"),
        F("next_due", "下次到期", "Next due", "date", in_list=True),
        F("calibration_body", "检定/校准机构", "Calibration body"),
        F("certificate_no", "证书编号", "Certificate no."),
        F("status", "状态", "Status", "choice", required=True, filter=True, in_list=True,
          choices={"in_use": "在用", "standby": "备用", "retired": "停用"})], "code", ["TCECAG:8.2"]),
    RegisterSpec("objective", "目标和指标", "Objectives and targets", m.Objective, [
        F("title", "目标", "Objective", required=True, in_list=True),
        F("level", "层级", "Level", "choice", required=True, filter=True, in_list=True,
          choices={"organisation": "公司级", "department": "部门级", "process": "过程/设施级"}),
        F("parent", "上级目标", "Parent objective"),
        F("indicator", "指标", "Indicator", required=True, in_list=True),
        F("unit", "单位", "Unit", required=True, in_list=True),
        F("base_value", "基准值", "Base value", "decimal", in_list=True),
        F("target_value", "目标值", "Target value", "decimal", required=True, in_list=True),
        F("deadline", "完成期限", "Deadline", "date", required=True, in_list=True),
        F("action_plan", "实施方案（做什么）", "Action plan", "longtext"),
        F("resources", "所需资源", "Resources", "longtext"),
        F("department", "责任部门", "Responsible department", "department", required=True, filter=True,
          in_list=True),
        F("schedule", "进度安排", "Schedule", "longtext"),
        F("verification_method", "验证方法", "Verification method", "longtext"),
        F("status", "状态", "Status", "choice", required=True, filter=True, in_list=True, choices={
            "planned": "计划", "in_progress": "实施中", "achieved": "已实现", "not_achieved": "未实现"})],
        "title", ["DB44T1944:6.4"]),
    RegisterSpec("baseline", "碳排放基准", "Baseline", m.Baseline, [
        F("name", "名称", "Name", required=True, in_list=True),
        F("base_year", "基准年", "Base year", "int", required=True, min=1990, max=2100, in_list=True),
        F("emissions_tco2e", "排放量（tCO2e）", "Emissions (tCO2e)", "decimal", required=True, in_list=True),
        F("intensity", "排放强度", "Intensity", "decimal", in_list=True),
        F("intensity_unit", "强度单位", "Intensity unit", in_list=True),
        F("boundary", "边界", "Boundary", "longtext"),
        F("notes", "说明", "Notes", "longtext")], "name", ["DB44T1944:6.3"]),
    RegisterSpec("training", "培训与能力", "Training and competence", m.Training, [
        F("person", "人员", "Person", required=True, in_list=True), DEPT,
        F("topic", "培训内容", "Topic", required=True, in_list=True),
        F("date", "日期", "Date", "date", required=True, in_list=True),
        F("hours", "学时", "Hours", "decimal", in_list=True),
        F("provider", "培训机构/讲师", "Provider"),
        F("assessment", "考核结果", "Assessment", "choice", filter=True, in_list=True,
          choices={"pass": "合格", "fail": "不合格", "na": "不考核"}),
        F("evidence", "证据（证书号/文件）", "Evidence")], "topic", ["DB44T1944:7.2"]),
    RegisterSpec("communication", "信息交流", "Communication", m.Communication, [
        F("date", "日期", "Date", "date", required=True, in_list=True),
        F("direction", "内部/外部", "Internal/external", "choice", required=True, choices=KIND_IE, filter=True,
          in_list=True),
        F("party", "交流对象", "Party", required=True, in_list=True),
        F("topic", "主题", "Topic", required=True, in_list=True),
        F("channel", "方式", "Channel"),
        F("summary", "内容摘要", "Summary", "longtext"),
        F("decision", "结论/决定", "Decision", "longtext"), DEPT], "topic", ["DB44T1944:7.4"]),
]}


def spec(name: str) -> RegisterSpec:
    from cmsflow.core.errors import NotFound

    if name not in SPECS:
        raise NotFound(f"台账 {name} 不存在")
    return SPECS[name]
