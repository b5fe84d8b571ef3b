"""Tests for the cluster stage."""
