"""`paysweep register` finds each provider's profile in its function folder: the layer has none."""

from __future__ import annotations

from pathlib import Path

import kicc_profile
import pytest
import teemopay_profile
from paysweep_ops import profiles
from paysweep_ops.cli import parser
from paysweep_ops.views import order_refs

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def test_every_function_folder_holds_its_providers_profile() -> None:
    found = profiles.discover([FUNCTIONS])
    assert found == {"kicc-wechatpay": kicc_profile.PROFILE, "teemopay": teemopay_profile.PROFILE}
    folders = sorted(path.name for path in FUNCTIONS.iterdir() if (path / "app.py").exists())
    assert [profiles.profile_in(FUNCTIONS / name).provider_id for name in folders] == ["kicc-wechatpay", "teemopay"]


def test_the_checkout_s_function_folders_are_found_from_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert FUNCTIONS.resolve() in [folder.resolve() for folder in profiles.function_folders()]
    assert set(profiles.discover()) == {"kicc-wechatpay", "teemopay"}


def test_a_file_without_a_profile_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty_profile.py").write_text("PROFILE = 'kicc-wechatpay'\n")
    (tmp_path / "broken_profile.py").write_text("import nowhere_to_be_found\n")
    with pytest.raises(profiles.ProfileUnusable, match="has no PROFILE"):
        profiles.load_profile(tmp_path / "empty_profile.py")
    with pytest.raises(profiles.ProfileUnusable, match="cannot be loaded"):
        profiles.load_profile(tmp_path / "broken_profile.py")
    with pytest.raises(profiles.ProfileUnusable, match="expected one"):
        profiles.profile_in(tmp_path)


def test_register_takes_references_by_name() -> None:
    args = parser().parse_args(["register", "--order-id", "O", "--provider", "toy-pay", "--amount", "1", "--currency",
                                "KRW", "--ref", "pgCno=PG1", "--ref", "extraRef=a=b"])
    assert dict(args.ref) == {"pgCno": "PG1", "extraRef": "a=b"} and args.pg_cno is None
    with pytest.raises(SystemExit):
        parser().parse_args(["register", "--order-id", "O", "--provider", "p", "--amount", "1", "--currency", "KRW",
                             "--ref", "novalue"])


def test_show_lists_whatever_references_the_order_carries() -> None:
    item = {"orderId": "O", "provider": "toy-pay", "status": "PENDING", "sweepKey": "toy-pay#0", "tradeNo": "T1",
            "pgCno": "P1", "lastCheck": {"state": "X"}, "amount": 1}
    assert order_refs(item) == {"pgCno": "P1", "tradeNo": "T1"}
