"""How well and how fast ``anonymize.text`` finds PII in free text.

Generates a labelled set of synthetic CRM notes and complaints (Faker
``zh_CN``, fixed seed) from templates that the tests do not use, with
distractors that must not be flagged (order and transaction numbers, amounts,
dates, numbers failing their check digit, addresses, company names), runs
:func:`anonymize.text.analyze` on each text in one process, and prints
precision, recall and F1 per field type (a detection counts only with the
exact type and span) and texts per second. Building the engine (spaCy, jieba's
dictionary) is done before the clock starts.

    .venv/bin/python bench/detect.py [--texts 3000] [--english 300] [--seed 7] [--show-errors 20]
        [--heldout 2000] [--baseline-ref main]

``--heldout N`` also scores the independent held-out set (bench/heldout, N notes) per type, beside
stock Presidio on its English notes and, with ``--baseline-ref``, the detector at that git ref, in
the same run (see bench/heldout_score.py).

Goals (issue 6): recall >= 0.99 with precision >= 0.98 on resident IDs,
mobiles and bank cards; F1 >= 0.90 on Chinese person names; >= 300 texts/s.
"""

from __future__ import annotations

import argparse
import random
import re
import string
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from faker import Faker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anonymize.text import analyze, get_engine  # noqa: E402
from fieldtypes.checksums import gb11643_check, gb32100_check, luhn_check  # noqa: E402

# Given-name characters for names Faker's short list (131 given names) would not produce.
GIVEN_CHARS = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红娥玲芬燕彩春菊凤洁梅琳素云莲真环雪荣爱"
    "妹香月莺媛瑞凡佳嘉琼勤珍贞莉娣叶璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓仪荷丹蓉眉君"
    "琴蕊薇菁梦岚苑婕馨琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹凝晓欢霄枫芸菲寒伊亚"
    "宜可舒影荔思飞彬富顺信子昌成康星光天达安岩中茂进林有坚和彪博诚先敬震振壮会群豪心邦承乐绍功松"
    "善厚庆民友裕河哲江浩亮政谦亨奇固之轮翰朗伯宏言若鸣朋斌梁栋维启克伦翔旭鹏泽晨辰士以建家致树炎"
    "德行时泰盛雄琛钧冠策腾楠榕风航弘"
)
CARD_BINS = (
    "622202",
    "622848",
    "621700",
    "622588",
    "621483",
    "622609",
    "620522",
    "625965",
    "436742",
    "552599",
)
UNIONPAY_WEIGHT = 0.85


@dataclass
class Sample:
    text: str
    spans: set[tuple[str, int, int]] = field(default_factory=set)


class Values:
    """Random values, valid and deliberately invalid, from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        Faker.seed(seed)
        self.faker = Faker("zh_CN")
        from faker.providers.person.zh_CN import Provider as Person

        self.surnames = list(Person.last_names)
        self.surname_weights = list(Person.last_names.values())

    # ---- personal data -------------------------------------------------
    def name(self) -> str:
        if self.rng.random() < 0.5:
            return self.faker.name()
        surname = self.rng.choices(self.surnames, self.surname_weights)[0]
        length = 1 if self.rng.random() < 0.25 else 2
        return surname + "".join(self.rng.choice(GIVEN_CHARS) for _ in range(length))

    def resident_id(self) -> str:
        value = self.faker.ssn()
        if self.rng.random() < 0.05:
            value = f"{value[:6]} {value[6:14]} {value[14:]}"
        if self.rng.random() < 0.1:
            value = value.lower()
        return value

    def mobile(self) -> str:
        number = self.rng.choice(["13", "15", "18", "17", "19", "16"]) + "".join(
            self.rng.choice(string.digits) for _ in range(9)
        )
        if number.startswith("16"):
            number = "166" + number[3:]
        if number.startswith(("154", "174", "179", "194")):
            number = "139" + number[3:]
        style = self.rng.random()
        if style < 0.6:
            return number
        if style < 0.75:
            return f"{number[:3]}-{number[3:7]}-{number[7:]}"
        if style < 0.85:
            return f"{number[:3]} {number[3:7]} {number[7:]}"
        if style < 0.95:
            return "+86 " + number
        return "+86-" + number

    def bank_card(self) -> str:
        if self.rng.random() < UNIONPAY_WEIGHT:
            bin_ = self.rng.choice(CARD_BINS[:8])
            length = self.rng.choice([16, 19, 19, 18, 17])
        else:
            bin_ = self.rng.choice(CARD_BINS[8:])
            length = 16
        body = bin_ + "".join(self.rng.choice(string.digits) for _ in range(length - len(bin_) - 1))
        number = body + luhn_check(body)
        if self.rng.random() < 0.3:
            return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        return number

    def email(self) -> str:
        return self.faker.email() if self.rng.random() < 0.5 else self.faker.free_email()

    def landline(self) -> str:
        if self.rng.random() < 0.4:
            area = self.rng.choice(["010", "021", "020", "022", "023", "025", "027", "028", "029"])
            local = self.rng.choice("2345678") + "".join(self.rng.choice(string.digits) for _ in range(7))
        else:
            area = self.rng.choice(["0571", "0755", "0512", "0531", "0371", "0591", "0731", "0851"])
            size = self.rng.choice([7, 8])
            local = self.rng.choice("2345678") + "".join(
                self.rng.choice(string.digits) for _ in range(size - 1)
            )
        return f"({area}){local}" if self.rng.random() < 0.2 else f"{area}-{local}"

    def uscc(self) -> str:
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        body = (
            self.rng.choice("9159")
            + self.rng.choice("123")
            + self.faker.ssn()[:6]
            + self.rng.choice(["MA", "L1", "07", "10", "X0"])
            + "".join(self.rng.choice(alphabet) for _ in range(7))
        )
        return body + gb32100_check(body)

    def passport(self) -> str:
        digits = "".join(self.rng.choice(string.digits) for _ in range(7))
        roll = self.rng.random()
        if roll < 0.6:
            return "E" + self.rng.choice(string.digits) + digits
        if roll < 0.85:
            return "E" + self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + digits
        return "G" + self.rng.choice(string.digits) + digits

    def permit(self) -> str:
        digits = "".join(self.rng.choice(string.digits) for _ in range(7))
        return (
            "C"
            + (self.rng.choice(string.digits) if self.rng.random() < 0.6 else self.rng.choice("ABDEFGH"))
            + digits
        )

    # ---- distractors: must not be flagged ------------------------------
    def order_no(self) -> str:
        length = self.rng.choice([16, 18, 19, 20])
        return "".join(self.rng.choice(string.digits) for _ in range(length))

    def txn_id(self) -> str:
        roll = self.rng.random()
        digits = "".join(self.rng.choice(string.digits) for _ in range(self.rng.choice([16, 18, 19])))
        if roll < 0.4:
            return "TXN" + digits
        if roll < 0.7:
            return "T-" + digits
        return f"{self.faker.date_between('-2y', 'today'):%Y%m%d}{digits[:10]}"

    def amount(self) -> str:
        value = self.rng.randint(1, 9_999_999) / 100
        return self.rng.choice(
            [f"¥{value:,.2f}", f"{int(value)}元", f"{value:.2f}元", f"人民币{int(value)}元"]
        )

    def date(self) -> str:
        day = self.faker.date_between("-3y", "+1y")
        return self.rng.choice(
            [f"{day:%Y-%m-%d}", f"{day.year}年{day.month}月{day.day}日", f"{day:%Y/%m/%d}"]
        )

    def bad_id(self) -> str:
        value = self.faker.ssn()
        wrong = self.rng.choice([c for c in "0123456789X" if c != gb11643_check(value[:17])])
        return value[:17] + wrong

    def bad_card(self) -> str:
        body = self.rng.choice(CARD_BINS) + "".join(self.rng.choice(string.digits) for _ in range(9))
        wrong = str((int(luhn_check(body)) + self.rng.randint(1, 9)) % 10)
        return body + wrong

    def bad_mobile(self) -> str:
        return "1" + self.rng.choice("012") + "".join(self.rng.choice(string.digits) for _ in range(9))

    def address(self) -> str:
        return self.faker.address().split(" ")[0]

    def company(self) -> str:
        return self.faker.company()

    def branch(self) -> str:
        return self.faker.city() + self.rng.choice(["分行", "支行", "营业部"])

    def product(self) -> str:
        return self.rng.choice(
            ["薪金宝", "安心理财30天", "金钻信用卡", "白金卡", "消费贷", "经营贷", "稳健增利一号"]
        )

    def month(self) -> str:
        return str(self.rng.randint(1, 12))


# Slots whose value is labelled with a field type; every other slot is a distractor.
LABELLED = {
    "name": "name",
    "name2": "name",
    "id": "cn_resident_id",
    "mobile": "cn_mobile",
    "card": "bank_card",
    "email": "email",
    "landline": "cn_landline",
    "uscc": "cn_uscc",
    "passport": "passport",
    "permit": "cn_hk_macau_permit",
}
GENERATORS: dict[str, str] = {
    "name": "name",
    "name2": "name",
    "id": "resident_id",
    "mobile": "mobile",
    "card": "bank_card",
    "email": "email",
    "landline": "landline",
    "uscc": "uscc",
    "passport": "passport",
    "permit": "permit",
    "order": "order_no",
    "txn": "txn_id",
    "amount": "amount",
    "date": "date",
    "bad_id": "bad_id",
    "bad_card": "bad_card",
    "bad_mobile": "bad_mobile",
    "address": "address",
    "company": "company",
    "branch": "branch",
    "product": "product",
    "month": "month",
}

# CRM notes, complaints and call summaries. Different from the tests' sentences.
ZH_TEMPLATES = (
    "{date}接到{name}来电，称其尾号为{card}的借记卡被盗刷{amount}，已指导挂失。",
    "{name}于{date}在{branch}办理开户，预留手机{mobile}，证件号码{id}。",
    "回访记录：客户{name}对{product}收益不满，要求赎回，本金{amount}。",
    "{name}（身份证号{id}）申请个人消费贷{amount}，工作单位{company}，单位电话{landline}。",
    "借款人{name}逾期{month}个月，欠款{amount}，联系电话{mobile}，已发催收函。",
    "客户反映订单号{order}扣款{amount}未到账，请核查。联系人{name}，电话{mobile}。",
    "交易流水号{txn}异常，涉及账户{card}，户名{name}。",
    "{company}（统一社会信用代码{uscc}）申请对公开户，法定代表人{name}，经办人{name2}。",
    "经办人{name2}核实：{name}女士的信用卡{card}已于{date}销户。",
    "{name}先生持护照{passport}办理外币兑换，金额{amount}。",
    "客户{name}出示往来港澳通行证{permit}，申请跨境汇款{amount}。",
    "请将对账单发送至{email}，收件人{name}，地址{address}。",
    "{name}称手机号{mobile}已停用，新号码为{mobile}，邮箱{email}。",
    "投诉内容：{date}通过网银转账{amount}失败，交易单号{order}，客户{name}要求解释。",
    "身份证{bad_id}校验未通过，请{name}重新提供证件。",
    "卡号{bad_card}无效，系统拒绝，客户经理{name2}已告知{name}。",
    "{name}、{name2}两位客户于{date}参加了{branch}的理财沙龙。",
    "配偶{name2}的身份证号为{id}，与主借款人{name}共同还款。",
    "今日走访{address}，见到{name}本人，核实收入情况，月收入约{amount}。",
    "{name}名下有{product}一笔，到期日{date}，到期金额{amount}。",
    "来电号码{landline}，自称{name}，要求查询卡号{card}的余额，身份核验未通过。",
    "客户经理{name2}推荐{name}办理{product}，客户暂未同意。",
    "{name}的紧急联系人为{name2}，电话{mobile}。",
    "备注：客户{name}不希望接到营销电话，请勿拨打{mobile}。",
    "{date}，{name}到{branch}修改预留手机号，原号码{bad_mobile}录入有误。",
    "根据{company}提供的代发工资名单，{name}月薪{amount}，工资卡{card}。",
    "我是{name}，我的卡{card}昨天在ATM取不出钱，你们怎么回事？电话{mobile}",
    "核查结果：付款人{name}，收款人{name2}，金额{amount}，流水号{txn}。",
    "{name}表示将于{date}前还清欠款{amount}。",
    "贷后检查：借款企业{company}经营正常，实际控制人{name}，联系方式{mobile}。",
    "电子邮件{email}退信，请联系{name}更新邮箱地址。",
    "系统于{date}自动扣收{amount}，订单{order}，状态成功。",
    "{branch}本月共受理投诉{month}件，其中理财类占比较高。",
    "产品{product}收益率调整，自{date}起生效，最低起购{amount}。",
    "大额交易报告：交易日期{date}，金额{amount}，交易编号{order}。",
    # pasted rows and bare values, without labels
    "{name} {mobile} {id}",
    "{name}/{mobile}/{card}",
    "{name}，{id}，{mobile}，{address}",
    "转{mobile}，或发{email}",
    "{card}（{name}）",
)
EN_TEMPLATES = (
    "Customer {en_name} called from {mobile} about card {card}; ID {id} verified.",
    "Please email the statement to {email}. Order {order} was refunded on {date}.",
    "{en_name} visited the branch with passport {passport} and asked for a wire of {amount}.",
    "Complaint from {en_name}: card {card} was charged twice (txn {txn}).",
)
EN_NAMES = (
    "John Smith", "Mary Johnson", "David Brown", "Sarah Miller", "Michael Davis", "Emily Wilson",
    "James Taylor", "Laura Anderson", "Robert Thomas", "Linda Martinez",
)  # fmt: skip

_SLOT = re.compile(r"\{(\w+)\}")


def fill(template: str, values: Values, extra: dict[str, Callable[[], str]] | None = None) -> Sample:
    sample = Sample("")
    parts: list[str] = []
    position = 0
    length = 0
    chosen: dict[str, str] = {}
    for match in _SLOT.finditer(template):
        literal = template[position : match.start()]
        parts.append(literal)
        length += len(literal)
        slot = match.group(1)
        if extra and slot in extra:
            value = extra[slot]()
        elif slot in ("name", "name2") and slot in chosen and values.rng.random() < 0.5:
            value = chosen[slot]
        else:
            value = getattr(values, GENERATORS[slot])()
        if slot == "name2":
            while value == chosen.get("name"):
                value = values.name()
        chosen.setdefault(slot, value)
        label = LABELLED.get(slot) or ("name" if slot == "en_name" else None)
        if label:
            sample.spans.add((label, length, length + len(value)))
        parts.append(value)
        length += len(value)
        position = match.end()
    parts.append(template[position:])
    sample.text = "".join(parts)
    return sample


def generate(count: int, english: int, seed: int) -> tuple[list[Sample], list[Sample]]:
    values = Values(seed)
    zh = [fill(values.rng.choice(ZH_TEMPLATES), values) for _ in range(count)]
    en_name = {"en_name": lambda: values.rng.choice(EN_NAMES)}
    en = [fill(values.rng.choice(EN_TEMPLATES), values, en_name) for _ in range(english)]
    return zh, en


def score(samples: list[Sample], language: str, show_errors: int) -> tuple[dict[str, Counter[str]], float]:
    counts: dict[str, Counter[str]] = {}
    errors: list[str] = []
    start = time.perf_counter()
    found_all = [analyze(sample.text, language) for sample in samples]
    elapsed = time.perf_counter() - start
    for sample, found in zip(samples, found_all, strict=True):
        predicted = {(e.type, e.start, e.end) for e in found}
        for kind, spans, verdict in (
            ("tp", predicted & sample.spans, None),
            ("fp", predicted - sample.spans, "FP"),
            ("fn", sample.spans - predicted, "FN"),
        ):
            for entity_type, s, e in spans:
                counts.setdefault(entity_type, Counter())[kind] += 1
                if verdict and len(errors) < show_errors:
                    errors.append(f"  {verdict} {entity_type} {sample.text[s:e]!r} in {sample.text}")
    for line in errors:
        print(line)
    return counts, len(samples) / elapsed


def report(title: str, counts: dict[str, Counter[str]], rate: float) -> None:
    print(f"\n{title}: {rate:.0f} texts/s")
    header = ("support", "TP", "FP", "FN", "precision", "recall", "F1")
    print(
        f"  {'field type':<20}"
        + "".join(f"{h:>{w}}" for h, w in zip(header, (8, 7, 6, 6, 11, 8, 8), strict=True))
    )
    for entity_type in sorted(counts):
        c = counts[entity_type]
        tp, fp, fn = c["tp"], c["fp"], c["fn"]
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        print(
            f"  {entity_type:<20}{tp + fn:>8}{tp:>7}{fp:>6}{fn:>6}{precision:>11.4f}{recall:>8.4f}{f1:>8.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=3000, help="Chinese texts (default 3000)")
    parser.add_argument("--english", type=int, default=300, help="English texts (default 300)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show-errors", type=int, default=0, help="print up to N errors per language")
    parser.add_argument("--heldout", type=int, default=0, help="also score N held-out notes (bench/heldout)")
    parser.add_argument("--baseline-ref", help="with --heldout: git ref of the before column (e.g. main)")
    args = parser.parse_args()

    zh, en = generate(args.texts, args.english, args.seed)
    started = time.perf_counter()
    get_engine()
    analyze("预热 warm-up 13800000000", "zh")
    analyze("warm-up John Smith", "en")
    print(f"engine built in {time.perf_counter() - started:.1f}s (not counted below)")
    counts, rate = score(zh, "zh", args.show_errors)
    report(f"Chinese, {len(zh)} texts, language=zh", counts, rate)
    if en:
        counts, rate = score(en, "en", args.show_errors)
        report(f"English, {len(en)} texts, language=en", counts, rate)
    if args.heldout:
        from bench import heldout_score

        heldout_score.report_all(args.heldout, heldout_score.DEFAULT_SEED, args.baseline_ref, presidio=True)


if __name__ == "__main__":
    main()
