"""Noto Sans Khmer (SIL Open Font License 1.1, see OFL.txt and ATTRIBUTION.md).

Shipped so that the Khmer report and its social PNGs are readable on a machine without any
Khmer font: the HTML report embeds a subset of it, matplotlib draws the PNGs with it.
"""
