"""Held-out labelled notes for the free-text PII detector (see README.md in this folder).

Written from descriptions of real bank notes (CRM, call centre, complaints, loan officers),
by an author who did not read the recognizers. Do not tune recognizers against this set.

    python -m bench.heldout.generate --n 2000 --seed 20261205 -o heldout.jsonl

or, from code::

    from bench.heldout.generate import items
    rows = items(n_zh=1600, n_en=400, seed=20261205)

Each row: {"text", "lang": "zh"|"en", "entities": [{"start", "end", "type"[, "typo": true]}]}.
Offsets are character (code point) offsets into ``text``, end exclusive.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_SEED = 20261205
TYPES = (
    "person",
    "cn_resident_id",
    "cn_mobile",
    "bank_card",
    "email",
    "address",
    "vehicle_plate",
    "date_of_birth",
    "us_ssn",
)

# --------------------------------------------------------------------------- assembly


class Ent:
    """A labelled piece of a note."""

    __slots__ = ("value", "type", "typo")

    def __init__(self, value: str, type_: str, typo: bool = False) -> None:
        self.value = value
        self.type = type_
        self.typo = typo


Part = str | Ent


def assemble(parts: list[Part], lang: str) -> dict[str, Any]:
    text: list[str] = []
    ents: list[dict[str, Any]] = []
    pos = 0
    for p in parts:
        if isinstance(p, Ent):
            e: dict[str, Any] = {"start": pos, "end": pos + len(p.value), "type": p.type}
            if p.typo:
                e["typo"] = True
            ents.append(e)
            text.append(p.value)
            pos += len(p.value)
        else:
            text.append(p)
            pos += len(p)
    return {"text": "".join(text), "lang": lang, "entities": ents}


# --------------------------------------------------------------------------- checksums

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_complete(body: str) -> str:
    for c in "0123456789":
        if luhn_ok(body + c):
            return body + c
    raise AssertionError


_FW = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")
ZW = ("\u200b", "\u200c", "\u200d", "\ufeff")


def normalize(s: str) -> str:
    """What the self-check uses to read a labelled value: full-width to ASCII, separators out."""
    out = []
    for ch in s:
        o = ord(ch)
        if 0xFF01 <= o <= 0xFF5E:
            ch = chr(o - 0xFEE0)
        if ch in ZW or ch in " -\u00a0\u3000":
            continue
        out.append(ch)
    return "".join(out)


# --------------------------------------------------------------------------- vocabularies

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚"
    "卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "慕容", "皇甫", "令狐")
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国文斌宇浩凯俊峰波丹莉婷雪琳晨"
    "欣怡子涵梓轩一诺宇航思远佳琪雨桐志强海燕春梅秋菊德胜永红立新卫东晓东小龙家豪嘉欣雅琴淑珍秀兰"
)
EN_FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Betty",
    "Mark",
    "Margaret",
    "Oliver",
    "Amelia",
    "George",
    "Isla",
    "Harry",
    "Ava",
    "Jack",
    "Emily",
    "Noah",
    "Sophie",
    "Liam",
    "Grace",
    "Ethan",
    "Chloe",
    "Callum",
    "Niamh",
    "Declan",
    "Siobhan",
    "Priya",
    "Rahul",
    "Aisha",
    "Mohammed",
    "Wei",
    "Mei",
    "Kwame",
    "Olu",
    "Lucia",
    "Mateo",
]
EN_LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Evans",
    "Roberts",
    "Hughes",
    "Edwards",
    "Green",
    "Wood",
    "Turner",
    "Patel",
    "Khan",
    "O'Brien",
    "McDonald",
    "Fitzgerald",
    "Okafor",
    "Nguyen",
    "Kowalski",
    "Murphy",
    "Campbell",
    "Stewart",
    "Morrison",
    "Baker",
    "Cooper",
    "Ward",
    "Price",
    "Bennett",
    "Holmes",
]

# (province, city, [districts]); province "" for municipalities
URBAN = (
    ("北京市", "", ("朝阳区", "海淀区", "东城区", "西城区", "丰台区", "通州区")),
    ("上海市", "", ("浦东新区", "徐汇区", "静安区", "闵行区", "杨浦区")),
    ("天津市", "", ("和平区", "南开区", "河西区")),
    ("重庆市", "", ("渝中区", "江北区", "沙坪坝区", "九龙坡区")),
    ("广东省", "深圳市", ("南山区", "福田区", "宝安区", "龙岗区")),
    ("广东省", "广州市", ("天河区", "越秀区", "海珠区", "番禺区")),
    ("湖北省", "武汉市", ("洪山区", "江汉区", "武昌区", "江岸区")),
    ("四川省", "成都市", ("武侯区", "锦江区", "青羊区", "成华区", "双流区")),
    ("陕西省", "西安市", ("未央区", "雁塔区", "碑林区", "长安区")),
    ("浙江省", "杭州市", ("西湖区", "拱墅区", "上城区", "滨江区", "余杭区")),
    ("江苏省", "南京市", ("鼓楼区", "江宁区", "玄武区", "秦淮区")),
    ("江苏省", "苏州市", ("姑苏区", "吴中区", "工业园区")),
    ("河南省", "郑州市", ("金水区", "二七区", "中原区", "管城回族区")),
    ("山东省", "青岛市", ("市南区", "崂山区", "黄岛区")),
    ("湖南省", "长沙市", ("岳麓区", "雨花区", "芙蓉区", "开福区")),
    ("福建省", "厦门市", ("思明区", "湖里区", "集美区")),
    ("辽宁省", "沈阳市", ("和平区", "铁西区", "浑南区")),
    ("安徽省", "合肥市", ("蜀山区", "包河区", "庐阳区")),
    ("广西壮族自治区", "南宁市", ("青秀区", "西乡塘区")),
    ("新疆维吾尔自治区", "乌鲁木齐市", ("天山区", "沙依巴克区")),
)
RURAL = (
    ("河南省", "周口市", "郸城县", ("汲冢镇", "宁平镇", "胡集乡")),
    ("四川省", "南充市", "仪陇县", ("金城镇", "马鞍镇", "新政镇")),
    ("安徽省", "阜阳市", "临泉县", ("杨桥镇", "迎仙镇")),
    ("山东省", "菏泽市", "曹县", ("庄寨镇", "青菏镇")),
    ("湖南省", "邵阳市", "隆回县", ("桃洪镇", "六都寨镇")),
    ("江西省", "赣州市", "于都县", ("贡江镇", "罗坳镇")),
    ("湖北省", "黄冈市", "蕲春县", ("漕河镇", "横车镇")),
    ("河北省", "保定市", "涞源县", ("银坊镇", "走马驿镇")),
    ("贵州省", "毕节市", "大方县", ("羊场镇", "黄泥塘镇")),
    ("甘肃省", "天水市", "秦安县", ("兴国镇", "莲花镇")),
)
ROADS = [
    "建国路",
    "人民大道",
    "中山路",
    "解放大道",
    "长安街",
    "南京西路",
    "科技园南路",
    "天府大道",
    "文三路",
    "滨江路",
    "和平路",
    "东风路",
    "光华路",
    "幸福路",
    "青年路",
    "珞喻路",
    "雁塔北路",
    "金水路",
    "香港中路",
    "五一大道",
    "湖滨南路",
    "学府路",
    "朝阳北路",
    "建设二路",
    "新华街",
    "团结巷",
    "百花街",
    "前进路",
    "胜利东街",
    "友谊大街",
    "花园路",
    "延安西路",
    "黄河路",
]
ESTATES = [
    "阳光花园",
    "万科城",
    "保利中央公馆",
    "碧桂园",
    "翠苑小区",
    "绿地世纪城",
    "金地格林小镇",
    "华润二十四城",
    "龙湖春江郦城",
    "幸福里小区",
    "东湖名居",
    "恒大绿洲",
    "世纪新城",
    "丽水湾",
    "中海国际社区",
    "锦绣华庭",
    "融创玖樟台",
    "铁路新村",
    "纺织厂宿舍",
    "和谐家园",
    "金色家园",
    "怡景苑",
    "南湖小区",
    "富力城",
]
VILLAGE_NAMES = [
    "李家",
    "王庄",
    "新华",
    "红星",
    "张湾",
    "石桥",
    "大柳树",
    "前进",
    "东风",
    "杨营",
    "刘楼",
    "陈堡",
    "双河",
    "青山",
    "马坊",
]

BRANCHES = (
    "中国工商银行成都市支行",
    "中国建设银行武汉汉口支行",
    "招商银行深圳分行营业部",
    "中国农业银行周口郸城支行",
    "交通银行上海徐汇支行",
    "中国银行杭州西湖支行",
    "浦发银行南京分行",
    "兴业银行厦门湖里支行",
    "中信银行北京朝阳门支行",
    "平安银行广州天河支行",
    "民生银行西安高新支行",
    "邮储银行仪陇县支行",
)
CITIES = [
    "杭州市",
    "成都",
    "武汉市",
    "深圳",
    "上海",
    "广州市",
    "西安",
    "郑州市",
    "长沙",
    "重庆",
    "南京市",
    "青岛",
    "厦门",
    "沈阳",
    "合肥市",
    "乌鲁木齐",
    "河南省",
    "四川省",
    "浙江",
    "广东省",
    "湖北",
    "东北",
    "苏州",
]
COMPANIES = [
    "华为技术有限公司",
    "深圳市腾讯计算机系统有限公司",
    "武汉钢铁集团",
    "成都天府软件园有限公司",
    "杭州海康威视数字技术股份有限公司",
    "中建三局",
    "顺丰速运",
    "美团",
    "京东物流",
    "比亚迪股份有限公司",
    "王老吉大健康产业有限公司",
    "周大福珠宝",
    "李宁体育用品有限公司",
    "张裕葡萄酒",
    "高德软件",
    "河南双汇投资发展股份有限公司",
    "江南造船厂",
    "林业局下属林场",
    "曾氏五金加工厂",
]
PRODUCTS = [
    "金葵花理财",
    "薪金煲",
    "乐享贷",
    "闪电贷",
    "快e贷",
    "白金信用卡",
    "青春卡",
    "e招贷",
    "安居贷",
    "融e借",
    "房抵贷",
    "惠农贷",
    "大额存单",
    "周周利",
    "天天盈",
    "添利宝",
    "个人消费贷款",
    "经营快贷",
    "公积金贷款",
    "车主卡",
]
# surname-led words that are not names
ROLE_WORDS = (
    "申请人",
    "投保人",
    "借款人",
    "共同借款人",
    "担保人",
    "被保险人",
    "持卡人",
    "联系人",
    "代理人",
    "经办人",
)
COMMON_SURNAME_WORDS = (
    "曾经",
    "高兴",
    "江湖",
    "王牌",
    "周末",
    "何时",
    "林业",
    "曾留地址",
    "黄金",
    "马上",
    "白天",
    "金额",
    "方便",
    "程序",
    "高利贷",
    "许多",
    "万一",
    "钱款",
    "石油",
    "常年",
)

PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "145",
    "147",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "173",
    "175",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "184",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "193",
    "195",
    "198",
    "199",
]
# prefixes that look unallocated; used only after a context word
ODD_MOBILE_PREFIXES = (
    "140",
    "141",
    "142",
    "143",
    "144",
    "146",
    "154",
    "160",
    "164",
    "174",
    "179",
    "190",
    "194",
)
ID_REGIONS = [
    "110105",
    "110108",
    "310104",
    "310115",
    "440305",
    "440304",
    "440106",
    "420111",
    "420103",
    "510107",
    "510104",
    "610112",
    "610113",
    "330106",
    "330110",
    "320106",
    "320115",
    "410105",
    "410103",
    "370202",
    "430104",
    "350203",
    "210106",
    "340104",
    "450103",
    "650102",
    "411625",
    "511324",
    "341221",
    "371721",
    "430524",
    "360731",
    "421126",
    "130630",
    "520521",
    "620522",
]
CARD_BINS = (
    ("622202", 19),
    ("621700", 19),
    ("622848", 19),
    ("621226", 19),
    ("622588", 16),
    ("625965", 16),
    ("436742", 16),
    ("621483", 16),
    ("623668", 19),
    ("622260", 19),
    ("518710", 16),
    ("356833", 16),
    ("620058", 19),
    ("603367", 19),
    ("622908", 18),
    ("621792", 17),
)
EMAIL_DOMAINS_ZH = (
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "foxmail.com",
    "139.com",
    "outlook.com",
    "aliyun.com",
)
EMAIL_DOMAINS_EN = ("gmail.com", "outlook.com", "yahoo.co.uk", "hotmail.com", "icloud.com", "btinternet.com")
PINYIN = [
    "wang",
    "li",
    "zhang",
    "liu",
    "chen",
    "yang",
    "huang",
    "zhao",
    "wu",
    "zhou",
    "xu",
    "sun",
    "ma",
    "zhu",
    "hu",
    "guo",
    "he",
    "gao",
    "lin",
    "luo",
    "zheng",
    "liang",
    "xie",
    "tang",
    "han",
    "feng",
    "deng",
    "cao",
    "peng",
    "zeng",
    "xiao",
    "tian",
    "dong",
    "yuan",
    "pan",
    "jiang",
    "cai",
    "yu",
    "du",
    "ye",
    "cheng",
    "su",
    "wei",
]

# --------------------------------------------------------------------------- value makers


class Gen:
    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def pick(self, seq: Sequence[T]) -> T:
        return seq[self.r.randrange(len(seq))]

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    # names ---------------------------------------------------------------
    def zh_name(self) -> str:
        s = self.pick(COMPOUND_SURNAMES) if self.chance(0.04) else self.pick(SURNAMES)
        n = 1 if self.chance(0.35) else 2
        return s + "".join(self.pick(GIVEN) for _ in range(n))

    def en_name(self, full: bool | None = None) -> str:
        if full is None:
            full = self.chance(0.8)
        last = self.pick(EN_LAST)
        return f"{self.pick(EN_FIRST)} {last}" if full else last

    # identifiers ---------------------------------------------------------
    def birth(self) -> tuple[int, int, int]:
        y = self.r.randint(1948, 2005)
        m = self.r.randint(1, 12)
        d = self.r.randint(1, 28 if m == 2 else 30)
        return y, m, d

    def resident_id(self, typo: bool = False, birth: tuple[int, int, int] | None = None) -> str:
        y, m, d = birth or self.birth()
        body = f"{self.pick(ID_REGIONS)}{y:04d}{m:02d}{d:02d}{self.r.randint(1, 999):03d}"
        good = id_check_char(body)
        if not typo:
            return body + good
        return body + self.pick([c for c in "0123456789X" if c != good])

    def styled_id(self, value: str) -> str:
        k = self.r.random()
        if k < 0.12:
            return value.translate(_FW)
        if k < 0.2:
            return f"{value[:6]} {value[6:14]} {value[14:]}"
        if k < 0.27:
            i = self.r.randint(3, 15)
            return value[:i] + self.pick(ZW) + value[i:]
        if k < 0.32 and value.endswith("X"):
            return value[:-1] + "x"
        return value

    def mobile_digits(self, odd: bool = False) -> str:
        p = self.pick(ODD_MOBILE_PREFIXES if odd else MOBILE_PREFIXES)
        return p + "".join(str(self.r.randint(0, 9)) for _ in range(8))

    def styled_mobile(self, v: str) -> str:
        k = self.r.random()
        if k < 0.12:
            return v.translate(_FW)
        if k < 0.24:
            return f"{v[:3]} {v[3:7]} {v[7:]}"
        if k < 0.32:
            return f"{v[:3]}-{v[3:7]}-{v[7:]}"
        if k < 0.4:
            i = self.r.randint(2, 9)
            return v[:i] + self.pick(ZW) + v[i:]
        if k < 0.44:
            return f"{v[:3]} {v[3:7]} {v[7:]}".translate(_FW)
        return v

    def card(self, typo: bool = False) -> str:
        bin_, n = self.pick(CARD_BINS)
        body = bin_ + "".join(str(self.r.randint(0, 9)) for _ in range(n - len(bin_) - 1))
        full = luhn_complete(body)
        if typo:
            last = int(full[-1])
            full = full[:-1] + str((last + self.r.randint(1, 9)) % 10)
        return full

    def styled_card(self, v: str) -> str:
        k = self.r.random()
        if k < 0.3:
            return " ".join(v[i : i + 4] for i in range(0, len(v), 4))
        if k < 0.36:
            return v.translate(_FW)
        return v

    def email(self, lang: str) -> str:
        if lang == "zh":
            k = self.r.random()
            if k < 0.4:
                user = str(self.r.randint(10000, 3999999999))
                return f"{user}@qq.com"
            user = self.pick(PINYIN) + self.pick(["", ".", "_"]) + self.pick(PINYIN)
            if self.chance(0.6):
                user += str(self.r.randint(1, 2005))
            return f"{user}@{self.pick(EMAIL_DOMAINS_ZH)}"
        first, last = self.pick(EN_FIRST).lower(), self.pick(EN_LAST).lower().replace("'", "")
        user = self.pick(
            [f"{first}.{last}", f"{first[0]}{last}", f"{first}{self.r.randint(1, 99)}", f"{last}_{first}"]
        )
        dom = self.pick(EMAIL_DOMAINS_EN + ("ntlworld.com", "company.co.uk", "acme-logistics.com"))
        return f"{user}@{dom}"

    def plate(self) -> str:
        prov = self.pick(PLATE_PROVINCES)
        city = self.pick(PLATE_LETTERS)
        k = self.r.random()
        digits = "0123456789"
        if k < 0.55:  # ordinary: 5 alphanumerics, at most 2 letters
            chars = [self.pick(digits) for _ in range(5)]
            for _ in range(self.r.choice([0, 0, 1, 2])):
                chars[self.r.randrange(5)] = self.pick(PLATE_LETTERS)
            tail = "".join(chars)
        elif k < 0.85:  # new-energy small car: D/F + letter-or-digit + 4 digits
            tail = (
                self.pick("DF")
                + self.pick(PLATE_LETTERS + digits)
                + "".join(self.pick(digits) for _ in range(4))
            )
        else:  # new-energy large vehicle: 5 digits + D/F
            tail = "".join(self.pick(digits) for _ in range(5)) + self.pick("DF")
        sep = self.pick(["", "", "", "·", "·", " "])
        return f"{prov}{city}{sep}{tail}"

    def ssn(self) -> str:
        while True:
            a = self.r.randint(1, 899)
            if a != 666:
                break
        return f"{a:03d}-{self.r.randint(1, 99):02d}-{self.r.randint(1, 9999):04d}"

    # addresses -----------------------------------------------------------
    def _bldg(self) -> str:
        b = self.r.randint(1, 32)
        u = self.r.randint(1, 6)
        room = f"{self.r.randint(1, 33)}{self.r.randint(1, 6):02d}"
        k = self.r.random()
        if k < 0.35:
            return f"{b}栋{u}单元{room}室"
        if k < 0.55:
            return f"{b}号楼{u}单元{room}"
        if k < 0.7:
            return f"{self.pick('ABCDEFG')}座{room}室"
        if k < 0.82:
            return f"{b}幢{u}单元{room}号"
        if k < 0.9:
            return f"{b}-{u}-{room}"
        return f"{b}栋{room}房"

    def _road(self, shanghai: bool = False) -> str:
        r = self.pick(ROADS)
        n = self.r.randint(1, 1288)
        if shanghai and self.chance(0.5):
            return f"{r}{self.r.randint(1, 999)}弄{self.r.randint(1, 60)}号"
        return f"{r}{n}号"

    def zh_address(self) -> str:
        k = self.r.random()
        if k < 0.2:  # village
            prov, city, county, towns = self.pick(RURAL)
            head = ""
            if self.chance(0.5):
                head = prov + city
            elif self.chance(0.5):
                head = city
            grp = self.pick(
                [
                    f"{self.r.randint(1, 15)}组",
                    f"{'一二三四五六七八九'[self.r.randrange(9)]}组",
                    f"第{self.r.randint(1, 12)}村民小组",
                    f"{self.r.randint(1, 9)}队",
                ]
            )
            num = f"{self.r.randint(1, 199)}号" if self.chance(0.8) else ""
            village = self.pick(VILLAGE_NAMES) + "村"
            return f"{head}{county}{self.pick(towns)}{village}{grp}{num}"
        prov, city, dists = self.pick(URBAN)
        dist = self.pick(dists)
        sh = prov == "上海市"
        if k < 0.4:  # full
            pre = prov + city if self.chance(0.8) else city or prov
            tail = self._road(sh) + (self.pick(ESTATES) if self.chance(0.6) else "") + self._bldg()
            return pre + dist + tail
        if k < 0.55:  # from district (未央区人民大道945号阳光花园13栋4单元2604室)
            return dist + self._road(sh) + (self.pick(ESTATES) if self.chance(0.7) else "") + self._bldg()
        if k < 0.68:  # estate only
            return self.pick(ESTATES) + self._bldg()
        if k < 0.82:  # 院/号楼/室 (北京市朝阳区建国路88号院3号楼502室)
            pre = self.pick(["", prov + city + dist, (city or prov) + dist, dist])
            return (
                f"{pre}{self.pick(ROADS)}{self.r.randint(1, 300)}号院"
                f"{self.r.randint(1, 20)}号楼{self.r.randint(1, 28)}{self.r.randint(1, 4):02d}室"
            )
        if k < 0.92:  # street number only, with city
            return (city or prov) + (dist if self.chance(0.5) else "") + self._road(sh)
        # road + estate, no building
        return self.pick(["", (city or prov)]) + self._road(sh) + self.pick(ESTATES)

    def en_address(self) -> str:
        if self.chance(0.55):
            num = self.pick([str(self.r.randint(1, 240)), f"{self.r.randint(1, 240)}{self.pick('AB')}"])
            flat = self.pick(["", "", "", f"Flat {self.r.randint(1, 40)}, "])
            street = self.pick(
                [
                    "Baker Street",
                    "High Street",
                    "Station Road",
                    "Church Lane",
                    "Victoria Road",
                    "Mill Lane",
                    "Park Avenue",
                    "Kings Road",
                    "Queen's Drive",
                    "Albert Terrace",
                    "Oxford Road",
                    "Manor Close",
                    "Green Lane",
                    "Springfield Crescent",
                ]
            )
            town, pc = self.pick(
                [
                    ("London", "NW1 6XE"),
                    ("London", "SW1A 2AA"),
                    ("Manchester", "M1 4BT"),
                    ("Edinburgh", "EH8 9YL"),
                    ("Birmingham", "B15 2TT"),
                    ("Leeds", "LS6 3HN"),
                    ("Bristol", "BS8 1TH"),
                    ("Cardiff", "CF10 3AT"),
                    ("Glasgow", "G12 8QQ"),
                    ("Norwich", "NR4 7TJ"),
                ]
            )
            sep = self.pick([", ", ", ", " "])
            return f"{flat}{num} {street}, {town}{sep}{pc}"
        num = self.r.randint(10, 9899)
        street = self.pick(
            [
                "Maple Ave",
                "Oak Street",
                "Evergreen Terrace",
                "W 42nd St",
                "Sunset Blvd",
                "Elm Drive",
                "Pine Ridge Rd",
                "Lakeview Court",
                "Washington Ave",
                "Main St",
            ]
        )
        apt = self.pick(
            ["", "", f", Apt {self.r.randint(1, 30)}{self.pick('ABCD')}", f" #{self.r.randint(100, 999)}"]
        )
        city, st, z = self.pick(
            [
                ("Springfield", "IL", "62704"),
                ("Denver", "CO", "80203"),
                ("Austin", "TX", "78701"),
                ("Brooklyn", "NY", "11215"),
                ("Seattle", "WA", "98109"),
                ("Columbus", "OH", "43215"),
                ("San Jose", "CA", "95112"),
                ("Tampa", "FL", "33602"),
            ]
        )
        return f"{num} {street}{apt}, {city}, {st} {z}"

    # non-personal numbers ------------------------------------------------
    def date_zh(self, y0: int = 2019, y1: int = 2026) -> str:
        y, m, d = self.r.randint(y0, y1), self.r.randint(1, 12), self.r.randint(1, 28)
        return self.pick(
            [
                f"{y}年{m}月{d}日",
                f"{y}-{m:02d}-{d:02d}",
                f"{y}.{m}.{d}",
                f"{m}月{d}日",
                f"{y}/{m:02d}/{d:02d}",
            ]
        )

    def dob_zh(self) -> tuple[str, tuple[int, int, int]]:
        y, m, d = self.birth()
        return self.pick(
            [
                f"{y}年{m}月{d}日",
                f"{y}-{m:02d}-{d:02d}",
                f"{y}.{m:02d}.{d:02d}",
                f"{y}{m:02d}{d:02d}",
                f"{y}/{m}/{d}",
            ]
        ), (y, m, d)

    def amount_zh(self) -> str:
        return self.pick(
            [
                f"{self.r.randint(1, 999)},{self.r.randint(0, 999):03d}.{self.r.randint(0, 99):02d}元",
                f"{self.r.randint(1, 300)}万元",
                f"人民币{self.r.randint(1000, 900000)}元",
                f"{self.r.randint(1, 50)}.{self.r.randint(1, 9)}万",
                f"{self.r.randint(100, 99999)}元",
                f"¥{self.r.randint(100, 500000)}",
            ]
        )

    def ref_number(self) -> str:
        """Order/contract/policy/case numbers: not personal identifiers."""
        y = self.r.randint(2019, 2026)
        return self.pick(
            [
                f"HT{y}{self.r.randint(0, 99999999):08d}",
                f"JK-{y}-{self.r.randint(0, 999999):06d}",
                f"P{self.r.randint(10**15, 10**16 - 1)}",
                f"{y}{self.r.randint(1, 12):02d}{self.r.randint(1, 28):02d}{self.r.randint(0, 99999999):08d}",
                f"E{y}{self.r.randint(10**9, 10**10 - 1)}",
                f"TS{self.r.randint(10**7, 10**8 - 1)}",
                f"GD{y}{self.r.randint(0, 999999):06d}",
            ]
        )

    def staff_no(self) -> str:
        return self.pick(
            [
                f"{self.r.randint(10000, 99999)}",
                f"A{self.r.randint(1000, 99999)}",
                f"KF{self.r.randint(100, 9999)}",
            ]
        )

    def bad_long_number(self) -> str:
        """A 16-19 digit (or 18-char) number that fails its checksum and has no identifier context."""
        if self.chance(0.5):
            while True:
                n = str(self.r.randint(10**15, 10**19 - 1))
                if not luhn_ok(n):
                    return n
        # 18 digits that are not a plausible ID: impossible month, wrong check digit
        body = f"{self.r.randint(100000, 999999)}{self.r.randint(1950, 2020)}{self.r.randint(13, 99)}" + (
            f"{self.r.randint(0, 99):02d}{self.r.randint(0, 999):03d}"
        )
        good = id_check_char(body)
        return body + self.pick([c for c in "0123456789" if c != good])


# --------------------------------------------------------------------------- Chinese clauses

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


# --------------------------------------------------------------------------- English clauses


def en_date(g: Gen, y0: int, y1: int) -> str:
    y, m, d = g.r.randint(y0, y1), g.r.randint(1, 12), g.r.randint(1, 28)
    months = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ]
    return g.pick(
        [
            f"{d} {months[m - 1]} {y}",
            f"{months[m - 1]} {d}, {y}",
            f"{d:02d}/{m:02d}/{y}",
            f"{m:02d}/{d:02d}/{y}",
            f"{y}-{m:02d}-{d:02d}",
            f"{d} {months[m - 1][:3]} {y}",
        ]
    )


def _en_cust(g: Gen) -> list[Part]:
    n = g.en_name()
    full = " " in n
    title = g.pick(["Mr ", "Mrs ", "Ms ", "Dr ", "Mr. ", "Miss "]) if (not full or g.chance(0.3)) else ""
    return g.pick(
        [
            ["Customer ", title, Ent(n, "person")],
            ["Cust ", title, Ent(n, "person")],
            [title, Ent(n, "person")],
            ["Spoke to ", title, Ent(n, "person")],
            ["Call from ", title, Ent(n, "person")],
            ["Applicant ", title, Ent(n, "person")],
        ]
    )


def ec_info(g: Gen) -> list[Part]:
    k = g.r.randrange(9)
    if k == 0:
        v = Ent(g.en_address(), "address")
        return g.pick(
            [
                ["lives at ", v],
                ["new address ", v],
                ["address on file: ", v],
                ["moved to ", v],
                ["correspondence to ", v],
            ]
        )
    if k == 1:
        v = Ent(en_date(g, 1940, 2005), "date_of_birth")
        return g.pick(
            [["DOB ", v], ["DOB: ", v], ["date of birth ", v], ["D.O.B. ", v], ["born ", v], ["dob ", v]]
        )
    if k == 2:
        v = Ent(g.ssn(), "us_ssn")
        return g.pick(
            [
                ["SSN ", v],
                ["SSN: ", v],
                ["social security number ", v],
                ["SS# ", v],
                ["verified SSN ", v, " on file"],
            ]
        )
    if k == 3:
        v = Ent(g.email("en"), "email")
        return g.pick([["email ", v], ["e-mail: ", v], ["send statements to ", v], ["contact via ", v]])
    if k == 4:
        typo = g.chance(0.15)
        v = Ent(g.styled_card(g.card(typo)), "bank_card", typo)
        if typo:
            return [g.pick(["card number ", "card no. ", "Card: "]), v]
        return g.pick(
            [
                ["card number ", v],
                ["reported card ", v, " lost"],
                ["debit card ", v, " blocked"],
                ["card ", v],
            ]
        )
    if k == 5:
        n = Ent(g.en_name(True), "person")
        return g.pick(
            [
                ["joint applicant ", n],
                ["spouse ", n, " present on call"],
                ["handled by ", n],
                ["third party ", n, " (son) authorised"],
                ["POA held by ", n],
            ]
        )
    if k == 6:
        v = Ent(g.en_address(), "address")
        return [g.pick(["Cust confirmed address ", "Address verified: ", "Previous address "]), v]
    if k == 7:
        v = Ent(g.ssn(), "us_ssn")
        return ["last 4 of SSN did not match, read full number ", v]
    v = Ent(en_date(g, 1940, 2005), "date_of_birth")
    return ["ID&V passed (name, DOB ", v, ", postcode)"]


def ec_distractor(g: Gen) -> list[Part]:
    k = g.r.randrange(12)
    if k == 0:
        return [
            g.pick(["account opened at ", "visited ", "referred to "]),
            g.pick(
                [
                    "Barclays Leicester branch",
                    "our Canary Wharf branch",
                    "HSBC Birmingham New Street",
                    "the Chase branch in Denver",
                    "Lloyds Cardiff Queen Street",
                ]
            ),
        ]
    if k == 1:
        return [
            g.pick(["customer from ", "relocating to ", "works in "]),
            g.pick(["Manchester", "London", "Texas", "Ohio", "Glasgow", "Seattle"]),
        ]
    if k == 2:
        return [
            g.pick(["employer ", "works for "]),
            g.pick(
                [
                    "Acme Logistics Ltd",
                    "Tesco PLC",
                    "Walmart Inc.",
                    "NHS Lothian",
                    "Deloitte LLP",
                    "Smith & Wesson",
                ]
            ),
        ]
    if k == 3:
        return [
            g.pick(["case ref ", "complaint ref ", "loan agreement no. ", "policy ", "ticket #"]),
            g.pick(
                [
                    f"CMP-{g.r.randint(100000, 999999)}",
                    f"LA{g.r.randint(10**7, 10**8 - 1)}",
                    f"{g.r.randint(10**9, 10**10 - 1)}",
                ]
            ),
        ]
    if k == 4:
        return [g.pick(["agent ID ", "staff no. ", "colleague "]), g.staff_no()]
    if k == 5:
        return [
            g.pick(["balance ", "arrears of ", "refund of ", "requested limit "]),
            g.pick(
                [
                    f"£{g.r.randint(10, 9999):,}.{g.r.randint(0, 99):02d}",
                    f"${g.r.randint(100, 90000):,}",
                    f"GBP {g.r.randint(100, 5000)}",
                ]
            ),
        ]
    if k == 6:
        return [
            g.pick(["called on ", "payment promised by ", "statement dated ", "next review "]),
            en_date(g, 2023, 2026),
        ]
    if k == 7:
        return [
            g.pick(["sort code ", "account ending ", "card ending "]),
            g.pick(
                [
                    f"{g.r.randint(10, 99)}-{g.r.randint(10, 99)}-{g.r.randint(10, 99)}",
                    str(g.r.randint(1000, 9999)),
                ]
            ),
        ]
    if k == 8:
        return [
            g.pick(["product: ", "offered ", "declined "]),
            g.pick(
                [
                    "Platinum Cashback card",
                    "Fixed Rate ISA",
                    "Personal Loan 5yr",
                    "Premier Current Account",
                    "Balance Transfer offer",
                ]
            ),
        ]
    if k == 9:
        return [g.pick(["APR ", "rate "]), f"{g.r.randint(2, 30)}.{g.r.randint(0, 9)}%"]
    if k == 10:
        return [g.pick(["reference ", "txn id "]), g.bad_long_number()]
    return [
        g.pick(
            [
                "vulnerable customer flag reviewed",
                "cust happy with outcome",
                "escalated to complaints team",
                "FOS leaflet sent",
                "no further action",
                "Smith Street branch closed, redirected",
            ]
        )
    ]


def en_note(g: Gen) -> dict[str, Any]:
    parts: list[Part] = []
    if g.chance(0.3):
        parts.append(g.pick(["NOTE: ", "Call note - ", "Complaint: ", "KYC: ", "Underwriting: "]))
    clauses: list[list[Part]] = [_en_cust(g)] if g.chance(0.8) else []
    for _ in range(g.r.randint(0, 3)):
        clauses.append(ec_info(g))
    for _ in range(g.r.randint(0 if len(clauses) > 1 else 1, 2)):
        clauses.insert(g.r.randint(0, len(clauses)), ec_distractor(g))
    for i, c in enumerate(clauses):
        if i:
            parts.append(g.pick([", ", ". ", "; ", " - ", "\n", " / "]))
        parts.extend(c)
    if g.chance(0.6):
        parts.append(".")
    return assemble(parts, "en")


# --------------------------------------------------------------------------- API


def items(n_zh: int = 1600, n_en: int = 400, seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """The held-out set: ``n_zh`` Chinese notes then ``n_en`` English notes, deterministic for ``seed``."""
    g = Gen(random.Random(seed))
    return [zh_note(g) for _ in range(n_zh)] + [en_note(g) for _ in range(n_en)]


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    c: dict[str, int] = {}
    for r in rows:
        for e in r["entities"]:
            key = e["type"] + ("(typo)" if e.get("typo") else "")
            c[key] = c.get(key, 0) + 1
    return dict(sorted(c.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--n", type=int, default=2000, help="total items, 80%% Chinese / 20%% English (default 2000)"
    )
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("-o", "--output", default="-", help="JSONL path, or - for stdout")
    ap.add_argument("--stats", action="store_true", help="print entity counts to stderr")
    a = ap.parse_args(argv)
    n_en = a.n // 5
    rows = items(a.n - n_en, n_en, a.seed)
    out = sys.stdout if a.output == "-" else open(a.output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for r in rows:
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if a.stats:
        print(json.dumps(counts(rows), ensure_ascii=False), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
