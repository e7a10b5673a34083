"""Leaf helpers with no knowledge of Ballena's domain: digests, references, tar, time, sizes."""
