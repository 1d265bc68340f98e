"""``config_reloader.record.record``: a Record written like a frozen keyword-only dataclass (the
carrier of ``watch``'s settings and the render result, which the one-shot render builds without
loading ``dataclasses``)."""

from __future__ import annotations

import copy
import os
import pickle
import sys
from typing import ClassVar

import childproc
import pytest

from config_reloader.reconcile.options import ReloaderOptions, SettingError
from config_reloader.record import Record, record
from config_reloader.render import Rendered


@record
class _Point(Record):
    x: int
    y: int = 0
    secret: str = ""
    tags: tuple[str, ...] = ()

    _norepr: ClassVar[frozenset[str]] = frozenset({"secret"})  # not a field

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(self.tags))
        if self.x < 0:
            raise ValueError("x must be >= 0")


def test_fields_defaults_and_post_init() -> None:
    p = _Point(x=1, tags=["a"])  # type: ignore[arg-type]  # normalised by __post_init__
    assert (p.x, p.y, p.secret, p.tags) == (1, 0, "", ("a",))
    assert _Point._fields == ("x", "y", "secret", "tags")
    assert dict(_Point._defaults) == {"y": 0, "secret": "", "tags": ()}
    assert not hasattr(_Point, "y")  # defaults are not left on the class
    with pytest.raises(ValueError, match="x must be"):
        _Point(x=-1)


def test_bad_keywords_are_type_errors() -> None:
    with pytest.raises(TypeError, match="missing keyword argument 'x'"):
        _Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"unexpected keyword argument.* z"):
        _Point(x=1, z=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Point(1)  # type: ignore[misc]  # keyword-only, as the dataclasses were


def test_value_semantics_and_hidden_repr() -> None:
    p = _Point(x=1, secret="hunter2")
    assert p == _Point(x=1, secret="hunter2") and hash(p) == hash(_Point(x=1, secret="hunter2"))
    assert p != _Point(x=1, secret="other")  # compared, only not shown
    assert "hunter2" not in repr(p) and repr(p) == "_Point(x=1, y=0, tags=())"
    assert p.replace(y=2) == _Point(x=1, y=2, secret="hunter2")
    with pytest.raises(AttributeError, match="immutable"):
        p.x = 3  # type: ignore[misc]
    assert copy.deepcopy(p) == p


def test_reloader_options_keeps_its_behaviour(tmp_path: os.PathLike[str]) -> None:
    o = ReloaderOptions(config_file="in.yml", watched_dirs=["d", "d"])  # type: ignore[arg-type]
    assert o.config_file == os.path.abspath("in.yml") and o.watched_dirs == (os.path.abspath("d"),)
    assert pickle.loads(pickle.dumps(o)) == o
    assert o.replace(watch_interval=0).reloads_enabled is False
    with pytest.raises(SettingError, match="reload_timeout"):
        o.replace(reload_timeout=0)
    assert ReloaderOptions().as_dict() == dict(ReloaderOptions._defaults)


def test_rendered_hides_expanded_values() -> None:
    r = Rendered(data=b"pw: ***\n", unset_vars=(), source_gzip=False, expanded_values=("s3cret",))
    assert "s3cret" not in repr(r) and "expanded_values" not in repr(r)
    assert r.replace(written=True).written and r.replace(written=True).expanded_values == ("s3cret",)


def test_importing_the_carriers_loads_no_dataclasses() -> None:
    code = (
        "import sys\nimport config_reloader.reconcile.options, config_reloader.render\n"
        "print('dataclasses' in sys.modules, 'inspect' in sys.modules)"
    )
    out = childproc.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["False", "False"]
