"""Drift stage: normalize, compare, attribute, find orphans."""
