"""The HCC gene panel that Neoadj-Net's gene branch reads (order matters: it is the input order)."""

HCC_PANEL_GENES: tuple[str, ...] = (
    "TP53",
    "CTNNB1",
    "TERT",  # promoter mutations
    "AXIN1",
    "ARID1A",
    "ARID2",
    "RB1",
    "PIK3CA",
    "KEAP1",
    "NFE2L2",
    "FGF19",  # amplification
    "VEGFA",  # amplification
    "CDKN2A",
    "TSC2",
)
