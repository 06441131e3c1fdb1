"""Mainland China vehicle plates (GA 36-2018): province abbreviation, authority letter, serial.

The shape is the ``cn_vehicle_plate`` field type's (ordinary and new-energy,
with or without the middle dot 京A·12345); its validation decides. A plate
with a province abbreviation in front is distinctive on its own (score 0.8);
车牌, 号牌 or 车辆 nearby raise it.
"""

from __future__ import annotations

from presidio_analyzer import Pattern

from anonymize.text.recognizers.base import IdentifierRecognizer, bounded
from fieldtypes import default_registry
from fieldtypes.builtin.vehicle_plate import ENERGY, LETTER, PROVINCES, USE_CHARS

_PLATE = default_registry().get("cn_vehicle_plate")
_SERIAL = (
    rf"(?:[{ENERGY}][{LETTER}0-9][0-9]{{4}}|[0-9]{{5}}[{ENERGY}]"
    rf"|[{LETTER}0-9]{{4}}[{LETTER}0-9{USE_CHARS}])"
)


class CnVehiclePlateRecognizer(IdentifierRecognizer):
    """Province abbreviation, authority letter, optional ``·`` or space, 5-6 character serial."""

    ENTITY = "CN_VEHICLE_PLATE"
    PATTERNS = (Pattern("cn_vehicle_plate", bounded(rf"[{PROVINCES}][{LETTER}][·•・ ]?{_SERIAL}"), 0.8),)
    CONTEXT = ("车牌", "号牌", "车辆", "牌照", "车牌号", "行驶证", "plate", "vehicle", "licence plate")
    VETO_REFERENCE_LABELS = True

    def validate_result(self, pattern_text: str) -> bool | None:
        return None if _PLATE.is_valid(pattern_text) else False
