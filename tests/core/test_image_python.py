"""Which Python an image may declare: the public examples' (3, 10) is accepted with a warning."""

import sys

import pytest

import flyte
from flyte.errors import ConfigurationError
from flyte.image import ImagePythonWarning


def test_python_3_10_is_accepted_with_a_warning_that_names_the_runtime_floor():
    with pytest.warns(ImagePythonWarning, match=r"3\.10 is older than the Python 3\.11"):
        image = flyte.Image.from_debian_base().clone(name="spark", python_version=(3, 10))
    assert image.python_version == (3, 10)


def test_the_python_version_warning_points_at_the_users_line():
    """Not at flyte's converter, nor at the code attrs generates for Image (it showed
    ``<attrs generated methods flyte.image.Image>:51``), however the value is made."""
    base = flyte.Image.from_debian_base()
    with pytest.warns(ImagePythonWarning) as caught:
        line = sys._getframe().f_lineno + 1
        base.clone(name="spark", python_version=(3, 10))
        flyte.Image.from_debian_base(python_version=(3, 10))
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, line), (__file__, line + 1)]


def test_an_image_built_on_from_a_3_10_one_is_not_warned_about_again():
    """``with_*`` make the next image through attrs' evolve, which converts python_version again:
    the Spark example's chain (clone, then with_pip_packages) showed the warning twice."""
    with pytest.warns(ImagePythonWarning) as caught:
        image = (
            flyte.Image.from_debian_base()
            .clone(name="spark", python_version=(3, 10))
            .with_pip_packages("flyteplugins-spark")
            .with_env_vars({"A": "1"})
        )
    assert len(caught) == 1 and image.python_version == (3, 10)


@pytest.mark.parametrize("value", [(3, 12), "3.13"])
def test_current_versions_are_accepted_quietly(value, recwarn):
    image = flyte.Image.from_debian_base(python_version=value)
    assert image.python_version[0] == 3
    assert not [w for w in recwarn if issubclass(w.category, ImagePythonWarning)]


@pytest.mark.parametrize("value", [(3, 9), (2, 7), "3.99"])
def test_unsupported_versions_are_refused_naming_the_parameter_and_the_accepted_ones(value):
    with pytest.raises(ConfigurationError, match=r"python_version: .* \(accepted: 3\.10, 3\.11"):
        flyte.Image.from_debian_base(python_version=value)
