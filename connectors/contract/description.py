"""The contract's checks of the connector object and its description."""

from __future__ import annotations

from typing import Any

from connectors.base import (
    Connector,
    ConnectorDescription,
    Granularity,
    ResourceDescription,
    Sensitivity,
)
from connectors.contract.support import CYRILLIC, DPV_PREFIX, NAME, ContractBase, Problems


class DescriptionChecks(ContractBase):
    """The contract's checks of the connector object and its description."""

    # -- the connector and its description -----------------------------------------------------

    def test_satisfies_the_connector_protocol(self, connector: Any) -> None:
        assert isinstance(connector, Connector), (
            f"{type(connector).__name__} lacks name, describe(), fetch() or health()"
        )
        assert isinstance(connector.name, str), "name must be a str"
        assert NAME.match(connector.name), f"name {connector.name!r} is not [a-z][a-z0-9_]*"
        assert isinstance(connector.describe(), ConnectorDescription), (
            "describe() must return a ConnectorDescription"
        )

    def test_describe_has_labels_in_both_languages(self, connector: Connector) -> None:
        description = connector.describe()
        problems = Problems()
        labelled: list[tuple[str, Any]] = [("connector", description)]
        for resource in description.resources.values():
            labelled.append((f"resource {resource.name}", resource))
            labelled.extend(
                (f"field {resource.name}.{field.name}", field) for field in resource.fields.values()
            )
        for where, item in labelled:
            for attribute in ("label_bg", "label_en"):
                label = getattr(item, attribute)
                problems.check(
                    isinstance(label, str) and bool(label.strip()),
                    where,
                    f"{attribute} is empty or not a str",
                )
            problems.check(
                isinstance(item.label_bg, str) and bool(CYRILLIC.search(item.label_bg)),
                where,
                f"label_bg {item.label_bg!r} has no Cyrillic letters",
            )
        problems.report()

    def test_describe_names_match_their_keys(self, connector: Connector) -> None:
        description = connector.describe()
        problems = Problems()
        problems.check(
            isinstance(description.name, str) and bool(NAME.match(description.name)),
            "connector",
            f"description name {description.name!r} is not a valid name",
        )
        problems.check(bool(description.resources), "connector", "describes no resources")
        for key, resource in description.resources.items():
            where = f"resource {key}"
            problems.check(
                isinstance(resource, ResourceDescription), where, "is not a ResourceDescription"
            )
            problems.check(bool(NAME.match(key)), where, "name is not ^[a-z][a-z0-9_]{0,63}$")
            problems.check(resource.name == key, where, f"is named {resource.name!r} inside")
            problems.check(bool(resource.fields), where, "has no fields")
            for field_key, field in resource.fields.items():
                where = f"field {key}.{field_key}"
                problems.check(bool(NAME.match(field_key)), where, "name is not a valid name")
                problems.check(field.name == field_key, where, f"is named {field.name!r} inside")
        problems.report()

    def test_describe_categories_and_sensitivities(self, connector: Connector) -> None:
        problems = Problems()
        for resource in connector.describe().resources.values():
            for field in resource.fields.values():
                where = f"field {resource.name}.{field.name}"
                problems.check(
                    isinstance(field.dpv_category, str)
                    and field.dpv_category.startswith(DPV_PREFIX)
                    and len(field.dpv_category) > len(DPV_PREFIX) + 1,
                    where,
                    f"dpv_category {field.dpv_category!r} is not a {DPV_PREFIX} IRI",
                )
                problems.check(
                    isinstance(field.sensitivity, Sensitivity),
                    where,
                    f"sensitivity {field.sensitivity!r} is not a Sensitivity",
                )
                problems.check(isinstance(field.optional, bool), where, "optional is not a bool")
                problems.check(isinstance(field.dated, bool), where, "dated is not a bool")
        problems.report()

    def test_granularities_only_on_dated_resources(self, connector: Connector) -> None:
        problems = Problems()
        for resource in connector.describe().resources.values():
            where = f"resource {resource.name}"
            granularities = tuple(resource.granularities)
            problems.check(
                all(isinstance(g, Granularity) for g in granularities),
                where,
                f"granularities {granularities!r} are not all Granularity members",
            )
            problems.check(
                len(set(granularities)) == len(granularities), where, "repeats a granularity"
            )
            problems.check(
                not granularities or resource.dated,
                where,
                "lists granularities but has no dated field",
            )
        problems.report()

    def test_describe_is_stable(self, connector: Connector) -> None:
        assert connector.describe() == connector.describe(), (
            "describe() must return the same description on every call"
        )
