"""Extra llama.cpp buffer types are off only where an AMX CPU meets an AMX build."""

from __future__ import annotations

import pytest

from app.engine import cpu_probe

AMX_BUILD = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | OPENMP = 1 | REPACK = 1 | "
PLAIN_BUILD = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_BF16 = 1 | OPENMP = 1 | REPACK = 1 | "


def test_the_build_string_tells_whether_amx_kernels_are_in():
    assert cpu_probe.build_has_amx(AMX_BUILD)
    assert not cpu_probe.build_has_amx(PLAIN_BUILD)
    assert not cpu_probe.build_has_amx("CPU : AMX_INT8 = 0 | ")


@pytest.mark.parametrize(
    ("cpu_amx", "info", "expected"),
    [(True, AMX_BUILD, False), (True, PLAIN_BUILD, True), (False, AMX_BUILD, True), (False, PLAIN_BUILD, True)],
)
def test_extra_buffers_by_cpu_and_build(monkeypatch, cpu_amx, info, expected):
    monkeypatch.delenv(cpu_probe.ENV, raising=False)
    monkeypatch.setattr(cpu_probe, "cpu_advertises_amx", lambda: cpu_amx)
    assert cpu_probe.llama_extra_buffers_ok(info) is expected


def test_the_environment_overrides(monkeypatch):
    monkeypatch.setattr(cpu_probe, "cpu_advertises_amx", lambda: True)
    monkeypatch.setenv(cpu_probe.ENV, "1")
    assert cpu_probe.llama_extra_buffers_ok(AMX_BUILD)
    monkeypatch.setenv(cpu_probe.ENV, "0")
    assert not cpu_probe.llama_extra_buffers_ok(PLAIN_BUILD)


def test_the_installed_build_is_read_when_no_string_is_given(monkeypatch):
    llama_cpp = pytest.importorskip("llama_cpp")
    monkeypatch.delenv(cpu_probe.ENV, raising=False)
    monkeypatch.setattr(cpu_probe, "cpu_advertises_amx", lambda: True)
    info = llama_cpp.llama_print_system_info().decode()
    assert cpu_probe.llama_extra_buffers_ok() is (not cpu_probe.build_has_amx(info))
