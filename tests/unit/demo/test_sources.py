"""The demo's sources as the broker runs them without a connectors file, and their seeding."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect

from connectors.registry import ConnectorRegistry
from demo.people import population
from demo.seed import seed_sources
from demo.sources import csv_directory, demo_specs, upstream_api_key

UPSTREAM = "http://127.0.0.1:8001"


def test_the_demo_specs_build_every_demo_source(tmp_path: Path) -> None:
    specs = demo_specs(var_dir=tmp_path, secret_key="secret", upstream_url=UPSTREAM)
    assert [(s.name, s.kind) for s in specs] == [
        ("civil_registry", "civil_registry"),
        ("local_taxes", "local_taxes"),
        ("meter_readings", "meter_readings"),
        ("bankya", "csv_files"),
        ("social_assistance", "http_json"),
    ]
    assert not any(spec.from_file for spec in specs)
    assert specs[0].options == {}  # the registry is in the broker's own database
    engine = create_engine("sqlite://")
    registry = ConnectorRegistry.from_specs(specs, engine=engine)
    assert registry["bankya"].directory == csv_directory(tmp_path)  # type: ignore[attr-defined]
    assert registry["social_assistance"].base_url == UPSTREAM + "/"  # type: ignore[attr-defined]


def test_a_separate_registry_database_is_passed_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    (registry,) = (
        spec
        for spec in demo_specs(
            var_dir=tmp_path, secret_key="s", upstream_url=UPSTREAM, civil_registry_url=url
        )
        if spec.name == "civil_registry"
    )
    assert registry.options == {"url": url}


def test_the_upstream_key_is_derived_from_the_secret() -> None:
    assert upstream_api_key("one") == upstream_api_key("one")
    assert upstream_api_key("one") != upstream_api_key("two")
    assert len(upstream_api_key("one")) == 64


def test_the_seed_fills_the_sources_it_is_given_and_no_others(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'sources.sqlite3'}")
    specs = demo_specs(var_dir=tmp_path, secret_key="s", upstream_url=UPSTREAM)
    try:
        seed_sources(None, population())  # a broker with real sources: nothing to fill
        assert inspect(engine).get_table_names() == []
        assert not csv_directory(tmp_path).exists()

        seed_sources(ConnectorRegistry.from_specs(specs, engine=engine), population())
        assert {"civil_registry_people", "local_tax_payers", "meter_readings"} <= set(
            inspect(engine).get_table_names()
        )
        assert sorted(p.name for p in csv_directory(tmp_path).iterdir()) == [
            "parking_permits.csv",
            "waste_fee_exemptions.csv",
        ]
    finally:
        engine.dispose()
