"""Which params and secrets a deployment declares: every provider's, once each, as main.py declares them."""

from __future__ import annotations

from firebase_functions import params

import main
from telehealth.config import COMMON_PARAMS, COMMON_SECRETS
from telehealth.providers import PROVIDER_SPEC, REGISTRY, ends_meetings, param_specs, secret_specs
from telehealth.recording_config import RECORDING_PARAMS

KINDS = {"str": params.StringParam, "int": params.IntParam, "bool": params.BoolParam}


def test_the_provider_param_comes_first_then_the_shared_ones_then_recordings_then_each_providers_own_once() -> None:
    specs = param_specs()
    names = [spec.name for spec in specs]
    assert specs[0] == PROVIDER_SPEC
    assert list(specs[1 : 1 + len(COMMON_PARAMS)]) == list(COMMON_PARAMS)
    shared = 1 + len(COMMON_PARAMS)
    assert list(specs[shared : shared + len(RECORDING_PARAMS)]) == list(RECORDING_PARAMS)
    assert len(names) == len(set(names))
    owned = {spec.name for provider in REGISTRY.values() for spec in provider.params}
    common = {spec.name for spec in (*COMMON_PARAMS, *RECORDING_PARAMS)}
    assert set(names) == {PROVIDER_SPEC.name} | common | owned


def test_every_secret_is_declared_once_the_shared_ones_first() -> None:
    specs = secret_specs()
    names = [spec.name for spec in specs]
    assert list(specs[: len(COMMON_SECRETS)]) == list(COMMON_SECRETS)
    assert len(names) == len(set(names))
    owned = {spec.name for provider in REGISTRY.values() for spec in provider.secrets}
    assert set(names) == {spec.name for spec in COMMON_SECRETS} | owned


def test_main_declares_each_param_with_its_kind_default_and_description() -> None:
    assert list(main.PARAMS) == [spec.name for spec in param_specs()]
    for spec in param_specs():
        declared = main.PARAMS[spec.name]
        assert type(declared) is KINDS[spec.kind], spec.name
        assert (declared.name, declared.default, declared.description) == (spec.name, spec.default, spec.description)
    assert list(main.SECRETS) == [spec.name for spec in secret_specs()]
    for spec in secret_specs():
        assert (main.SECRETS[spec.name].name, main.SECRETS[spec.name].description) == (spec.name, spec.description)


def test_a_provider_value_that_is_not_text_ends_no_meetings() -> None:
    assert ends_meetings({"VIDEO_PROVIDER": None}) is False
    assert ends_meetings({"VIDEO_PROVIDER": 7}) is False
    assert ends_meetings({}) is False  # jitsi by default, without an end key id
    assert ends_meetings({"VIDEO_JITSI_END_KEY_ID": "k"}) is True  # the default provider, with one
