"""The lesson helpers: offline animations, the live-only slider, and the exercise checkers."""

import matplotlib

matplotlib.use("Agg")

import re

import pytest
import torch

import ddpm_lite
from ddpm_lite import plots


def test_animation_is_offline_html():
    html = plots.animate([torch.randn(50, 2), torch.randn(50, 2)], ["a", "b"]).data
    assert "<img" in html and "font-awesome" not in html and "fa fa-" not in html
    assert "https://" not in html


def test_scatter_grid_checks_its_arguments():
    fig = plots.scatter_grid([torch.randn(10, 2)] * 3, ["a", "b", "c"])
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match="titles"):
        plots.scatter_grid([torch.randn(10, 2)] * 2, ["a"])
    with pytest.raises(ValueError, match="points must have shape"):
        plots.scatter_grid([torch.randn(10, 3)], ["a"])


def test_image_grid_places_every_image_on_its_fixed_scale():
    import matplotlib.pyplot as plt

    torch.manual_seed(0)
    rows = [torch.randn(3, 1, 4, 4) * 2, torch.rand(2, 3, 4, 4) * 2 - 1]
    fig = plots.image_grid(rows, row_labels=["a", ""], col_labels=["x", "y", "z"])
    (ax,) = fig.axes
    images = ax.get_images()
    assert len(images) == 5 and len(ax.collections[0].get_paths()) == 5
    flat = [image for row in rows for image in row]
    for shown, image in zip(images, flat):  # -1 black, +1 white, clipped, channels last
        expected = ((image.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).squeeze(-1)
        assert torch.equal(torch.as_tensor(shown.get_array().data), expected)
    left, _, bottom, _ = zip(*(image.get_extent() for image in images))
    assert left[:3] == left[3:] + (left[2],) and left[0] < left[1] < left[2]
    assert bottom[0] == bottom[2] > bottom[3] == bottom[4]  # the first row on top
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["a", "x", "y", "z"]
    plt.close(fig)
    wide = plots.image_grid([torch.zeros(40, 1, 4, 4)])
    assert wide.get_size_inches()[0] <= plots.COLUMN_INCHES + 1e-9
    plt.close(wide)
    with pytest.raises(ValueError, match=r"rows\[1\] must have shape"):
        plots.image_grid([torch.zeros(1, 1, 4, 4), torch.zeros(4, 4)])


def test_slider_draws_into_its_output_area():
    import matplotlib.pyplot as plt

    drawn = []

    def draw(t):
        drawn.append(t)
        plt.figure()

    widget = plots.slider(draw, values=[0, 5, 10], value=5)
    # the live figure, then the page's three still frames
    assert drawn == [5, 0, 5, 10] and len(widget.children[1].outputs) == 1
    widget.children[0].value = 10
    assert drawn == [5, 0, 5, 10, 10] and len(widget.children[1].outputs) == 1
    assert "3 frames" in repr(widget)


def test_slider_carries_a_still_frame_player_for_pages():
    import matplotlib.pyplot as plt

    def draw(t):
        plt.figure(figsize=(1, 1))
        plt.title(str(t))

    widget = plots.slider(draw, values=list(range(0, 101, 5)), value=35, frames=5)
    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    html = bundle["text/html"]
    shown = re.findall(r'<img data-value="(\d+)" style="([^"]*)"', html)
    # first, last, evenly spread, and the start value (the one not hidden)
    assert [int(v) for v, _ in shown] == [0, 25, 35, 50, 75, 100]
    assert [v for v, style in shown if "display:none" not in style] == ["35"]
    assert 'max="5"' in html and 'value="2"' in html and "https://" not in html
    with pytest.raises(ValueError, match="value must be one of"):
        plots.slider(draw, values=[1, 2], value=3)
    # text goes into the page as text, never as markup
    odd = plots.frame_player(draw, ["a<b"], description='w "&" <i>', value="a<b")
    assert "<i>" not in odd and "a<b" not in odd
    assert "w &quot;&amp;&quot; &lt;i&gt;" in odd and 'data-value="a&lt;b"' in odd


def test_exercise_00_half_is_computed_not_stored(capsys):
    s = ddpm_lite.linear_schedule()
    truth = int(torch.nonzero(s.alpha_bar <= 0.5)[0])
    assert s.alpha_bar[truth] <= 0.5 < s.alpha_bar[truth - 1]
    assert ddpm_lite.exercises.check("00-half", truth)
    assert not ddpm_lite.exercises.check("00-half", truth - 1)
    assert "off by one" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(ValueError, match="exercise must be one of"):
        ddpm_lite.exercises.check("99-nope", 1)


def test_check_without_hint_prints_the_verdict_only(capsys):
    """hint=False (what a graded assignment shows before marking) keeps a hint that states
    the answer to itself; every checker so marked does state a formula in some hint."""
    assert not ddpm_lite.exercises.check("04-weight", 1.0, hint=False)
    out = capsys.readouterr().out
    assert out.startswith("04-weight: not yet") and "lambda_t" not in out
    assert not ddpm_lite.exercises.check("04-weight", 1.0)
    assert "lambda_t = beta_t^2" in capsys.readouterr().out
    assert ddpm_lite.exercises.check("00-half", 300, hint=False) is False
    with pytest.raises(TypeError, match="hint must be True or False"):
        ddpm_lite.exercises.check("00-half", 300, hint="no")
    assert {"03-kl", "04-score", "10-pf-drift"} <= ddpm_lite.exercises.REVEALS


def test_exercises_05(capsys):
    def n(c_in, c_out, e):
        skip = c_in * c_out + c_out if c_in != c_out else 0
        return (
            2 * c_in
            + 2 * c_out
            + 9 * c_in * c_out
            + 9 * c_out**2
            + 2 * c_out
            + e * c_out
            + c_out
            + skip
        )

    assert ddpm_lite.exercises.check("05-resblock", n)
    assert not ddpm_lite.exercises.check(
        "05-resblock", lambda c_in, c_out, e: n(c_in, c_out, e) - c_out
    )
    assert ddpm_lite.exercises.check("05-attention", 16)
    assert not ddpm_lite.exercises.check("05-attention", 4)
    assert "pixels x pixels" in " ".join(capsys.readouterr().out.split())


def test_exercises_06(capsys):
    def step(s, eps, x_t, t, z, variance):
        shape = (-1,) + (1,) * (x_t.ndim - 1)
        coef = (s.beta[t] / (1 - s.alpha_bar[t]).sqrt()).reshape(shape)
        mean = (x_t - coef * eps) / s.alpha[t].sqrt().reshape(shape)
        var = (s.beta if variance == "beta" else s.beta_tilde)[t].reshape(shape)
        return mean + torch.where((t > 1).reshape(shape), var.sqrt() * z, 0)

    def noisy_last_step(
        s, eps, x_t, t, z, variance
    ):  # forgets that t = 1 adds no noise
        shape = (-1,) + (1,) * (x_t.ndim - 1)
        return step(s, eps, x_t, t, z, variance) + torch.where(
            (t == 1).reshape(shape), z, 0
        )

    assert ddpm_lite.exercises.check("06-step", step)
    assert not ddpm_lite.exercises.check("06-step", noisy_last_step)
    assert "wrong at t = [1]" in " ".join(capsys.readouterr().out.split())
    assert ddpm_lite.exercises.check("06-ema", 0.9999 / 0.0001)
    assert not ddpm_lite.exercises.check("06-ema", 10_000)


def test_exercise_02_eps_form_names_the_alpha_bar_slip(capsys):
    def mu(x_t, eps, t, s, prefactor="alpha"):
        coef = (s.beta[t] / (1 - s.alpha_bar[t]).sqrt())[:, None]
        scale = s.alpha[t] if prefactor == "alpha" else s.alpha_bar[t]
        return (x_t - coef * eps) / scale.sqrt()[:, None]

    assert ddpm_lite.exercises.check("02-eps-form", mu)
    slip = lambda x_t, eps, t, s: mu(x_t, eps, t, s, prefactor="alpha_bar")  # noqa: E731
    assert not ddpm_lite.exercises.check("02-eps-form", slip)
    assert "not 1/sqrt(alpha_bar_t)" in capsys.readouterr().out
    assert not ddpm_lite.exercises.check(
        "02-eps-form", lambda x_t, eps, t, s: x_t[:, 0]
    )
    assert "expected shape (64, 3)" in capsys.readouterr().out
    assert not ddpm_lite.exercises.check("02-eps-form", lambda x_t, eps, t, s: x_t)
    assert "substitute x_0" in capsys.readouterr().out
