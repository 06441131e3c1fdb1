"""Chinese postal addresses in free text: administrative divisions, then a grammar of what follows.

An address is read as a run of *components*, each matched at the position
where the previous one ended:

* a division from the gazetteer (北京市, 朝阳区, 浙江) — :mod:`anonymize.text.gazetteer`;
* a lower unit: ``…县``, ``…镇``, ``…乡``, ``…街道``, ``…村``, ``…社区``;
* a road: ``…路``, ``…街``, ``…大道``, ``…巷``, ``…胡同``, ``…弄`` (a name of 1-8 characters);
* an estate: ``…小区``, ``…花园``, ``…家园``, ``…公寓``, ``…大厦``, ``…苑`` ... (after another component);
* a number: ``88号``, ``88号院``, ``3号楼``, ``13栋``, ``4单元``, ``2604室``, ``8组``, ``1000弄``.

A run is an address when it is specific enough to find a person's home: a
number after a named component (建国路88号, 东风村8组), two numbers one of
which is a building, unit or room (3号楼502室), or a village under a town or
county. A division alone is a city, not an address ("客户来自杭州市"), and so is
a division followed by something else ("中国工商银行成都市支行").

Runs start at the beginning of the text, after a character that cannot be
part of a place name (punctuation, digits, 在, 于, 住, 址 ...), or where a
division name begins: "客户住在人民路12号" yields 人民路12号, not 客户住在人民路12号.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from anonymize.text.gazetteer import Division, Region, gazetteer

# A place-name character: Han, minus those that end a clause or introduce a place.
_STOP = "的了在于是为住址至自从往及或将已曾请"
_NAME = rf"(?:(?![{_STOP}])[\u4e00-\u9fff])"
# A road name may not contain a division suffix: 上海市浦东新区张江路 is three components.
_ROAD_NAME = rf"(?:(?![{_STOP}省市区县镇乡村])[\u4e00-\u9fff])"
_NUM = r"(?:[0-9A-Za-z]{0,2}[0-9]+(?:[-－][0-9]+)*|[一二三四五六七八九十百零〇两]+)"

_LOWER_UNIT = re.compile(rf"{_NAME}{{1,6}}?(?:街道|社区|县|镇|乡|村|屯|嘎查)")
_ROAD = re.compile(rf"{_ROAD_NAME}{{1,8}}?(?:大道|大街|胡同|路|街|巷|弄|道)(?![路街道])")
_ESTATE = re.compile(
    rf"{_NAME}{{1,8}}?(?:小区|花园|家园|公寓|新村|大厦|广场|公馆|名苑|花苑|华庭|山庄|苑|园|府|城|湾|阁|庭|里|座)"
)
_NUMBER = re.compile(
    rf"第?{_NUM}(?:村民小组|居民小组)|第{_NUM}(?:组|队)"
    rf"|{_NUM}(?:号院|号楼|号|栋|幢|座|单元|楼|层|室|房|户|组|队|弄|巷)|[A-Za-z](?:座|栋|幢)"
)
# Building-unit-room written as one number (9-1-1003, 23-5-1901): only after another component.
_TRIPLE = re.compile(r"[0-9]{1,3}[-－][0-9]{1,2}[-－][0-9]{2,5}(?![0-9－-])")
# Any name right before a building number is an estate (恒大绿洲C座, 纺织厂宿舍3号楼): the longest
# run of place-name characters that a building, unit or building-unit-room number follows.
_NAMED_ESTATE = re.compile(
    rf"{_NAME}{{2,10}}(?=[0-9]{{1,3}}[-－][0-9]{{1,2}}[-－][0-9]|[0-9]{{1,4}}(?:栋|幢|号楼|座|单元)|[A-Za-z](?:座|栋|幢))"
)
_CUE_CHARS = "到居住往寄送"
# Words that say an address follows and are not part of it (现居南湖小区…, 居住在…).
_LEAD_INS = ("现居住", "现居", "居住", "家居", "定居", "暂居", "寄居", "现住", "家住", "暂住", "租住")
# A bare room number after a building or unit: B座1201, 3单元502.
_ROOM = re.compile(r"[0-9]{2,5}(?![0-9])")
_BEFORE_ROOM = ("座", "栋", "幢", "单元", "号楼", "楼")
# Numbers that locate a dwelling inside a building or a village.
_DWELLING = ("号楼", "栋", "幢", "座", "单元", "室", "房", "户", "组", "层")
_SEPARATOR = re.compile(r"[ \u3000]")

_DIVISION, _UNIT, _ROAD_KIND, _ESTATE_KIND, _NUMBER_KIND = "division", "unit", "road", "estate", "number"

ADDRESS_SCORE = 0.9
PARTIAL_SCORE = 0.7  # no division, road or village: 3号楼502室


@dataclass(frozen=True, slots=True)
class AddressMatch:
    """An address ``text[start:end]`` and the region its divisions name."""

    start: int
    end: int
    score: float
    region: Region


def _components(text: str, start: int) -> tuple[int, list[tuple[str, str]], list[list[Division]]]:
    """Consume components from ``start``; returns the end, (kind, text) pairs and division names."""
    places = gazetteer()
    position = start
    parts: list[tuple[str, str]] = []
    divisions: list[list[Division]] = []
    while position < len(text):
        found = places.match_at(text, position)
        if found is not None and not _names_a_road(text, found[0]):
            divisions.append(found[1])
            parts.append((_DIVISION, text[position : found[0]]))
            position = found[0]
            continue
        match = _TRIPLE.match(text, position) if parts else None
        if match is not None:
            parts.append((_NUMBER_KIND, match.group() + "室"))
            position = match.end()
            continue
        for kind, pattern in _ORDER:
            if kind == _ESTATE_KIND:
                # The longest name before a building number first; then a name with an estate suffix.
                match = _NAMED_ESTATE.match(text, position)
                if match is None and parts:
                    match = pattern.match(text, position)
            else:
                match = pattern.match(text, position)
            if match is not None:
                parts.append((kind, match.group()))
                position = match.end()
                break
        if match is None and parts and parts[-1][0] == _NUMBER_KIND and parts[-1][1].endswith(_BEFORE_ROOM):
            match = _ROOM.match(text, position)
            if match is not None:
                parts.append((_NUMBER_KIND, match.group() + "室"))
                position = match.end()
                continue
        if match is None:
            if parts and _SEPARATOR.match(text, position) and position + 1 < len(text):
                # 北京市朝阳区 建国路88号: a space between components, not after the last.
                following = text[position + 1 : position + 2]
                if following and not following.isspace():
                    position += 1
                    continue
            break
    while parts and text[position - 1].isspace():
        position -= 1
    return position, parts, divisions


def _names_a_road(text: str, end: int) -> bool:
    """A division name glued to a road suffix is a road named after it (北京路, 杭州路, 南京西路)."""
    return text[end : end + 1] in ("路", "街", "道", "巷") or text[end : end + 2] in ("大街", "大道")


_ORDER = (
    (_NUMBER_KIND, _NUMBER),
    (_ROAD_KIND, _ROAD),
    (_UNIT, _LOWER_UNIT),
    (_ESTATE_KIND, _ESTATE),
)


def _specific(parts: list[tuple[str, str]]) -> float | None:
    """The score of a run of components, or None when it does not locate a home."""
    kinds = [kind for kind, _ in parts]
    named = [k for k in kinds if k in (_DIVISION, _UNIT, _ROAD_KIND, _ESTATE_KIND)]
    numbers = [value for kind, value in parts if kind == _NUMBER_KIND]
    if named and numbers and kinds.index(_NUMBER_KIND) > kinds.index(named[0]):
        return ADDRESS_SCORE
    villages = [value for kind, value in parts if kind == _UNIT and value.endswith(("村", "屯", "嘎查"))]
    if villages and len(named) >= 2:
        return ADDRESS_SCORE
    if len(numbers) >= 2 and any(n.endswith(_DWELLING) for n in numbers):
        return PARTIAL_SCORE
    return None


def _trim(parts: list[tuple[str, str]], end: int) -> tuple[list[tuple[str, str]], int]:
    """Drop trailing components that are not part of the address (a trailing estate-like word)."""
    while parts and parts[-1][0] == _ESTATE_KIND and _specific(parts[:-1]) is not None:
        # 阳光花园 after a number is an estate; 城 or 里 after it is usually the next clause.
        if len(parts[-1][1]) >= 3:
            break
        end -= len(parts[-1][1])
        parts = parts[:-1]
    return parts, end


def _starts(text: str) -> list[int]:
    """Positions where an address may begin."""
    starts = []
    previous_han = previous_alnum = False
    for index, char in enumerate(text):
        any_han = "\u4e00" <= char <= "\u9fff"
        han = any_han and char not in _STOP
        digit = char.isdigit()
        # A digit inside a number (the 0 of 30栋) does not open a run.
        opens_run = (han and not previous_han) or (digit and not previous_han and not previous_alnum)
        # A division may begin with a stop character (于都县).
        if opens_run or (any_han and gazetteer().match_at(text, index) is not None):
            starts.append(index)
        previous_han = han
        previous_alnum = char.isascii() and char.isalnum()
    return starts


def _after_cue(name: str) -> int:
    """How many leading characters of an estate-like run are a cue (邮寄到, 客户现居), not the name.

    The cue is the last 到/居/住/往/寄/送 with at least two name characters after it
    (东湖名居 ends in 居 and keeps it).
    """
    cut = 0
    for index, char in enumerate(name[:-2]):
        if char in _CUE_CHARS:
            cut = index + 1
    return cut


def _after_lead_in(text: str, start: int) -> int:
    """``start`` moved past a word that introduces an address (现居, 居住, 家住...)."""
    for word in _LEAD_INS:
        if text.startswith(word, start):
            return start + len(word)
    return start


_MARKER = re.compile(r"[路街道巷弄号栋幢座单元室村组镇乡]|[0-9][-－][0-9]{1,2}[-－][0-9]")


def find_addresses(text: str) -> list[AddressMatch]:
    """The addresses in ``text``, non-overlapping, in text order."""
    if _MARKER.search(text) is None:
        return []
    found: list[AddressMatch] = []
    covered = 0
    for start in _starts(text):
        start = _after_lead_in(text, start)
        estate = _NAMED_ESTATE.match(text, start)
        if estate is not None:
            # 邮寄到龙湖春江郦城12幢: the address starts after the cue.
            start += _after_cue(estate.group())
        if start < covered:
            continue
        end, parts, divisions = _components(text, start)
        parts, end = _trim(parts, end)
        score = _specific(parts)
        if score is None:
            continue
        found.append(AddressMatch(start, end, score, gazetteer().region(divisions)))
        covered = end
    return found


class CnAddressRecognizer(LocalRecognizer):
    """Reports ``CN_ADDRESS`` for each address :func:`find_addresses` finds."""

    ENTITY = "CN_ADDRESS"

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entities=[self.ENTITY],
            supported_language=supported_language,
            name=f"CnAddressRecognizer_{supported_language}",
        )

    def load(self) -> None:
        gazetteer()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if self.ENTITY not in entities:
            return []
        return [
            RecognizerResult(
                entity_type=self.ENTITY,
                start=match.start,
                end=match.end,
                score=match.score,
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                },
            )
            for match in find_addresses(text)
        ]
