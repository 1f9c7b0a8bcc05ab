"""Which Python an image may declare: the public examples' (3, 10) is accepted with a warning."""

import pytest

import flyte
from flyte.errors import ConfigurationError
from flyte.image import ImagePythonWarning


def test_python_3_10_is_accepted_with_a_warning_that_names_the_runtime_floor():
    with pytest.warns(ImagePythonWarning, match=r"3\.10 is older than the Python 3\.11"):
        image = flyte.Image.from_debian_base().clone(name="spark", python_version=(3, 10))
    assert image.python_version == (3, 10)


@pytest.mark.parametrize("value", [(3, 12), "3.13"])
def test_current_versions_are_accepted_quietly(value, recwarn):
    image = flyte.Image.from_debian_base(python_version=value)
    assert image.python_version[0] == 3
    assert not [w for w in recwarn if issubclass(w.category, ImagePythonWarning)]


@pytest.mark.parametrize("value", [(3, 9), (2, 7), "3.99"])
def test_unsupported_versions_are_refused_naming_the_parameter_and_the_accepted_ones(value):
    with pytest.raises(ConfigurationError, match=r"python_version: .* \(accepted: 3\.10, 3\.11"):
        flyte.Image.from_debian_base(python_version=value)
