"""Recognizers for identifiers of the People's Republic of China, one per module."""

from anonymize.text.recognizers.china.address import CnAddressRecognizer
from anonymize.text.recognizers.china.bank_card import CnBankCardRecognizer
from anonymize.text.recognizers.china.hk_macau_permit import CnHkMacauPermitRecognizer
from anonymize.text.recognizers.china.landline import CnLandlineRecognizer
from anonymize.text.recognizers.china.mobile import CnMobileRecognizer
from anonymize.text.recognizers.china.passport import CnPassportRecognizer
from anonymize.text.recognizers.china.person_name import CnPersonRecognizer
from anonymize.text.recognizers.china.resident_id import CnResidentIdRecognizer
from anonymize.text.recognizers.china.uscc import CnUsccRecognizer
from anonymize.text.recognizers.china.vehicle_plate import CnVehiclePlateRecognizer

__all__ = [
    "CnAddressRecognizer",
    "CnBankCardRecognizer",
    "CnHkMacauPermitRecognizer",
    "CnLandlineRecognizer",
    "CnMobileRecognizer",
    "CnPassportRecognizer",
    "CnPersonRecognizer",
    "CnResidentIdRecognizer",
    "CnUsccRecognizer",
    "CnVehiclePlateRecognizer",
]
