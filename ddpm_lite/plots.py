"""Pictures for the lessons: scatter grids, animations that play in the static book, sliders.

Every interactive view also works on a static page: ``slider`` is a widget in a live
notebook and a still-frame player in the offline book; ``animate`` plays anywhere.
Nothing in the package imports this module.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.collections import PatchCollection
from matplotlib.patches import Rectangle

# The book's code column is 848 px wide at 1280 px; at matplotlib's 100 dpi a figure of up
# to this many inches is shown at full size, so its text keeps the size it was drawn at.
COLUMN_INCHES = 8.4


def _points(x) -> torch.Tensor:
    x = torch.as_tensor(x).detach().to("cpu", torch.float32)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {tuple(x.shape)}")
    return x


def _style(ax, lim: float, title: str) -> None:
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)


def scatter_grid(
    frames: Sequence,
    titles: Sequence[str],
    *,
    lim: float = 3.0,
    size: float = 2.0,
    s: float = 1.0,
):
    """One small scatter plot per frame, in rows that fit the page; returns the figure."""
    if len(frames) != len(titles):
        raise ValueError(
            f"titles must have one entry per frame ({len(frames)}), got {len(titles)}"
        )
    per_row = max(1, min(len(frames), int(COLUMN_INCHES // size)))
    n_rows = -(-len(frames) // per_row)
    fig, axes = plt.subplots(
        n_rows, per_row, figsize=(size * per_row, size * 1.1 * n_rows), squeeze=False
    )
    for ax in axes.flat[len(frames) :]:
        ax.axis("off")
    for ax, x, title in zip(axes.flat, frames, titles):
        x = _points(x)
        ax.scatter(x[:, 0], x[:, 1], s=s, alpha=0.5, linewidths=0)
        _style(ax, lim, title)
    fig.tight_layout()
    return fig


_GAP = 0.05  # between the images of a grid, in image widths (plt.subplots' wspace)
_LABEL = dict(textcoords="offset points", fontsize=9)


def image_grid(
    rows: Sequence,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    scale: float = 0.7,
):
    """A grid of images in [-1, 1], one row per tensor of shape (n, C, H, W); returns the figure.

    Each image is about ``scale`` inches wide, less if the grid would be wider than the page.

    Values are shown on a fixed scale (-1 black, +1 white) and clipped to it, so noise looks
    like noise rather than being stretched to full contrast. All images share one set of
    axes, each placed by its extent and framed: sliders redraw grids for every frame, and
    one axes is much quicker to draw than one axes per image.
    """
    rows = [torch.as_tensor(r).detach().to("cpu", torch.float32) for r in rows]
    for i, row in enumerate(rows):
        if row.ndim != 4 or row.shape[1] not in (1, 3):
            raise ValueError(
                f"rows[{i}] must have shape (n, 1 or 3, H, W), got {tuple(row.shape)}"
            )
    ncol, nrow = max(len(r) for r in rows), len(rows)
    scale = min(scale, (COLUMN_INCHES - 0.6) / ncol)  # never wider than the page
    step = 1 + _GAP  # from one image to the next, in image widths
    span_w, span_h = ncol * step - _GAP, nrow * step - _GAP
    # The figure, and the image size within it, of plt.subplots(nrow, ncol) at its default
    # margins, so that a grid is as large on the page as it always was.
    width, height = scale * ncol + 0.6, scale * nrow + 0.3
    inches = min(0.775 * width / span_w, 0.77 * height / span_h)  # one image
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0.125, 0.11, span_w * inches / width, span_h * inches / height))
    ax.set_axis_off()
    frames = []
    for i, row in enumerate(rows):
        y = (nrow - 1 - i) * step  # the first row on top
        for j, image in enumerate(row):
            x = j * step
            image = ((image.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).squeeze(-1).numpy()
            ax.imshow(
                image,
                cmap="gray",
                vmin=0,
                vmax=1,
                interpolation="nearest",
                extent=(x, x + 1, y, y + 1),
            )
            frames.append(Rectangle((x, y), 1, 1))
        if row_labels is not None and row_labels[i]:
            ax.annotate(
                row_labels[i],
                (0, y + 0.5),
                xytext=(-4, 0),
                **_LABEL,
                ha="right",
                va="center",
            )
    for j, label in enumerate(col_labels or []):
        ax.annotate(
            label,
            (j * step + 0.5, span_h),
            xytext=(0, 6),
            **_LABEL,
            ha="center",
            va="baseline",
        )
    ax.add_collection(
        PatchCollection(
            frames, facecolor="none", edgecolor="black", linewidth=0.8, clip_on=False
        )
    )
    ax.set(xlim=(0, span_w), ylim=(0, span_h))
    return fig


def animate(
    frames: Sequence,
    titles: Sequence[str],
    *,
    lim: float = 3.0,
    size: float = 3.2,
    interval: int = 120,
):
    """A scatter animation as self-contained HTML (``to_jshtml``): it plays in the static book."""
    from IPython.display import HTML

    if len(frames) != len(titles) or len(frames) == 0:
        raise ValueError(
            f"frames and titles must be non-empty and of equal length, got {len(frames)} and {len(titles)}"
        )
    fig, ax = plt.subplots(figsize=(size, size))
    first = _points(frames[0])
    dots = ax.scatter(first[:, 0], first[:, 1], s=1.0, alpha=0.5, linewidths=0)
    _style(ax, lim, titles[0])
    fig.tight_layout()

    def draw(i: int):
        dots.set_offsets(_points(frames[i]).numpy())
        ax.set_title(titles[i], fontsize=10)
        return (dots,)

    html = FuncAnimation(
        fig, draw, frames=len(frames), interval=interval, blit=False
    ).to_jshtml(default_mode="once")
    plt.close(fig)
    return HTML(offline_controls(html))


# matplotlib's player draws its buttons with Font Awesome icons loaded from a CDN; offline
# they would be blank, so the icons are swapped for plain characters.
_ICONS = {  # characters that common system fonts have (no emoji-only symbols)
    "fa fa-minus": "&minus;",
    "fa fa-plus": "+",
    "fa fa-fast-backward": "|&#x25C1;",
    "fa fa-step-backward": "&#x25C1;",
    "fa fa-play fa-flip-horizontal": "&#x25C0;",
    "fa fa-pause": "||",
    "fa fa-play": "&#x25B6;",
    "fa fa-step-forward": "&#x25B7;",
    "fa fa-fast-forward": "&#x25B7;|",
}


def offline_controls(html: str) -> str:
    """The animation HTML without its CDN stylesheet, icons replaced by characters."""
    html = re.sub(
        r'<link rel="stylesheet"\s+href="https://[^"]*font-awesome[^"]*">', "", html
    )
    for icon, char in _ICONS.items():
        html = html.replace(f'<i class="{icon}"></i>', f"<span>{char}</span>")
    return html


class Slider(widgets.VBox):
    """A slider and its figure for the live notebook, with a still-frame player for pages.

    Its display carries two forms: the widget (what Jupyter and Colab show when a kernel
    runs) and ``text/html`` with the same figure drawn at up to ``frames`` of the values
    and a range control to scrub through them (what the static book shows: no kernel, no
    network). The HTML holds only images, a label and one inline handler, so it is the same
    on every run apart from the image bytes.
    """

    def __init__(self, children, *, note: str, html: str):
        super().__init__(children)
        self._note = note
        self._html = html

    def __repr__(self) -> str:
        return self._note

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/html"] = self._html
        return bundle


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _frame_values(values: list, start, frames: int) -> list:
    """At most `frames` of `values`, evenly spread, always with the first, last and start."""
    if len(values) <= frames:
        return values
    picks = {round(i * (len(values) - 1) / (frames - 1)) for i in range(frames)}
    picks.add(values.index(start))
    return [values[i] for i in sorted(picks)]


# One inline handler: show the image whose index the range holds, and its value.
_SCRUB = (
    "const box = this.closest('.ddpm-lite-player');"
    "box.querySelectorAll('img').forEach((im, i) => {"
    " im.style.display = i == this.value ? '' : 'none'; });"
    "box.querySelector('output').textContent ="
    " box.querySelectorAll('img')[this.value].dataset.value;"
)


def frame_player(draw: Callable, values: Sequence, *, description: str, value) -> str:
    """HTML that shows ``draw(v)`` for each v in ``values`` and a range control over them."""
    images = []
    name = html.escape(description)
    for v in values:
        draw(v)
        fig = plt.gcf()
        hidden = "" if v == value else "display:none; "
        shown = html.escape(str(v))
        images.append(
            f'<img data-value="{shown}" style="{hidden}max-width:100%" '
            f'alt="{name} = {shown}" src="data:image/png;base64,{_png(fig)}">'
        )
        plt.close(fig)
    control = (
        f'<label style="display:block; font-family:sans-serif">{name} = '
        f"<output>{html.escape(str(value))}</output> "
        f'<input type="range" min="0" max="{len(values) - 1}" step="1" '
        f'value="{list(values).index(value)}" style="width:16em; vertical-align:middle" '
        f'oninput="{_SCRUB}"></label>'
    )
    return (
        '<div class="ddpm-lite-player">\n' + "\n".join([control, *images]) + "\n</div>"
    )


def slider(
    draw: Callable[[int], None],
    *,
    values: Sequence[int],
    description: str = "t",
    value: int | None = None,
    frames: int = 12,
):
    """An integer slider that calls ``draw(value)`` into an output area.

    ``draw`` makes a matplotlib figure; the widget redraws it whenever the slider moves.
    Where no kernel runs (the static book), the same figure is shown at up to ``frames`` of
    the values, with a range control to step through them (see ``Slider``).
    """
    values = list(values)
    start = values[0] if value is None else value
    if start not in values:
        raise ValueError(f"value must be one of values, got {start!r}")
    if frames < 2:
        raise ValueError(f"frames must be at least 2, got {frames}")
    control = widgets.SelectionSlider(
        options=values, value=start, description=description, continuous_update=False
    )
    out = widgets.Output()

    def redraw(_=None):
        # Render the figure here and hand it to the output area as data, rather than
        # capturing plt.show() into it: the captured form leaks into the cell's own outputs
        # when a notebook runs headless (nbval), and breaks the comparison of outputs.
        draw(control.value)
        fig = plt.gcf()
        out.outputs = ()
        out.append_display_data(fig)
        plt.close(fig)

    control.observe(redraw, names="value")
    redraw()
    shown = _frame_values(values, start, frames)
    html = frame_player(draw, shown, description=description, value=start)
    note = f"[a slider over {description}; on a page without a kernel, {len(shown)} frames]"
    return Slider([control, out], note=note, html=html)
