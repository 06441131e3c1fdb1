"""The values a held-out note is made of, drawn by ``Gen`` from one ``random.Random``.

``Gen`` makes names, resident IDs (valid or with a mistyped check digit), mobiles, cards,
e-mails, plates, SSNs and addresses, styled as people write them (full-width, spaced,
dashed, with a zero-width character), and the non-personal numbers and dates of the
distractors. The check digits they carry, and ``normalize``, with which the self-check
reads a labelled value, are here too. The word lists are in lexicon.py.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from bench.heldout.lexicon import (
    CARD_BINS,
    COMPOUND_SURNAMES,
    EMAIL_DOMAINS_EN,
    EMAIL_DOMAINS_ZH,
    EN_FIRST,
    EN_LAST,
    ESTATES,
    GIVEN,
    ID_REGIONS,
    MOBILE_PREFIXES,
    ODD_MOBILE_PREFIXES,
    PINYIN,
    PLATE_LETTERS,
    PLATE_PROVINCES,
    ROADS,
    RURAL,
    SURNAMES,
    URBAN,
    VILLAGE_NAMES,
)

T = TypeVar("T")

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
