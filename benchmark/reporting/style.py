"""Figure sizes a page can hold and one colour per model, the same in every figure.

* Sizes: :data:`COLUMN_IN` (one column of a two-column paper, 3.5 in) and :data:`PAGE_IN` (a page
  width, 7 in), saved at :data:`DPI`; fonts at :data:`FONT_PT` so text stays readable at print size.
* Colours: the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"), distinguishable
  under the common colour-vision deficiencies. Built-in entries have fixed colours; variants of
  one model share its colour and differ by hatch (bars) and line style (lines), so an ablation
  reads as a member of its family. Any other entry gets a colour and a hatch from a checksum of
  its name (CRC-32: stable across runs and machines, unlike ``hash``), so it keeps them from one
  figure to the next whatever else is drawn.
"""

from __future__ import annotations

import zlib

#: One column of a two-column paper, and a full page width (inches).
COLUMN_IN = 3.5
PAGE_IN = 7.0
DPI = 200
FONT_PT = 8

#: Okabe-Ito, with grey in place of black (black is the true hypnogram).
OKABE_ITO = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "grey": "#7F7F7F"}
HATCHES = ("", "////", "\\\\\\\\", "xxx", "...", "ooo")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (1, 1)))

#: entry -> (colour name, variant index: hatch and line style)
FIXED = {
    "vivit": ("blue", 0), "vivit-seed": ("sky", 0), "vivit-oracle": ("blue", 1),
    "fin-vivit": ("vermillion", 0), "fin-vivit-entropy": ("vermillion", 1),
    "fin-vivit-bandpower": ("vermillion", 2), "fin-vivit-frozen": ("vermillion", 3),
    "fin-vivit-random": ("vermillion", 4), "fin-vivit-embed": ("vermillion", 5),
    "fin-vivit-scratch": ("orange", 4), "fin-vivit-fixedfront": ("orange", 5),
    "vivit-origin": ("sky", 1), "fin-vivit-origin": ("sky", 2),
    "tinysleepnet": ("green", 0), "deepsleepnet": ("green", 1), "attnsleep": ("green", 2),
    "usleep": ("green", 3), "sleepyco": ("green", 4), "yasa": ("purple", 0), "bandpower-gbm": ("orange", 0),
    "majority": ("grey", 0),
}
#: colours handed to entries not in FIXED
_FREE = ("yellow", "sky", "orange", "green", "purple", "blue", "vermillion", "grey")


def model_style(model: str) -> dict:
    """``{"color", "hatch", "linestyle"}`` of ``model``: identical in every figure and run."""
    if model in FIXED:
        colour, variant = FIXED[model]
    else:
        h = zlib.crc32(model.encode())
        colour, variant = _FREE[h % len(_FREE)], 1 + (h // len(_FREE)) % (len(HATCHES) - 1)
    return {"color": OKABE_ITO[colour], "hatch": HATCHES[variant], "linestyle": LINESTYLES[variant]}


def rc() -> dict:
    """Matplotlib settings for every figure (use with ``matplotlib.rc_context``)."""
    return {"font.size": FONT_PT, "axes.titlesize": FONT_PT + 1, "axes.labelsize": FONT_PT,
            "xtick.labelsize": FONT_PT - 1, "ytick.labelsize": FONT_PT - 1,
            "legend.fontsize": FONT_PT - 1, "figure.titlesize": FONT_PT + 1,
            "hatch.linewidth": 0.6, "savefig.dpi": DPI}
