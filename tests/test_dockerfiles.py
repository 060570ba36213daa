"""The four ats-base Dockerfiles are one recipe: Docker has no include, so the
issue's one-file-per-flavor layout repeats it. This keeps the copies from
drifting: each must equal the debian one once its flavor name and default
base are set aside."""

import re
from pathlib import Path

import pytest

IMAGES = Path(__file__).resolve().parent.parent / "images"
FLAVORS = ("debian", "ubuntu", "rhel", "alpine")


def normalized(flavor: str, images: Path = IMAGES) -> list[str]:
    text = (images / flavor / "Dockerfile").read_text()
    lines = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue  # the header says what the flavor's base is
        line = re.sub(r"^ARG BASE_IMAGE=.*", "ARG BASE_IMAGE=<default>", line)
        lines.append(line.replace(flavor, "<flavor>"))
    return lines


@pytest.mark.parametrize("flavor", FLAVORS[1:])
def test_flavor_dockerfiles_are_one_recipe(flavor):
    assert normalized(flavor) == normalized("debian")


def test_the_check_sees_a_difference(tmp_path):
    """Negative control: a changed step is caught."""
    for flavor in ("debian", "rhel"):
        (tmp_path / flavor).mkdir()
        text = (IMAGES / flavor / "Dockerfile").read_text()
        if flavor == "rhel":
            step = "COPY --from=tool /ats-layer/ /"
            text = text.replace(step, step + "x/")
        (tmp_path / flavor / "Dockerfile").write_text(text)
    assert normalized("rhel", tmp_path) != normalized("debian", tmp_path)
    assert normalized("debian", tmp_path) == normalized("debian")


@pytest.mark.parametrize("flavor", FLAVORS)
def test_each_flavor_has_a_base_image_argument(flavor):
    text = (IMAGES / flavor / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=\S+", text, re.M)
    assert "FROM ${BASE_IMAGE}" in text
