"""English held-out notes: the clauses (customer references, identifiers, distractors) and the note.

A UK or US bank's call, complaint, KYC and underwriting notes, with abbreviations (see README.md).
"""

from __future__ import annotations

from typing import Any

from bench.heldout.parts import Ent, Part, assemble
from bench.heldout.values import Gen


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
