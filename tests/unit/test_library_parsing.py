"""Pure parsing of what the library scan reads: safetensors headers and Civitai sidecars."""

from __future__ import annotations

import json
import struct

import pytest

from shared.library import fixtures, safetensors_header, scan_record, sidecars
from shared.library.safetensors_header import HeaderError


def _split(data: bytes) -> tuple[bytes, bytes]:
    length = safetensors_header.header_length(data[:8], file_size=len(data))
    return data[:8], data[8 : 8 + length]


def test_fixture_lora_header_parses_with_metadata_precision_and_type() -> None:
    data = fixtures.tensor_file("lora", "BF16", (("ss_base_model_version", "flux1"),))
    _, raw = _split(data)
    header = safetensors_header.parse(raw)
    assert header.metadata == {"ss_base_model_version": "flux1"}
    assert header.precision == "bf16"
    assert safetensors_header.infer_type(header.tensors, category="Checkpoint") == "LORA"
    assert safetensors_header.infer_base_model(header.metadata) == "Flux.1 D"


def test_precision_is_the_majority_by_parameter_count_among_floats() -> None:
    tensors = {
        "a": {"dtype": "F16", "shape": [10, 10], "data_offsets": [0, 200]},
        "b": {"dtype": "F32", "shape": [3], "data_offsets": [200, 212]},
        "ids": {"dtype": "I64", "shape": [1000], "data_offsets": [212, 8212]},
    }
    assert safetensors_header.precision(tensors) == "fp16"


def test_type_falls_back_to_folder_category_then_other() -> None:
    tensors = {"encoder.conv_in.weight": {}}
    assert safetensors_header.infer_type(tensors, category="VAE") == "VAE"
    assert safetensors_header.infer_type(tensors, category="misc") == "Other"


@pytest.mark.parametrize(
    ("prefix", "size", "why"),
    [
        (struct.pack("<Q", 200 * 1024 * 1024), 10**10, "exceeds"),
        (struct.pack("<Q", 500), 100, "does not fit"),
        (b"\x01\x02", 2, "shorter"),
    ],
)
def test_impossible_header_lengths_are_refused(prefix: bytes, size: int, why: str) -> None:
    with pytest.raises(HeaderError, match=why):
        safetensors_header.header_length(prefix, file_size=size)


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1, 2]", b'{"__metadata__": {"a": 1}}', b'{"t": {"dtype": "F16"}}'],
)
def test_malformed_header_json_is_refused(raw: bytes) -> None:
    with pytest.raises(HeaderError):
        safetensors_header.parse(raw)


def test_sidecars_merge_model_json_over_version_info() -> None:
    spec = fixtures.specs(count=1, seed=3)[0]  # n=0: both sidecars
    assert spec.info and spec.model_json
    info = sidecars.parse_version_info(json.dumps(spec.info).encode())
    model = sidecars.parse_model_json(json.dumps(spec.model_json).encode())
    facts = sidecars.merge(info, model, file_name=spec.path.rsplit("/", 1)[1])
    assert facts.name == spec.model_json["name"]
    assert facts.creatorName == spec.model_json["creator"]["username"]
    assert facts.baseModel == "SDXL 1.0"
    assert facts.local is info
    assert [v.name for v in facts.others] == ["v0.9"]


@pytest.mark.parametrize("raw", [b"{oops", b"[]", b'{"name": 5}', b'{"tags": "x"}'])
def test_malformed_sidecar_raises_sidecar_error(raw: bytes) -> None:
    with pytest.raises(sidecars.SidecarError):
        sidecars.parse_model_json(raw)


def test_unknown_sidecar_fields_are_ignored_and_tag_objects_read() -> None:
    model = sidecars.parse_model_json(b'{"name": "A", "tags": [{"name": "x"}], "new": {}}')
    assert model.tags == ["x"]


def test_scan_record_without_sidecars_uses_metadata_and_path() -> None:
    data = fixtures.tensor_file("checkpoint", "F32", (("modelspec.title", "Titled"),))
    header = safetensors_header.parse(_split(data)[1])
    scan = scan_record.build(
        path="Checkpoint/sdxl/x.safetensors",
        size=len(data),
        header=header,
        facts=None,
        previews=[],
        fingerprint="f",
    )
    assert (scan["name"], scan["type"], scan["precision"]) == ("Titled", "Checkpoint", "fp32")
    assert (scan["category"], scan["subcategory"], scan["hasMetadata"]) == (
        "Checkpoint",
        "sdxl",
        False,
    )
    assert scan["versions"][0]["isLocal"] and scan["versions"][0]["files"][0]["format"] == (
        "SafeTensor"
    )
