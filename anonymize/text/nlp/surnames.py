"""Chinese surnames with their approximate share of the population.

Shares are rounded, in per cent, grouped in tiers by rank after the national
surname statistics of the 2020 census period: they only need to be right in
order of magnitude, because the name model compares them with word
frequencies. Variant forms that are registered as surnames in their own right
(萧 beside 肖, 阎 beside 闫) are listed separately.
"""

from __future__ import annotations

import math

_TIERS: tuple[tuple[float, str], ...] = (
    (7.1, "王李"),
    (6.7, "张"),
    (5.4, "刘"),
    (4.6, "陈"),
    (3.1, "杨"),
    (2.4, "黄赵"),
    (2.0, "吴周"),
    (1.4, "徐孙马朱"),
    (1.1, "胡郭何林高"),
    (0.9, "罗郑梁"),
    (0.65, "谢宋唐许韩冯邓曹彭曾肖"),
    (0.5, "田董袁潘于蒋蔡余杜叶程苏魏吕"),
    (0.4, "丁任沈姚卢姜崔钟谭陆汪范金石廖"),
    (0.3, "贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"),
    (0.2, "龙史陶黎贺顾毛郝龚邵万钱严赖覃洪武戴莫孔向汤萧"),
    (0.15, "常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘阎"),
    (
        0.08,
        "祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤"
        "阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗傅",
    ),
    (
        0.03,
        "瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐"
        "冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支"
        "卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸"
        "战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由",
    ),
)

COMPOUND_SURNAMES: tuple[str, ...] = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "令狐", "端木", "西门", "南宫", "独孤", "轩辕", "呼延", "申屠", "钟离", "淳于", "单于",
    "太史", "百里", "东郭", "公冶", "濮阳", "万俟", "闻人", "赫连", "澹台", "第五", "拓跋", "完颜",
)  # fmt: skip
_COMPOUND_SHARE = 0.005


def _build() -> dict[str, float]:
    shares: dict[str, float] = {}
    for share, chars in _TIERS:
        for char in chars:
            shares.setdefault(char, share)
    for surname in COMPOUND_SURNAMES:
        shares[surname] = _COMPOUND_SHARE
    total = sum(shares.values())
    return {surname: math.log(share / total) for surname, share in shares.items()}


SURNAME_LOG_SHARE: dict[str, float] = _build()
"""Surname -> natural log of its share among the listed surnames."""
