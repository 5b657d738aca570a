"""The demo's people: three wallet citizens in two Sofia households, and a minor child.

Made up and deterministic: the names, the valid ЕГН and the addresses (Faker's ``bg_BG``
streets, seeded) are the same on every run.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from faker import Faker

from commons import egn

#: The seed of the addresses' Faker, so every run names the same streets.
FAKER_SEED = 2026


def population() -> dict[str, Any]:
    """The households ``(id, address, members)`` and the wallet citizens ``(username, person)``."""
    fake = Faker("bg_BG")
    fake.seed_instance(FAKER_SEED)
    return _people(fake)


def _people(fake: Faker) -> dict[str, Any]:
    """Three wallet citizens in two households, and a minor child of the parent."""
    street = fake.street_address
    home = f"гр. София, {street()}"
    maria: dict[str, Any] = dict(
        given_name="Мария",
        middle_name="Иванова",
        family_name="Петрова",
        birth_date=date(1988, 3, 14),
        gender="F",
        household_role="parent",
    )
    georgi: dict[str, Any] = dict(
        given_name="Георги",
        middle_name="Димитров",
        family_name="Петров",
        birth_date=date(1985, 11, 2),
        gender="M",
        household_role="parent",
    )
    child: dict[str, Any] = dict(
        given_name="Никола",
        middle_name="Георгиев",
        family_name="Петров",
        birth_date=date(2021, 6, 21),
        gender="M",
        household_role="child",
    )
    elena: dict[str, Any] = dict(
        given_name="Елена",
        middle_name="Стоянова",
        family_name="Костова",
        birth_date=date(1951, 9, 30),
        gender="F",
        household_role="member",
    )
    for person, serial in ((maria, 471), (georgi, 186), (child, 244), (elena, 593)):
        person["national_id"] = egn.make(person["birth_date"], serial)
    return {
        "households": [
            ("hh-0001", home, [maria, georgi, child]),
            ("hh-0002", f"гр. София, {street()}", [elena]),
        ],
        "citizens": [("maria", maria), ("georgi", georgi), ("elena", elena)],
    }


def demo_people() -> list[dict[str, Any]]:
    """Every person of the demo households (the citizens and the child), with address."""
    return [
        dict(member, address=address)
        for _, address, members in population()["households"]
        for member in members
    ]
