"""Unit specifiers in condition values (systemd.unit(5) "Specifiers")."""

from __future__ import annotations

import os

import pytest

from config_reloader.conditions.parse import parse_assignment, parse_assignments, parse_unit_text
from config_reloader.conditions.specifiers import SpecifierError, UnitName, expand


def test_expand_common_specifiers() -> None:
    assert expand("%n %N %p %i %f") == "test.service test test  /test"
    assert expand("%E %t %S %C %L %%") == "/etc /run /var/lib /var/cache /var/log %"
    assert expand("%v") == os.uname().release
    assert expand("50%") == "50%"  # a trailing lone % stays
    assert expand("50%/5min % x") == "50%/5min % x"  # and so does % before a non-alphanumeric


def test_template_instance_names() -> None:
    unit = UnitName("web-app@a-b.service", fragment="/etc/systemd/system/web-app@.service")
    assert expand("%p|%P|%i|%I|%j|%f|%y|%Y", unit) == (
        "web-app|web/app|a-b|a/b|app|/a/b|/etc/systemd/system/web-app@.service|/etc/systemd/system"
    )


def test_unknown_specifier() -> None:
    with pytest.raises(SpecifierError, match="%Z"):
        expand("%Z")
    with pytest.raises(SpecifierError):
        expand("%y")  # no unit file on the command line


def test_expansion_after_prefixes_and_before_path_checks() -> None:
    c = parse_assignment("ConditionPathExists=|!%t/x")
    assert c is not None and (c.trigger, c.negate, c.parameter) == (True, True, "/run/x")
    with pytest.raises(SpecifierError):
        parse_assignment("ConditionHost=%Z")
    assert parse_assignments(["ConditionHost=%Z"], systemd_compat=True, warn=lambda m: None) == []


def test_unit_file_uses_its_name() -> None:
    conds = parse_unit_text("[Unit]\nConditionEnvironment=%n\n", filename="/x/app.service")
    assert conds[0].parameter == "app.service"
