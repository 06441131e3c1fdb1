"""Name-aware Chinese word segmentation over jieba's dictionary.

jieba's own segmenter finds the most probable path through a lattice of
dictionary words, then guesses unknown words with an HMM; its part-of-speech
tag ``nr`` marks person names. On customer notes that alone finds about four
names in five: it splits surname from given name (高 / 丽丽), glues a surname
to the word before it (客户王 / 洁) or tags a name as a place.

This segmenter builds the same lattice from jieba's dictionary and adds a
*name edge* wherever a known surname starts: surname + one or two given-name
characters, scored as

    log P(surname) + log P(given length) + sum log P(given char) + log P(name)
    + context bonuses (a cue before: 客户, 联系人, 姓名; a title after: 先生, 女士)

and the best path decides, so a name only wins where it explains the text
better than dictionary words do (提高 stays a word, 高丽丽女士 becomes a name).
Given-character probabilities are counted from the dictionary's own
``nr``-tagged entries that start with a surname.

Everything is read once from jieba's packaged ``dict.txt``: jieba's on-disk
cache in the temporary directory is neither read nor written.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import jieba

from anonymize.text.nlp.surnames import COMPOUND_SURNAMES, SURNAME_LOG_SHARE

HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# Outside Han runs: one token per ASCII word or number (with the characters of
# e-mail addresses and numbers), per whitespace run, or per other character.
_OTHER_TOKEN = re.compile(r"[0-9A-Za-z@._%+\-]+|\s+|.", re.DOTALL)

# Log probability that a token of running text is a person name.
NAME_PRIOR = math.log(0.03)
GIVEN_LENGTH_LOG = {1: math.log(0.3), 2: math.log(0.7)}
# A cue before the name (客户张伟) or a title after it (张伟先生).
LEFT_CUE_BONUS = 3.0
TITLE_BONUS = 4.0
RIGHT_VERB_BONUS = 1.5
# The candidate is itself a dictionary entry tagged nr (a person name).
NR_TAG_BONUS = 3.0
EXTRA_WORD_FREQ = 1000
_COMMON_SURNAME_LOG = math.log(0.001)
_FULL_NAME_MAX_FREQ = 1000
# At the start of the text or after punctuation, or after a preposition that often
# precedes a person (和, 与, 向, 据 ...): nothing before the name explains it otherwise.
ISOLATED_BONUS = 1.0
_PREPOSITIONS = frozenset("和与同跟给对向请让由据被叫找")
# Right after the candidate: a place, organization or product suffix (桂珍市, 艾提科信科技有限公司,
# 金钻信用卡).
PLACE_OR_ORG_PENALTY = 6.0
# Characters that almost never occur inside a given name but often follow one, or end
# a place name or a product (高港杨街, 白金卡).
_FUNCTION_CHARS = frozenset(
    "的了于在是和与及或也都就还又再曾将已被把对向给从等称说来去到要能并但而却因所着过吗呢吧啊"
    "这那其该此每各某们个户年月日号元次街路巷县市区省镇乡村座楼室弄卡"
)
_FUNCTION_CHAR_LOG = math.log(1e-7)
# Part of speech from jieba's dictionary, instead of lists of examples:
# - a candidate that is a dictionary entry built on a common non-name word (申请 + 人 = 申请人,
#   tagged nr by jieba's noisy tagger) is that word with a suffix, not a surname and a given name;
# - a surname character that is itself a frequent adverb, preposition or conjunction (曾, 于,
#   向) reads as that word without a cue before it, or when a verb follows it (客户曾留地址);
# - a verb, preposition or adverb right after a candidate (张伟 | 住在) supports it ending there.
COMMON_WORD_PENALTY = 6.0
FUNCTION_SURNAME_PENALTY = 4.0
_COMMON_WORD_FREQ = 100
_FUNCTION_WORD_FREQ = 10_000
_FUNCTION_TAGS = ("d", "p", "c")
_RIGHT_TAGS = ("v", "p", "d")
_MAX_WORD = 4

LEFT_CUES: tuple[str, ...] = (
    "客户", "联系人", "姓名", "户名", "户主", "持卡人", "借款人", "出借人", "申请人", "担保人",
    "保证人", "经办人", "投保人", "被保险人", "受益人", "收款人", "付款人", "汇款人", "开户人", "代理人",
    "委托人", "受托人", "监护人", "见证人", "推荐人", "介绍人", "收件人", "寄件人", "签收人", "领款人",
    "负责人", "法人", "法定代表人", "实际控制人", "控制人", "股东", "配偶", "本人", "员工", "柜员",
    "客户经理", "理财经理", "业务员", "客服", "坐席", "专员", "紧急联系人",
    "致电", "联系", "告知", "通知", "询问", "回访", "拜访", "提醒", "转告", "协助", "陪同", "自称",
    "我是", "我叫", "名叫", "叫做", "母亲", "父亲", "妻子", "丈夫", "儿子", "女儿", "亲属", "同事",
    "朋友", "老人",
)  # fmt: skip
_LEFT_STRIP = " \t:：,，、"
_PUNCTUATION = frozenset(" \t\r\n，。、；：？！,.;:?!（）()【】[]“”\"'《》")
TITLES: tuple[str, ...] = (
    "先生", "女士", "小姐", "老师", "经理", "同志", "阿姨", "师傅", "主任", "律师", "医生", "总监",
    "行长", "老板", "大爷", "大妈", "本人",
)  # fmt: skip
RIGHT_VERBS: tuple[str, ...] = (
    "来电", "致电", "表示", "称", "反映", "要求", "申请", "办理", "投诉", "确认", "咨询", "同意",
    "拒绝", "承诺", "签署", "签字", "名下", "的", "于", "在", "已", "因", "向", "对", "说", "报案",
    "前来", "到店", "到网点", "本人", "持有", "提交", "预约", "逾期", "还款", "借款", "开户", "、",
    "身份证", "证件", "手机", "电话", "联系方式", "邮箱", "月薪", "年收入",
)  # fmt: skip
_RIGHT_STRIP = "（(，, :："
PLACE_SUFFIXES = tuple("市县区省镇乡村街路道巷州")
ORG_SUFFIXES: tuple[str, ...] = (
    "公司", "集团", "有限", "科技", "网络", "信息", "传媒", "电子", "银行", "分行", "支行", "营业部",
    "大学", "学院", "医院", "酒店", "中心", "商行", "工作室", "事务所", "研究所", "合作社", "工厂",
    "信用卡", "借记卡", "理财", "基金", "保险", "贷款", "产品",
)  # fmt: skip
_RIGHT_WINDOW = 8


@dataclass(frozen=True, slots=True)
class Segment:
    """One token of the text: ``text[start:end]``; ``name`` when it is a person name."""

    start: int
    end: int
    name: bool = False
    cued: bool = False  # a name with a cue word or title next to it


class JiebaDictionary:
    """jieba's word frequencies (as a prefix dictionary) and given-name character statistics.

    ``extra_words`` become words too (with :data:`EXTRA_WORD_FREQ` unless jieba
    knows them): the recognizers' context words, so that 固话 or 港澳通行证 is
    one token for Presidio's context enhancer rather than single characters.
    """

    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        freq: dict[str, int] = {}
        tags: dict[str, str] = {}
        given: Counter[str] = Counter()
        name_words: set[str] = set()
        full_names: set[str] = set()
        tokenizer = jieba.Tokenizer()
        with tokenizer.get_dict_file() as stream:
            for raw in stream:
                parts = raw.decode("utf-8").split()
                if len(parts) < 2:
                    continue
                word, count = parts[0], int(parts[1])
                freq[word] = count
                if len(parts) >= 3 and len(word) <= 3:
                    tags[word] = parts[2]
                for end in range(1, len(word)):
                    freq.setdefault(word[:end], 0)
                if len(parts) < 3 or not parts[2].startswith("nr"):
                    continue
                if len(word) in (2, 3) and word[0] in SURNAME_LOG_SHARE:
                    given.update(word[1:])
                    name_words.add(word)
                    # jieba's nr tags are noisy (银行卡, 黄金周): only rare entries with a
                    # common surname count as full names.
                    common = SURNAME_LOG_SHARE[word[0]] >= _COMMON_SURNAME_LOG
                    plain = not any(char in _FUNCTION_CHARS for char in word[1:])
                    if len(word) == 3 and common and plain and count <= _FULL_NAME_MAX_FREQ:
                        full_names.add(word)
                elif word[:2] in COMPOUND_SURNAMES:
                    name_words.add(word)
        for word in extra_words:
            if not freq.get(word):
                freq[word] = EXTRA_WORD_FREQ
                for end in range(1, len(word)):
                    freq.setdefault(word[:end], 0)
        self.freq = freq
        self.tags = tags
        self.name_words = frozenset(name_words)
        self.full_names = frozenset(full_names)
        self.log_total = math.log(sum(freq.values()))
        total_given = sum(given.values())
        # Add-one smoothing over a name-character inventory of about 6,000.
        self._given_log = {c: math.log((n + 1) / (total_given + 6000)) for c, n in given.items()}
        self._given_unseen = math.log(1 / (total_given + 6000))

    def is_common_word(self, word: str, min_freq: int = _COMMON_WORD_FREQ) -> bool:
        """``word`` is in the dictionary, frequent, and not tagged as a person name."""
        return self.freq.get(word, 0) >= min_freq and not self.tags.get(word, "").startswith("nr")

    def tag(self, word: str) -> str:
        return self.tags.get(word, "")

    def word_log(self, word: str) -> float:
        return math.log(self.freq.get(word) or 1) - self.log_total

    def given_log(self, char: str) -> float:
        if char in _FUNCTION_CHARS:
            return _FUNCTION_CHAR_LOG
        return self._given_log.get(char, self._given_unseen)


class NameAwareSegmenter:
    """Segments Chinese text into words, marking person names. Thread-safe (read-only state)."""

    def __init__(self, dictionary: JiebaDictionary | None = None) -> None:
        self.dictionary = dictionary or JiebaDictionary()

    def segment(self, text: str) -> list[Segment]:
        """Tokens covering ``text`` exactly, in order."""
        segments: list[Segment] = []
        position = 0
        for run in HAN_RUN.finditer(text):
            self._other(text, position, run.start(), segments)
            self._han(text, run.start(), run.end(), segments)
            position = run.end()
        self._other(text, position, len(text), segments)
        return segments

    @staticmethod
    def _other(text: str, start: int, end: int, out: list[Segment]) -> None:
        for match in _OTHER_TOKEN.finditer(text, start, end):
            out.append(Segment(match.start(), match.end()))

    def _han(self, text: str, start: int, end: int, out: list[Segment]) -> None:
        run = text[start:end]
        size = len(run)
        freq = self.dictionary.freq
        word_log = self.dictionary.word_log
        # best[i]: (score of the best segmentation of run[i:], end of its first token, is name, cued)
        best: list[tuple[float, int, bool, bool]] = [(0.0, size, False, False)] * (size + 1)
        for i in range(size - 1, -1, -1):
            choice = (word_log(run[i]) + best[i + 1][0], i + 1, False, False)
            j = i + 2
            fragment = run[i:j]
            while j <= size and fragment in freq:
                if freq[fragment]:
                    score = word_log(fragment) + best[j][0]
                    if score > choice[0]:
                        choice = (score, j, False, False)
                j += 1
                fragment = run[i:j]
            for name_end, name_score, cued in self._name_edges(text, start, run, i):
                score = name_score + best[name_end][0]
                # On a tie (a dictionary full name without any context) the word wins.
                if score > choice[0]:
                    choice = (score, name_end, True, cued)
            best[i] = choice
        i = 0
        while i < size:
            _, j, name, cued = best[i]
            out.append(Segment(start + i, start + j, name, cued))
            i = j

    def _name_edges(self, text: str, offset: int, run: str, i: int) -> list[tuple[int, float, bool]]:
        compound = run[i : i + 2]
        if compound in SURNAME_LOG_SHARE and len(compound) == 2:
            surname = compound
        elif run[i] in SURNAME_LOG_SHARE:
            surname = run[i]
        else:
            return []
        edges = []
        base = SURNAME_LOG_SHARE[surname] + NAME_PRIOR
        left_cued = _left_cued(text, offset + i)
        isolated = offset + i == 0 or text[offset + i - 1] in _PUNCTUATION
        preposition = offset + i > 0 and text[offset + i - 1] in _PREPOSITIONS
        given_start = i + len(surname)
        given_score = 0.0
        function_surname = (
            len(surname) == 1
            and self.dictionary.tag(surname).startswith(_FUNCTION_TAGS)
            and self.dictionary.freq.get(surname, 0) >= _FUNCTION_WORD_FREQ
        )
        # Without a cue word before it the function word is the likelier reading (于本周到账).
        function_reading = function_surname and (not left_cued or self._verb_follows(run[given_start:]))
        for length in (1, 2):
            end = given_start + length
            if end > len(run):
                break
            given_score += self.dictionary.given_log(run[end - 1])
            score = base + GIVEN_LENGTH_LOG[length] + given_score
            candidate = run[i:end]
            if candidate in self.dictionary.name_words:
                score += NR_TAG_BONUS
            if candidate in self.dictionary.full_names:
                # A full name in the dictionary (高桂英) is a name, not just a word.
                score = max(score, self.dictionary.word_log(candidate))
            if self._compound_word(candidate):
                score -= COMMON_WORD_PENALTY
            elif function_reading:
                score -= FUNCTION_SURNAME_PENALTY
            cued = left_cued
            if left_cued:
                score += LEFT_CUE_BONUS
            elif isolated or preposition:
                score += ISOLATED_BONUS
            right = text[offset + end : offset + end + _RIGHT_WINDOW]
            if right.startswith(TITLES):
                score += TITLE_BONUS
                cued = True
            elif right.lstrip(_RIGHT_STRIP).startswith(RIGHT_VERBS) or self._verb_follows(right):
                score += RIGHT_VERB_BONUS
            if right.startswith(PLACE_SUFFIXES) or _names_org(right):
                score -= PLACE_OR_ORG_PENALTY
                cued = False
            edges.append((end, score, cued))
        return edges

    def _compound_word(self, candidate: str) -> bool:
        """A dictionary entry made of a common non-name word and a suffix: 申请人, 投保人."""
        dictionary = self.dictionary
        in_dictionary = len(candidate) == 3 and candidate in dictionary.freq
        return in_dictionary and dictionary.is_common_word(candidate[:2])

    def _verb_follows(self, right: str) -> bool:
        """The longest dictionary word at the start of ``right`` is a verb, preposition or adverb."""
        for length in range(min(_MAX_WORD, len(right)), 0, -1):
            word = right[:length]
            if self.dictionary.freq.get(word):
                return self.dictionary.tag(word).startswith(_RIGHT_TAGS)
        return False


def _names_org(right: str) -> bool:
    """The text after a candidate names an organization: 科技有限公司, or 信科技有限公司."""
    return right.startswith(ORG_SUFFIXES) or right[1:].startswith(ORG_SUFFIXES)


def _left_cued(text: str, start: int) -> bool:
    left = text[max(0, start - 8) : start].rstrip(_LEFT_STRIP)
    return left.endswith(LEFT_CUES)


__all__ = ["COMPOUND_SURNAMES", "JiebaDictionary", "NameAwareSegmenter", "Segment"]
