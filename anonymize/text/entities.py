"""What the service returns: :class:`Entity`, and Presidio entity types mapped to field types."""

from __future__ import annotations

from dataclasses import dataclass

# Presidio entity type -> piivault field-type code. Codes of the built-in registry
# (fieldtypes) where one exists; the others (cn_landline,
# cn_hk_macau_permit, phone, iban, ip_address, us_ssn) name types a deployment
# may register by configuration before tokenizing them.
FIELD_TYPES: dict[str, str] = {
    "CN_RESIDENT_ID": "cn_resident_id",
    "CN_MOBILE": "cn_mobile",
    "CN_LANDLINE": "cn_landline",
    "CN_BANK_CARD": "bank_card",
    "CREDIT_CARD": "bank_card",
    "CN_USCC": "cn_uscc",
    "CN_PASSPORT": "passport",
    "US_PASSPORT": "passport",
    "CN_HK_MACAU_PERMIT": "cn_hk_macau_permit",
    "EMAIL_ADDRESS": "email",
    "CN_PERSON": "name",
    "PERSON": "name",
    "EN_PERSON": "name",
    "PHONE_NUMBER": "phone",
    "IBAN_CODE": "iban",
    "IP_ADDRESS": "ip_address",
    "US_SSN": "us_ssn",
    "CN_ADDRESS": "address",
    "CN_VEHICLE_PLATE": "cn_vehicle_plate",
    "EN_ADDRESS": "address",
    "DATE_OF_BIRTH": "date_of_birth",
}

# Chinese text: our recognizers only. Dates of birth (a date after a birth cue) in both languages.
CHINESE_ENTITIES: tuple[str, ...] = (
    "CN_RESIDENT_ID",
    "CN_MOBILE",
    "CN_LANDLINE",
    "CN_BANK_CARD",
    "CN_USCC",
    "CN_PASSPORT",
    "CN_HK_MACAU_PERMIT",
    "CN_VEHICLE_PLATE",
    "EMAIL_ADDRESS",
    "CN_PERSON",
    "CN_ADDRESS",
    "DATE_OF_BIRTH",
)
# English text: Presidio's predefined recognizers for these, plus the Chinese identifiers
# (a note in English may quote a resident ID or a +86 mobile). Dates, places,
# organizations and URLs are not personal data on their own and are not reported;
# a date after a birth cue and a UK/US street address are (DATE_OF_BIRTH, EN_ADDRESS).
ENGLISH_ENTITIES: tuple[str, ...] = (
    *(e for e in CHINESE_ENTITIES if e not in ("CN_PERSON", "CN_ADDRESS")),
    "PERSON",
    "EN_PERSON",
    "CREDIT_CARD",
    "US_PASSPORT",
    "PHONE_NUMBER",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
    "EN_ADDRESS",
)

# When two candidates cover the same characters with the same score, the earlier type
# in this list wins: a valid resident ID that also passes Luhn is an ID, not a card.
PRIORITY: tuple[str, ...] = (
    "cn_resident_id",
    "cn_uscc",
    "bank_card",
    "cn_mobile",
    "cn_landline",
    "phone",
    "passport",
    "cn_hk_macau_permit",
    "cn_vehicle_plate",
    "email",
    "date_of_birth",
    "address",
    "name",
)


@dataclass(frozen=True, slots=True)
class Entity:
    """Personal data found in a text: ``text[start:end]`` is a value of field type ``type``.

    ``score`` is the detector's confidence in [0, 1]; 1.0 means a check digit
    confirmed it.
    """

    type: str
    start: int
    end: int
    score: float
    reason: str | None = None  # why the score is low: "check digit fails", "unallocated prefix"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "type": self.type,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out
