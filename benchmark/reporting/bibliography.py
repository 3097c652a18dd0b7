"""What to cite for a table: the data, the methods of every entry, the statistics and sleepbench.

    bibtex_for(["vivit", "fin-vivit"])    # BibTeX text: Sleep-EDF, PhysioNet, ViViT, FIN, ...
    display_name("fin-vivit")              # "FIN-ViViT"
    cite_keys("fin-vivit")                 # ("arnab2021vivit", "sabasadiya2022fin")
    reported_keys("tinysleepnet")          # the sources of its authors' published figures

``references.bib`` at the repository root is :func:`bibtex_all` (``sleepbench cite --all``; a test
keeps them equal). An entry outside this file (a plugin) names itself and its papers with class
attributes, ``display_name = "My CNN"`` and ``cite = {"key2024": "@article{key2024, ...}"}``; an
entry without them is shown by its registry name and cites nothing.
"""

from __future__ import annotations

import re

from sleepbench.errors import UserError

#: Always cited with a table: the data (even surrogate data is Sleep-EDF-shaped, its hypnogram
#: model fitted on Sleep-EDF), the archive and the benchmark itself.
DATA_KEYS = ("kemp2000sleepedf", "goldberger2000physionet", "sleepbench")
#: Cited with the statistics: every statistic a table shows, and the source of each
#: (:data:`STATISTIC_REFERENCES`).
STATS_KEYS = ("wilcoxon1945", "holm1979", "cohen1960kappa", "efron1993bootstrap", "cohen1988power",
              "fisher1935design", "bland1986agreement", "mcgraw1996icc", "vallat2018pingouin",
              "vallat2021yasa")
#: What a table shows (as its text names it) -> the reference that defines it. Kappa: Cohen (1960);
#: paired tests: Wilcoxon (1945) and the exact sign-flip (randomisation) test, Fisher (1935);
#: confidence intervals: the percentile bootstrap, Efron & Tibshirani (1993); d_z: Cohen (1988);
#: family-wise adjustment: Holm (1979); sleep-statistics agreement: Bland & Altman (1986) limits,
#: the ICC of McGraw & Wong (1996) computed with pingouin (Vallat 2018), the statistics themselves
#: by YASA (Vallat & Walker 2021).
STATISTIC_REFERENCES = {"κ": "cohen1960kappa", "Wilcoxon": "wilcoxon1945", "p (exact)": "fisher1935design",
                        "bootstrap": "efron1993bootstrap", "d_z": "cohen1988power", "Holm": "holm1979",
                        "LoA": "bland1986agreement", "ICC(A,1)": "mcgraw1996icc",
                        "pingouin": "vallat2018pingouin", "YASA": "vallat2021yasa"}

BIBTEX: dict[str, str] = {
    "kemp2000sleepedf": """@article{kemp2000sleepedf,
  author  = {Kemp, Bob and Zwinderman, Aeilko H. and Tuk, Bert and Kamphuisen, Hilbert A. C. and Obery{\\'e}, Josefien J. L.},
  title   = {Analysis of a sleep-dependent neuronal feedback loop: the slow-wave microcontinuity of the {EEG}},
  journal = {IEEE Transactions on Biomedical Engineering},
  volume  = {47},
  number  = {9},
  pages   = {1185--1194},
  year    = {2000},
  doi     = {10.1109/10.867928}
}""",
    "goldberger2000physionet": """@article{goldberger2000physionet,
  author  = {Goldberger, Ary L. and Amaral, Luis A. N. and Glass, Leon and Hausdorff, Jeffrey M. and Ivanov, Plamen Ch. and Mark, Roger G. and Mietus, Joseph E. and Moody, George B. and Peng, Chung-Kang and Stanley, H. Eugene},
  title   = {{PhysioBank}, {PhysioToolkit}, and {PhysioNet}: components of a new research resource for complex physiologic signals},
  journal = {Circulation},
  volume  = {101},
  number  = {23},
  pages   = {e215--e220},
  year    = {2000},
  doi     = {10.1161/01.CIR.101.23.e215}
}""",
    "sleepbench": """@misc{sleepbench,
  author       = {{The sleepbench contributors}},
  title        = {sleepbench: a subject-wise cross-validated benchmark for automatic sleep staging on {PhysioNet} {Sleep-EDF}},
  year         = {2026},
  note         = {Software, version 0.1.0; see CITATION.cff}
}""",
    "arnab2021vivit": """@inproceedings{arnab2021vivit,
  author    = {Arnab, Anurag and Dehghani, Mostafa and Heigold, Georg and Sun, Chen and Lu{\\v{c}}i{\\'c}, Mario and Schmid, Cordelia},
  title     = {{ViViT}: a video vision transformer},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  pages     = {6836--6846},
  year      = {2021},
  doi       = {10.1109/ICCV48922.2021.00676}
}""",
    "sabasadiya2022fin": """@inproceedings{sabasadiya2022fin,
  author    = {Saba-Sadiya, Sari and Alhanai, Tuka and Ghassemi, Mohammad M.},
  title     = {Feature imitating networks},
  booktitle = {Proceedings of the IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  pages     = {4128--4132},
  year      = {2022},
  doi       = {10.1109/ICASSP43922.2022.9746397}
}""",
    "supratak2017deepsleepnet": """@article{supratak2017deepsleepnet,
  author  = {Supratak, Akara and Dong, Hao and Wu, Chao and Guo, Yike},
  title   = {{DeepSleepNet}: a model for automatic sleep stage scoring based on raw single-channel {EEG}},
  journal = {IEEE Transactions on Neural Systems and Rehabilitation Engineering},
  volume  = {25},
  number  = {11},
  pages   = {1998--2008},
  year    = {2017},
  doi     = {10.1109/TNSRE.2017.2721116}
}""",
    "lee2024sleepyco": """@article{lee2024sleepyco,
  author  = {Lee, Seongju and Yu, Yeonguk and Back, Seunghyeok and Seo, Hogeon and Lee, Kyoobin},
  title   = {{SleePyCo}: Automatic sleep scoring with feature pyramid and contrastive learning},
  journal = {Expert Systems with Applications},
  volume  = {240},
  pages   = {122551},
  year    = {2024},
  doi     = {10.1016/j.eswa.2023.122551}
}""",
    "eldele2021attnsleep": """@article{eldele2021attnsleep,
  author  = {Eldele, Emadeldeen and Chen, Zhenghua and Liu, Chengyu and Wu, Min and Kwoh, Chee-Keong and Li, Xiaoli and Guan, Cuntai},
  title   = {An Attention-Based Deep Learning Approach for Sleep Stage Classification With Single-Channel {EEG}},
  journal = {IEEE Transactions on Neural Systems and Rehabilitation Engineering},
  volume  = {29},
  pages   = {809--818},
  year    = {2021},
  doi     = {10.1109/TNSRE.2021.3076234}
}""",
    "perslev2021usleep": r"""@article{perslev2021usleep,
  author  = {Perslev, Mathias and Darkner, Sune and Kempfner, Lykke and Nikolic, Miki and Jennum, Poul J{\o}rgen and Igel, Christian},
  title   = {{U-Sleep}: resilient high-frequency sleep staging},
  journal = {npj Digital Medicine},
  volume  = {4},
  pages   = {72},
  year    = {2021},
  doi     = {10.1038/s41746-021-00440-5}
}""",
    "supratak2020tinysleepnet": """@inproceedings{supratak2020tinysleepnet,
  author    = {Supratak, Akara and Guo, Yike},
  title     = {{TinySleepNet}: an efficient deep learning model for sleep stage scoring based on raw single-channel {EEG}},
  booktitle = {42nd Annual International Conference of the IEEE Engineering in Medicine \\& Biology Society (EMBC)},
  pages     = {641--644},
  year      = {2020},
  doi       = {10.1109/EMBC44109.2020.9176741}
}""",
    "vallat2021yasa": """@article{vallat2021yasa,
  author  = {Vallat, Raphael and Walker, Matthew P.},
  title   = {An open-source, high-performance tool for automated sleep staging},
  journal = {eLife},
  volume  = {10},
  pages   = {e70092},
  year    = {2021},
  doi     = {10.7554/eLife.70092}
}""",
    "ke2017lightgbm": """@inproceedings{ke2017lightgbm,
  author    = {Ke, Guolin and Meng, Qi and Finley, Thomas and Wang, Taifeng and Chen, Wei and Ma, Weidong and Ye, Qiwei and Liu, Tie-Yan},
  title     = {{LightGBM}: a highly efficient gradient boosting decision tree},
  booktitle = {Advances in Neural Information Processing Systems 30},
  pages     = {3146--3154},
  year      = {2017}
}""",
    "friedman2001gbm": """@article{friedman2001gbm,
  author  = {Friedman, Jerome H.},
  title   = {Greedy function approximation: a gradient boosting machine},
  journal = {The Annals of Statistics},
  volume  = {29},
  number  = {5},
  pages   = {1189--1232},
  year    = {2001},
  doi     = {10.1214/aos/1013203451}
}""",
    "pedregosa2011sklearn": """@article{pedregosa2011sklearn,
  author  = {Pedregosa, Fabian and Varoquaux, Ga{\\"e}l and Gramfort, Alexandre and Michel, Vincent and Thirion, Bertrand and Grisel, Olivier and Blondel, Mathieu and Prettenhofer, Peter and Weiss, Ron and Dubourg, Vincent and Vanderplas, Jake and Passos, Alexandre and Cournapeau, David and Brucher, Matthieu and Perrot, Matthieu and Duchesnay, {\\'E}douard},
  title   = {Scikit-learn: machine learning in {Python}},
  journal = {Journal of Machine Learning Research},
  volume  = {12},
  pages   = {2825--2830},
  year    = {2011}
}""",
    "wilcoxon1945": """@article{wilcoxon1945,
  author  = {Wilcoxon, Frank},
  title   = {Individual comparisons by ranking methods},
  journal = {Biometrics Bulletin},
  volume  = {1},
  number  = {6},
  pages   = {80--83},
  year    = {1945},
  doi     = {10.2307/3001968}
}""",
    "holm1979": """@article{holm1979,
  author  = {Holm, Sture},
  title   = {A simple sequentially rejective multiple test procedure},
  journal = {Scandinavian Journal of Statistics},
  volume  = {6},
  number  = {2},
  pages   = {65--70},
  year    = {1979}
}""",
    "efron1993bootstrap": """@book{efron1993bootstrap,
  author    = {Efron, Bradley and Tibshirani, Robert J.},
  title     = {An Introduction to the Bootstrap},
  publisher = {Chapman \\& Hall},
  address   = {New York},
  year      = {1993},
  doi       = {10.1007/978-1-4899-4541-9}
}""",
    "cohen1988power": """@book{cohen1988power,
  author    = {Cohen, Jacob},
  title     = {Statistical Power Analysis for the Behavioral Sciences},
  edition   = {2},
  publisher = {Lawrence Erlbaum Associates},
  address   = {Hillsdale, NJ},
  year      = {1988}
}""",
    "fisher1935design": """@book{fisher1935design,
  author    = {Fisher, Ronald A.},
  title     = {The Design of Experiments},
  publisher = {Oliver and Boyd},
  address   = {Edinburgh},
  year      = {1935}
}""",
    "bland1986agreement": """@article{bland1986agreement,
  author  = {Bland, J. Martin and Altman, Douglas G.},
  title   = {Statistical methods for assessing agreement between two methods of clinical measurement},
  journal = {The Lancet},
  volume  = {327},
  number  = {8476},
  pages   = {307--310},
  year    = {1986},
  doi     = {10.1016/S0140-6736(86)90837-8}
}""",
    "mcgraw1996icc": """@article{mcgraw1996icc,
  author  = {McGraw, Kenneth O. and Wong, S. P.},
  title   = {Forming inferences about some intraclass correlation coefficients},
  journal = {Psychological Methods},
  volume  = {1},
  number  = {1},
  pages   = {30--46},
  year    = {1996},
  doi     = {10.1037/1082-989X.1.1.30}
}""",
    "vallat2018pingouin": """@article{vallat2018pingouin,
  author  = {Vallat, Raphael},
  title   = {Pingouin: statistics in {Python}},
  journal = {Journal of Open Source Software},
  volume  = {3},
  number  = {31},
  pages   = {1026},
  year    = {2018},
  doi     = {10.21105/joss.01026}
}""",
    "cohen1960kappa": """@article{cohen1960kappa,
  author  = {Cohen, Jacob},
  title   = {A coefficient of agreement for nominal scales},
  journal = {Educational and Psychological Measurement},
  volume  = {20},
  number  = {1},
  pages   = {37--46},
  year    = {1960},
  doi     = {10.1177/001316446002000104}
}""",
}

_VIVIT = ("arnab2021vivit",)
_FIN = ("arnab2021vivit", "sabasadiya2022fin")
#: Built-in entries: (display name, BibTeX keys of the methods they implement).
ENTRIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "majority": ("Majority class", ()),
    "bandpower-gbm": ("Band power + GBM", ("friedman2001gbm", "pedregosa2011sklearn")),
    "yasa": ("YASA (zero-shot)", ("vallat2021yasa", "ke2017lightgbm")),
    "tinysleepnet": ("TinySleepNet", ("supratak2020tinysleepnet",)),
    "deepsleepnet": ("DeepSleepNet", ("supratak2017deepsleepnet",)),
    "attnsleep": ("AttnSleep", ("eldele2021attnsleep",)),
    "usleep": ("U-Sleep", ("perslev2021usleep",)),
    "sleepyco": ("SleePyCo", ("lee2024sleepyco",)),
    "vivit": ("ViViT", _VIVIT),
    "vivit-seed": ("ViViT (per-epoch frames)", _VIVIT),
    "vivit-oracle": ("ViViT + exact features", _FIN),
    "fin-vivit": ("FIN-ViViT", _FIN),
    "fin-vivit-entropy": ("FIN-ViViT (entropy FIN)", _FIN),
    "fin-vivit-bandpower": ("FIN-ViViT (band-power FIN)", _FIN),
    "fin-vivit-frozen": ("FIN-ViViT (frozen FINs)", _FIN),
    "fin-vivit-random": ("FIN-ViViT (untrained FINs)", _FIN),
    "fin-vivit-scratch": ("FIN-ViViT (FIN layers from scratch)", _FIN),
    "fin-vivit-fixedfront": ("FIN-ViViT (FINs on histogram and spectrum)", _FIN),
    "fin-vivit-embed": ("FIN-ViViT (embedding fusion)", _FIN),
    "vivit-origin": ("ViViT (origin project)", _VIVIT),
    "fin-vivit-origin": ("FIN-ViViT (origin project)", _FIN),
}


def _entry_class(model: str):
    from ..registry import discover

    info = discover().get(model)
    return None if info is None else info.cls


def display_name(model: str) -> str:
    """A reader's name for entry ``model``: built-in table, the class's ``display_name``, or the id."""
    if model in ENTRIES:
        return ENTRIES[model][0]
    cls = _entry_class(model)
    return str(getattr(cls, "display_name", "") or model)


def _plugin_bibtex(model: str) -> dict[str, str]:
    cls = _entry_class(model)
    cite = getattr(cls, "cite", None) or {}
    if not isinstance(cite, dict):
        raise UserError(f"entry {model!r}: its class attribute `cite` must map BibTeX keys to "
                         "BibTeX entries, e.g. {'doe2024': '@article{doe2024, ...}'}")
    return {str(k): str(v).strip() for k, v in cite.items()}


def cite_keys(model: str) -> tuple[str, ...]:
    """BibTeX keys of the method(s) entry ``model`` implements (empty for none)."""
    if model in ENTRIES:
        return ENTRIES[model][1]
    return tuple(_plugin_bibtex(model))


def reported_keys(model: str) -> tuple[str, ...]:
    """BibTeX keys of the sources of the figures entry ``model``'s authors published (its
    ``reported``: :class:`~benchmark.registry.Reported`, shown in the tables' "reported by the
    authors" block); empty for none."""
    cls = _entry_class(model)
    reported = getattr(cls, "reported", ()) or ()
    reported = reported if isinstance(reported, (tuple, list)) else (reported,)
    return tuple(dict.fromkeys(str(r.cite) for r in reported if getattr(r, "cite", None)))


def keys_for(models, stats: bool = False) -> list[str]:
    """Every key a table of ``models`` cites: data and sleepbench first, then methods (and the
    sources of their authors' reported figures), statistics."""
    keys = list(DATA_KEYS)
    for m in models:
        for k in (*cite_keys(m), *reported_keys(m)):
            if k not in keys:
                keys.append(k)
    if stats:
        keys += [k for k in STATS_KEYS if k not in keys]
    return keys


def bibtex_for(models, stats: bool = False) -> str:
    """The BibTeX of :func:`keys_for` (plugins' own entries included), one blank line apart."""
    known = dict(BIBTEX)
    for m in models:
        if m not in ENTRIES:
            known.update(_plugin_bibtex(m))
    missing = [k for k in keys_for(models, stats) if k not in known]
    if missing:
        raise ValueError(f"no BibTeX for key(s) {missing}: an entry's `cite` or the `cite` of its "
                         "`reported` figures names a key this file lacks; a plugin gives the entry in "
                         "its class attribute cite = {'key': '@article{key, ...}'}")
    return "\n\n".join(known[k] for k in keys_for(models, stats)) + "\n"


def bibtex_all() -> str:
    """Every BibTeX entry sleepbench knows (the content of ``references.bib``)."""
    head = ("% References of sleepbench: the data, the methods of the built-in entries, the statistics\n"
            "% and sleepbench itself. Generated by `sleepbench cite --all`; edit\n"
            "% benchmark/reporting/bibliography.py, not this file.\n\n")
    return head + "\n\n".join(BIBTEX.values()) + "\n"


def bib_keys(text: str) -> list[str]:
    """The keys of the ``@type{key,`` entries in BibTeX ``text``."""
    return re.findall(r"@\w+\{([^,\s]+),", text)
