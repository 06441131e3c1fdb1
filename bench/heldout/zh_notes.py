"""Chinese held-out notes: the clauses (customer references, identifiers, distractors) and the note.

CRM remarks, call-centre records, complaints, pre-loan visits and collection notes, drawn
in varied order with prefixes, mixed separators and closers (see README.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.heldout.lexicon import BRANCHES, CITIES, COMPANIES, PRODUCTS, ROLE_WORDS
from bench.heldout.parts import Ent, Part, assemble
from bench.heldout.values import Gen

ZhClause = Callable[[Gen], list[Part]]


def _cust_ref(g: Gen) -> list[Part]:
    """How a note names the customer."""
    name = Ent(g.zh_name(), "person")
    return g.pick(
        [
            ["客户", name],
            [name],
            ["客户：", name],
            ["借款人", name],
            ["申请人", name],
            ["持卡人", name],
            ["投保人", name],
            [name, "（客户）"],
            ["来电人", name],
            ["客户姓名:", name],
        ]
    )


def zc_call_open(g: Gen) -> list[Part]:
    d = g.date_zh()
    return g.pick(
        [
            [d, " ", *_cust_ref(g), "来电"],
            [*_cust_ref(g), "于", d, "致电我行客服热线95588"],
            ["来电号码", Ent(g.styled_mobile(g.mobile_digits()), "cn_mobile"), "，", *_cust_ref(g), "本人"],
            [*_cust_ref(g), "来电咨询", g.pick(PRODUCTS), "相关事宜"],
            ["回访", *_cust_ref(g), "，电话接通"],
            ["客户来电，自称", Ent(g.zh_name(), "person"), "，核实身份后受理"],
        ]
    )


def zc_id(g: Gen) -> list[Part]:
    typo = g.chance(0.18)
    v = Ent(g.styled_id(g.resident_id(typo=typo)), "cn_resident_id", typo)
    return g.pick(
        [
            ["身份证号", v],
            ["身份证号码：", v],
            ["证件号 ", v],
            ["身份证", v],
            ["证件号码:", v, "（已核验）"],
            ["提供身份证", v, "复印件"],
            ["ID:", v],
            ["身份证号为", v],
        ]
    )


def zc_mobile(g: Gen) -> list[Part]:
    odd = g.chance(0.2)
    v = Ent(g.styled_mobile(g.mobile_digits(odd)), "cn_mobile")
    ctx = [
        "手机",
        "手机号",
        "联系电话",
        "联系方式",
        "电话",
        "手机号码：",
        "预留手机",
        "新手机号",
        "联系电话:",
        "tel ",
    ]
    if odd:
        return [g.pick(ctx[:9]), v]
    return g.pick(
        [
            [g.pick(ctx), v],
            ["客户要求将预留手机号变更为", v],
            ["可拨打", v, "联系本人"],
            ["其妻", Ent(g.zh_name(), "person"), "电话", v],
            [
                "紧急联系人",
                Ent(g.zh_name(), "person"),
                "（",
                g.pick(["配偶", "父亲", "母亲", "同事", "朋友"]),
                "）",
                v,
            ],
            [v, "（本人）"],
        ]
    )


def zc_card(g: Gen) -> list[Part]:
    typo = g.chance(0.15)
    v = Ent(g.styled_card(g.card(typo)), "bank_card", typo)
    if typo:
        return [g.pick(["卡号", "卡号：", "银行卡号", "借记卡卡号"]), v]
    return g.pick(
        [
            ["卡号", v],
            ["名下借记卡", v, "被冻结"],
            ["还款卡", v],
            ["信用卡", v, "逾期", str(g.r.randint(3, 180)), "天"],
            ["客户称", v, "这张卡丢失，已挂失"],
            ["收款账户", v, "，开户行", g.pick(BRANCHES)],
            ["银行卡号:", v],
        ]
    )


def zc_email(g: Gen) -> list[Part]:
    v = Ent(g.email("zh"), "email")
    return g.pick(
        [
            ["邮箱", v],
            ["电子邮箱：", v],
            ["账单寄送邮箱改为", v],
            ["客户要求材料发至", v, "邮箱"],
            ["email:", v],
        ]
    )


def zc_address(g: Gen) -> list[Part]:
    v = Ent(g.zh_address(), "address")
    return g.pick(
        [
            ["现住址", v],
            ["居住地址：", v],
            ["户籍地址", v],
            ["家庭住址:", v],
            ["曾留地址", v],
            ["通讯地址变更为", v],
            ["客户住", v],
            ["卡片寄送至", v],
            ["上门核实地址为", v, "，与申请资料一致"],
            ["现居", v, "，自有住房"],
            ["租住在", v],
            ["地址：", v],
        ]
    )


def zc_plate(g: Gen) -> list[Part]:
    v = Ent(g.plate(), "vehicle_plate")
    return g.pick(
        [
            ["车牌号", v],
            ["名下车辆", v],
            ["抵押车辆车牌：", v],
            ["车牌", v, "，", g.pick(["大众朗逸", "比亚迪汉", "丰田卡罗拉", "特斯拉Model 3", "五菱宏光"])],
            ["客户驾驶", v, "到店"],
            ["车贷抵押物为", v, "小型轿车"],
            ["ETC绑定车辆", v],
        ]
    )


def zc_dob(g: Gen) -> list[Part]:
    s, _ = g.dob_zh()
    v = Ent(s, "date_of_birth")
    return g.pick([["出生日期：", v], ["出生日期", v], ["生日", v], ["出生于", v], ["出生年月日 ", v]])


def zc_name_extra(g: Gen) -> list[Part]:
    return g.pick(
        [
            ["共同借款人", Ent(g.zh_name(), "person"), "（配偶）"],
            ["担保人为其", g.pick(["哥哥", "父亲", "朋友", "同事"]), Ent(g.zh_name(), "person")],
            ["经办人：", Ent(g.zh_name(), "person")],
            ["客户经理", Ent(g.zh_name(), "person"), "跟进"],
            [
                "客户表示其",
                g.pick(["儿子", "女儿", "妻子", "丈夫"]),
                Ent(g.zh_name(), "person"),
                "可代为办理",
            ],
            ["转", Ent(g.zh_name(), "person"), "处理"],
            ["由", Ent(g.zh_name(), "person"), "代办，已提供授权书"],
        ]
    )


# distractor clauses: nothing labelled
def zc_distractor(g: Gen) -> list[Part]:
    k = g.r.randrange(22)
    if k == 0:
        return [g.pick(["开户行", "开户网点", "所属支行"]), g.pick(BRANCHES)]
    if k == 1:
        return [
            g.pick(["客户来自", "户籍在", "目前在", "客户称已搬到", "老家是"]),
            g.pick(CITIES),
            g.pick(["", "工作", "", "一带"]),
        ]
    if k == 2:
        return [g.pick(["工作单位", "任职于", "就职于", "单位："]), g.pick(COMPANIES)]
    if k == 3:
        return [
            g.pick(["合同编号", "订单号", "保单号", "借据号", "工单号", "投诉编号", "业务流水号"]),
            g.ref_number(),
        ]
    if k == 4:
        return [g.pick(["坐席工号", "工号", "员工编号", "柜员号"]), g.staff_no()]
    if k == 5:
        return [g.pick(["申请金额", "欠款", "授信额度", "本月应还", "逾期金额", "退款"]), g.amount_zh()]
    if k == 6:
        return [
            g.pick(["约定", "承诺", "预计", "计划"]),
            g.date_zh(2025, 2027),
            g.pick(["前还款", "到网点办理", "回电", "提交材料"]),
        ]
    if k == 7:
        return [
            g.pick(ROLE_WORDS),
            g.pick(["本人到场签字", "已签署授权书", "材料齐全", "未接听电话", "信息已核实"]),
        ]
    if k == 8:
        return [
            g.pick(
                [
                    "申请人曾经有两次逾期记录",
                    "借款人周末才方便接电话",
                    "投保人何时续保尚未确定",
                    "借款人一直从事林业",
                    "申请人马上到网点补签",
                    "持卡人万一无法按时还款需提前告知",
                    "借款人常年在外跑运输",
                    "担保人黄金首饰店经营正常",
                    "申请人高兴地表示会按时还款",
                    "借款人许多材料已过期",
                    "共同借款人白天在工地上班",
                    "联系人程序上需本人到场",
                ]
            )
        ]
    if k == 9:
        return [
            g.pick(
                [
                    "客户表示曾经在我行办理过贷款",
                    "客户很高兴地接受了方案",
                    "客户称周末不方便接听电话",
                    "客户询问何时能放款",
                    "客户从事林业工作多年",
                    "客户说自己闯荡江湖多年讲信用",
                    "推荐我行王牌产品",
                    "客户曾留地址已失效",
                    "许多材料需要补充",
                    "马上为客户转接",
                    "钱款已原路退回",
                    "白天上班不方便",
                    "常年在外地务工",
                    "万一逾期会影响征信",
                ]
            )
        ]
    if k == 10:
        return [g.pick(["推荐办理", "客户咨询", "已开通", "申请", "不需要"]), g.pick(PRODUCTS)]
    if k == 11:
        return [
            g.pick(["年化利率", "执行利率", "手续费率"]),
            f"{g.r.randint(2, 18)}.{g.r.randint(0, 99):02d}%",
        ]
    if k == 12:
        return [g.pick(["参考号", "交易流水", "编号", "批次号"]), g.bad_long_number()]
    if k == 13:
        return [
            g.pick(["客户表示已在", "投诉"]),
            g.pick(BRANCHES),
            g.pick(["办理", "服务态度差", "排队时间过长"]),
        ]
    if k == 14:
        return [
            g.pick(["客服热线", "请客户拨打", "服务电话"]),
            g.pick(["95588", "95533", "95555", "400-820-8888", "4006695599", "12378"]),
        ]
    if k == 15:
        return [g.pick(["贷款期限", "分期"]), f"{g.pick([3, 6, 12, 24, 36, 60])}期"]
    if k == 16:
        return [g.pick(["年收入约", "月收入", "月供"]), g.amount_zh()]
    if k == 17:
        return [
            g.pick(["已告知客户", "已向客户说明", "按"]),
            g.pick(["《个人信息保护法》", "征信查询规则", "提前还款违约金条款", "银保监会相关规定"]),
        ]
    if k == 18:
        return [
            f"第{g.r.randint(1, 5)}次",
            g.pick(["催收", "回访", "来电"]),
            "，",
            g.date_zh(),
            g.pick(["已发短信提醒", "无人接听", "客户挂断"]),
        ]
    if k == 19:
        return [g.pick(["放款至尾号", "卡号尾号", "手机尾号"]), str(g.r.randint(1000, 9999))]
    if k == 20:
        return [
            g.pick(["网点地址见", "业务在", "客户在"]),
            g.pick(CITIES),
            g.pick(["分行营业部办理", "的网点开户", "出差"]),
        ]
    return [
        g.pick(["征信报告", "流水", "房产证", "营业执照", "结婚证"]),
        g.pick(["已上传", "待补充", "有问题", "已核验"]),
    ]


ZH_INFO = (zc_id, zc_mobile, zc_card, zc_email, zc_address, zc_plate, zc_dob, zc_name_extra)
ZH_INFO_W = (14, 16, 10, 6, 18, 8, 6, 8)

ZH_CLOSERS = (
    "已记录",
    "请跟进",
    "客户情绪稳定",
    "客户对处理结果满意",
    "待上级审批",
    "已升级至投诉专席",
    "建议加强催收",
    "下次回访时间待定",
    "已提醒注意账户安全",
    "",
)


def zh_note(g: Gen) -> dict[str, Any]:
    parts: list[Part] = []
    style = g.r.randrange(5)
    prefix = g.pick(
        ["", "", "【来电记录】", "【投诉】", "备注：", "贷前调查：", "催收记录：", "CRM备注 ", "情况说明："]
    )
    if prefix:
        parts.append(prefix)
    clauses: list[list[Part]] = []
    if style != 4:
        clauses.append(zc_call_open(g) if g.chance(0.6) else _cust_ref(g))
    n_info = g.r.randint(0, 3)
    n_dis = g.r.randint(0, 3) if n_info else g.r.randint(1, 3)
    for _ in range(n_info):
        clauses.append(g.r.choices(ZH_INFO, weights=ZH_INFO_W)[0](g))
    for _ in range(n_dis):
        clauses.insert(g.r.randint(1 if clauses else 0, len(clauses)), zc_distractor(g))
    seps = ["，", "，", "，", "；", "。", " ", "、", "\n", ",", "  "]
    for i, c in enumerate(clauses):
        if i:
            parts.append(g.pick(seps))
        parts.extend(c)
    closer = g.pick(ZH_CLOSERS)
    if closer:
        parts.extend(["，" if g.chance(0.5) else "。", closer])
    if g.chance(0.7):
        parts.append("。")
    return assemble(parts, "zh")
