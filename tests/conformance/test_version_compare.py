"""Our version comparison (``compare_versions``) against systemd's ``strverscmp_improved``.

The oracle: ``systemd-analyze compare-versions A B`` (systemd 252; exit 0 equal, 11 greater,
12 lower), the comparison ``ConditionKernelVersion=``/``ConditionOSRelease=`` use.
(``systemd-analyze --root=DIR condition`` does not read ``DIR/etc/os-release`` in 252.)
"""

from __future__ import annotations

import random
import shutil

import childproc
import pytest

from config_reloader.conditions.values import compare_versions

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"),
]

EDGE = [
    ("1.0", "1.0"), ("1.0", "1.0.0"), ("1.0~rc1", "1.0"), ("1.0~rc1", "1.0~rc2"), ("1.0-1", "1.0"),
    ("1.0-1", "1.0.1"), ("1.0^1", "1.0"), ("1.0^1", "1.0.1"), ("1.0a", "1.0"), ("1.0a", "1.0b"),
    ("1.010", "1.9"), ("01", "1"), ("1_0", "1.0"), ("a", "1"), ("6.18.44-fc-v657", "6.18"),
    ("2.0", "10.0"), ("abc", "abd"), ("1.0~", "1.0"), ("1..0", "1.0"), ("1.0+x", "1.0"),
    ("5.10.0-28-amd64", "5.10.0-3-amd64"), ("1.2.3rc1", "1.2.3"), ("", "0"),
]  # fmt: skip


def _random_versions(n: int, seed: int = 252) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    alphabet = "0123456789" * 3 + "abcz" + ".." + "-~^_+"

    def one() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))

    pairs = []
    for _ in range(n):
        a = one()
        b = (
            a
            if rng.random() < 0.15
            else (a[: rng.randint(0, len(a))] + one() if rng.random() < 0.5 else one())
        )
        pairs.append((a, b))
    return pairs


def _systemd_compare(a: str, b: str) -> int:
    code = childproc.run(
        ["systemd-analyze", "compare-versions", "--", a, b], capture_output=True, timeout=30, check=False
    ).returncode
    return {0: 0, 11: 1, 12: -1}[code]


def test_compare_versions_matches_systemd() -> None:
    pairs = [p for p in EDGE + _random_versions(200) if p[0] and p[1]]
    mismatches = [
        (a, b, got, want)
        for a, b in pairs
        if (got := compare_versions(a, b)) != (want := _systemd_compare(a, b))
    ]
    print(f"\nversion comparisons against systemd-analyze compare-versions: {len(pairs)} pairs")
    assert not mismatches, f"(a, b, ours, systemd): {mismatches[:20]}"
