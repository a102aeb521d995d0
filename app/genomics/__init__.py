"""Gene panels: VCF/BCF, MAF and CSV, normalised to per-gene alteration calls."""
